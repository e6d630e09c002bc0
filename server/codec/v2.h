/*
 * v2.h - the Open Inference Protocol reader (v2.c) as the codec's own
 * files see it; the HTTP layer reaches it through codec.h's xs_parser.
 */
#ifndef XENTD_V2_H
#define XENTD_V2_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"
#include "fields.h"

typedef struct v2_state v2_state;

v2_state *xs__v2_new(const xs_model *m, uint64_t header_len, uint64_t body_len,
                     const xs_limits *lim, xs_mem *mem);
int xs__v2_feed(v2_state *s, const char *data, size_t n);
int xs__v2_finish(v2_state *s, xs_request *req, xs_error *err);
void xs__v2_free(v2_state *s);

/* The field that the input tensor / the request parameter `name` of model
 * m fills (its v2 name in the field table), or XS_F_NONE. */
xs_field_id xs__v2_input_field(const char *name, const xs_model *m);
xs_field_id xs__v2_param_field(const char *name, const xs_model *m);

/* A double rounded to the nearest IEEE binary16 / bfloat16 (ties to even),
 * as bits. */
uint16_t xs__to_half(double x);
uint16_t xs__to_bfloat16(double x);

#endif /* XENTD_V2_H */
