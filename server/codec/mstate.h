/*
 * mstate.h - the JSON form of a whole-dataset metrics state, the one
 * thing a client carries between /v1/metrics answers and a merge:
 *
 *   {"version": 1, "n": rows seen, "counted": rows counted,
 *    "classes": C, "bins": B, "top_k": [k, ...], "confusion": bool,
 *    "per_class": bool, "ignore_index": i, "data": "<base64>"}
 *
 * `data` is libxent's portable serialization of the state (integer counts
 * and exact sums, xent_metrics_serialize) in base64 (RFC 4648, padded);
 * everything else is readable for people and checked against `data` when
 * a state is read. One table of these members (mstate.c) drives the
 * reader, the writer and the description api/openapi.yaml is checked
 * against. Nothing of a state is kept by the server.
 */
#ifndef XENTD_MSTATE_H
#define XENTD_MSTATE_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "json.h"

enum { XS_MSTATE_VERSION = 1 };

/* The JSON text of state st (rows seen: rows) in memory taken from mem:
 * *text (free with xs__free(mem, *text, *size)), *len bytes of it. 0, or
 * -1 with err set. */
int xs_mstate_write(const xent_metrics *st, uint64_t rows, xs_mem *mem,
                    char **text, size_t *len, size_t *size, xs_error *err);

/* A state read: its memory (state_size bytes from the reader's mem) and
 * its rows. */
typedef struct xs_mstate {
  xent_metrics *state;
  size_t size;
  uint64_t rows;
} xs_mstate;

void xs_mstate_free(xs_mstate *s, xs_mem *mem);

/*
 * The reader of one state object, fed the tokenizer's events from the
 * state's opening brace on (exclusive) to its closing brace (exclusive):
 * request.c forwards those of each element of "states", and
 * xs_mstate_parse those of a whole document. Errors name the member
 * (field "classes", "data", "" for the object); the caller prefixes its
 * place ("states[3]").
 */
typedef struct xs_mstate_reader xs_mstate_reader;

/* j: the tokenizer, whose byte sink takes `data`; mem: the budget; lim
 * (NULL: none): a state of more classes than lim->max_elements, or with a
 * confusion matrix of more than lim->max_confusion_classes, is refused
 * (413) before its memory is taken. */
xs_mstate_reader *xs_mstate_reader_new(xs_json *j, xs_mem *mem,
                                       const xs_limits *lim);
void xs_mstate_reader_free(xs_mstate_reader *r);
/* A new state object begins: forget the last one. */
void xs_mstate_reader_begin(xs_mstate_reader *r);
xs_json_sink *xs_mstate_reader_open(xs_mstate_reader *r, int is_object);
void xs_mstate_reader_close(xs_mstate_reader *r, int is_object);
void xs_mstate_reader_key(xs_mstate_reader *r, const char *s, size_t len);
void xs_mstate_reader_scalar(xs_mstate_reader *r, const xs_json_value *v);
/* The object ended: its state is merged into *acc (owned by the caller;
 * the first state makes it), from the state's bytes, in the time and
 * memory of those bytes (xent_metrics_merge_serialized). 0, or -1 with err
 * (field relative to the object, message without the place; `where`,
 * "states[3]", is put before field and message): the state's own faults,
 * then a configuration that differs from the first state's (400 naming
 * `where`.field of the first difference: classes, bins, top_k,
 * confusion, per_class, ignore_index), or counts past 2^63 - 1 (422). On
 * failure *acc may hold part of the state: the request is refused. */
int xs_mstate_reader_end(xs_mstate_reader *r, const char *where, xs_mstate *acc,
                         xs_error *err);

/* A whole state document (a BYTES element of the Open Inference
 * Protocol), merged into *acc as by xs_mstate_reader_end; its place
 * `where`. */
int xs_mstate_parse(const char *text, size_t len, const char *where,
                    xs_mem *mem, const xs_limits *lim, xs_mstate *acc,
                    xs_error *err);

/* A metrics request (req->body XS_BODY_METRICS or XS_BODY_MERGE) after
 * its fields are bound: a merge's states (`merged`, emptied) move into
 * req, its options must be the states' (400 naming the option), and a
 * confusion matrix of more than max_confusion_classes is 413. */
int xs__metrics_finish(xs_request *req, xs_mstate *merged,
                       size_t max_confusion_classes, xs_error *err);

/* The members of a state as a JSON array of {"name", "type", "required",
 * "doc"} (api/openapi.yaml's MetricsState is checked against it). */
int xs_mstate_describe(xs_buf *out);

#endif /* XENTD_MSTATE_H */
