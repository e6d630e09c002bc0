/*
 * writer.h - a response body as a list of parts (literal text, numbers,
 * vectors, matrices) printed on demand into the caller's buffers, so that
 * a large answer is never held as text: the HTTP layer asks for the next
 * block as the socket drains.
 */
#ifndef XENTD_WRITER_H
#define XENTD_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "codec.h"

enum { XS_WRITER_PARTS = 512 };

/* Numbers print as the shortest text that reads back to them; a NaN or an
 * infinity prints as null. */
typedef enum xs_part_kind {
  XS_P_LIT,  /* text, at most 64 bytes                               */
  XS_P_NUM,  /* one number                                           */
  XS_P_INT,  /* one integer                                          */
  XS_P_VEC,  /* [x, ...] of n doubles                                */
  XS_P_MAT,  /* [[x, ...], ...] of n rows of cols doubles            */
  XS_P_IVEC, /* [i, ...] of n int64                                  */
  XS_P_IMAT, /* [[i, ...], ...] of n rows of cols int64              */
  XS_P_RAW,  /* n bytes as they are (binary tensor data, JSON text)  */
  XS_P_ND    /* nested arrays of any rank: doubles, or int64 (ints)  */
} xs_part_kind;

typedef struct xs_part {
  xs_part_kind kind;
  const char *lit;
  double num;
  int64_t i;
  const void *data;
  size_t n, cols;
  int f32; /* numbers as float32 text */
  /* XS_P_ND: the dimensions (a zero one: the arrays above it print empty
   * ones); n is then the elements printed, one token each. */
  int rank, ints;
  size_t dims[XS_MAX_RANK];
} xs_part;

typedef struct xs_writer {
  xs_part parts[XS_WRITER_PARTS]; /* first: xs_writer_init skips it */
  int nparts;
  int overflow; /* a part was added past XS_WRITER_PARTS (a bug) */
  xs_precision precision;
  int f32;    /* parts added now print float32 text        */
  int at;     /* current part                              */
  size_t pos; /* next token of the current part            */
  char pend[64];
  size_t pend_len, pend_off;
} xs_writer;

_Static_assert(offsetof(xs_writer, parts) == 0,
               "xs_writer_init zeroes what follows the parts");

void xs_writer_init(xs_writer *w, xs_precision precision);
void xs_writer_lit(xs_writer *w, const char *text);
void xs_writer_num(xs_writer *w, double v);
void xs_writer_int(xs_writer *w, int64_t v);
void xs_writer_vec(xs_writer *w, const double *v, size_t n);
void xs_writer_mat(xs_writer *w, const double *m, size_t n, size_t cols);
void xs_writer_ivec(xs_writer *w, const int64_t *v, size_t n);
void xs_writer_imat(xs_writer *w, const int64_t *m, size_t n, size_t cols);
void xs_writer_raw(xs_writer *w, const void *bytes, size_t n);
/* A row-major array of rank dimensions (1 to XS_MAX_RANK) as nested JSON
 * arrays: doubles, or int64 when ints is set. */
void xs_writer_nd(xs_writer *w, const void *data, int ints, int rank,
                  const size_t *dims);

/* The next at most max bytes; 0 when the body is complete. */
size_t xs_writer_read(xs_writer *w, char *buf, size_t max);
/* An upper bound of the whole body's length. */
uint64_t xs_writer_bound(const xs_writer *w);

#endif /* XENTD_WRITER_H */
