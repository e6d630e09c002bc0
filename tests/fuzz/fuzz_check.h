/*
 * fuzz_check.h - the one check both libFuzzer targets run on an input: parse
 * it as a request body through the public codec API (server/codec/codec.h), run
 * it when it parses, print the error body when it does not, and abort() on
 * any broken invariant so that libFuzzer records the input as a crash.
 */
#ifndef XENT_FUZZ_CHECK_H
#define XENT_FUZZ_CHECK_H

#include <stddef.h>
#include <stdint.h>

typedef enum fuzz_endpoint { FUZZ_LOSS = 0, FUZZ_TARGETS = 1 } fuzz_endpoint;

/* Small limits, so that no input makes a large allocation. */
enum { FUZZ_MAX_ELEMENTS = 4096, FUZZ_MAX_ROWS = 256 };

/* Runs one input through POST /v1/loss or /v1/targets' codec. Returns 0;
 * aborts (with a line on stderr) when an invariant does not hold:
 *  - success: the body is one JSON object (jansson, duplicates rejected)
 *    with no "nan"/"inf" text, and its shape matches the parsed problem;
 *  - failure: the HTTP status is 4xx, the message is one line, and the
 *    error body is {"error":{"code","message","field"}} with code equal to
 *    the table's non-empty code and message and field strings. */
int fuzz_check_request(const uint8_t *data, size_t size, fuzz_endpoint ep);

/* The metrics bodies: the first byte picks /v1/metrics, its merge or its
 * report (0, 1, 2 mod 3), the second where the rest is cut in two pieces.
 * The body whole and in two pieces must give the same answer byte for
 * byte (or the same error); an answer is a JSON object (the picture: an
 * SVG document), a refusal a 4xx with the one error body. The confusion
 * limit is small (8 classes). Returns 0; aborts otherwise. */
int fuzz_check_metrics(const uint8_t *data, size_t size);

/* The differential check of the streaming parser: the body whole, the
 * body in pieces (cut where the input's bytes say) and the jansson oracle
 * (tests/codec/oracle.c) must accept it alike and build the same request,
 * bit for bit (which, run with every output, prints the same body), or
 * refuse it with the same error kind and field. Returns 0; aborts
 * otherwise. */
int fuzz_check_diff(const uint8_t *data, size_t size, fuzz_endpoint ep);

#endif /* XENT_FUZZ_CHECK_H */
