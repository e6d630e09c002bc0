/*
 * oracle.h - the jansson reading of request bodies (oracle.c), which the
 * streaming parser is held to by tests/codec/test_parser.c and the
 * differential fuzzers.
 */
#ifndef XENT_TESTS_ORACLE_H
#define XENT_TESTS_ORACLE_H

#include <stddef.h>

#include "codec.h"

/* 0 with req filled (req->owned holds the arrays), or -1 with err set. */
int oracle_parse_loss(const char *body, size_t len, const xs_limits *lim,
                      xs_request *req, xs_error *err);
int oracle_parse_targets(const char *body, size_t len, const xs_limits *lim,
                         xs_request *req, xs_error *err);
/* Frees what an oracle_parse_* left in req. */
void oracle_request_free(xs_request *req);

#endif
