/*
 * writer.c - printing a response body block by block (see writer.h).
 *
 * Every part is a sequence of tokens: a literal is one token; a vector of
 * n numbers is n tokens ("[x" then ",x" ...) and a closing "]"; a matrix
 * is one token per element with its row's brackets attached. A token is
 * at most XS__TOKEN_MAX bytes, so when the buffer has that much room it is
 * printed in place; otherwise it goes to `pend` and is copied out as room
 * comes, so that any buffer size works, down to one byte.
 */
#include "writer.h"

#include <float.h>
#include <math.h>
#include <string.h>

#include "codec_priv.h"
#include "numtext.h"

/* Room to print any token in place: a literal is at most 64 bytes; a
 * number token is at most 2 + 25 + 2 ("[[", the longest number text such
 * as -0.0000012345678901234567, "]]"), below XS__NUM_TOKEN; an element of
 * an XS_P_ND array at most 1 + 8 + 25 + 8 (",", its brackets), below
 * XS__ND_TOKEN. */
#define XS__TOKEN_MAX 64
#define XS__NUM_TOKEN 32
#define XS__ND_TOKEN 48

/* Everything but the parts, which are set as they are added (the array is
 * 70 KB; zeroing it was 2 % of an 8 x 10 request). */
void xs_writer_init(xs_writer *w, xs_precision precision) {
  memset((char *)w + sizeof w->parts, 0, sizeof *w - sizeof w->parts);
  w->precision = precision;
}

static xs_part *add(xs_writer *w, xs_part_kind kind) {
  if (w->nparts == XS_WRITER_PARTS) {
    w->overflow = 1;
    return NULL;
  }
  xs_part *p = &w->parts[w->nparts++];
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->f32 = w->f32;
  return p;
}

void xs_writer_lit(xs_writer *w, const char *text) {
  xs_part *p = add(w, XS_P_LIT);
  if (p != NULL)
    p->lit = text;
}

void xs_writer_num(xs_writer *w, double v) {
  xs_part *p = add(w, XS_P_NUM);
  if (p != NULL)
    p->num = v;
}

void xs_writer_int(xs_writer *w, int64_t v) {
  xs_part *p = add(w, XS_P_INT);
  if (p != NULL)
    p->i = v;
}

void xs_writer_vec(xs_writer *w, const double *v, size_t n) {
  xs_part *p = add(w, XS_P_VEC);
  if (p != NULL) {
    p->data = v;
    p->n = n;
  }
}

void xs_writer_mat(xs_writer *w, const double *m, size_t n, size_t cols) {
  xs_part *p = add(w, XS_P_MAT);
  if (p != NULL) {
    p->data = m;
    p->n = n;
    p->cols = cols;
  }
}

void xs_writer_imat(xs_writer *w, const int64_t *m, size_t n, size_t cols) {
  xs_part *p = add(w, XS_P_IMAT);
  if (p != NULL) {
    p->data = m;
    p->n = n;
    p->cols = cols;
  }
}

void xs_writer_raw(xs_writer *w, const void *bytes, size_t n) {
  xs_part *p = add(w, XS_P_RAW);
  if (p != NULL) {
    p->data = bytes;
    p->n = n;
  }
}

void xs_writer_nd(xs_writer *w, const void *data, int ints, int rank,
                  const size_t *dims) {
  xs_part *p = add(w, XS_P_ND);
  if (p == NULL)
    return;
  p->data = data;
  p->ints = ints;
  /* Up to the first zero dimension: each array there prints as "[]". */
  p->rank = 0;
  p->n = 1;
  for (int k = 0; k < rank && k < XS_MAX_RANK; k++) {
    p->dims[k] = dims[k];
    if (dims[k] == 0) {
      p->cols = 1; /* the elements are empty arrays */
      break;
    }
    p->rank++;
    p->n *= dims[k];
  }
  if (p->rank == 0)
    p->n = 1; /* the whole array is "[]" */
}

void xs_writer_ivec(xs_writer *w, const int64_t *v, size_t n) {
  xs_part *p = add(w, XS_P_IVEC);
  if (p != NULL) {
    p->data = v;
    p->n = n;
  }
}

static size_t num(const xs_writer *w, const xs_part *p, double v, char *out) {
  /* JSON has no NaN: an undefined figure (a metric of no rows) is null. */
  if (!isfinite(v)) {
    memcpy(out, "null", 4);
    return 4;
  }
  /* float32 text only where a float can hold the value; a double beyond
   * FLT_MAX prints in full rather than as an infinity. */
  if ((w->precision == XS_FLOAT32 || p->f32) && fabs(v) <= FLT_MAX)
    return xs_format_float((float)v, out);
  return xs_format_double(v, out);
}

/* Tokens of a part (see the file comment). */
static size_t tokens(const xs_part *p) {
  switch (p->kind) {
  case XS_P_LIT:
  case XS_P_NUM:
  case XS_P_INT:
    return 1;
  case XS_P_VEC:
  case XS_P_IVEC:
    return p->n + 1;
  case XS_P_MAT:
  case XS_P_IMAT:
    return p->n == 0 || p->cols == 0 ? p->n + 1 : p->n * p->cols;
  case XS_P_RAW:
    return p->n; /* bytes: read() copies them in runs */
  case XS_P_ND:
    return p->n;
  }
  return 0;
}

/* Does part p hold int64 elements (else doubles)? */
static int holds_ints(const xs_part *p) {
  return p->kind == XS_P_IVEC || p->kind == XS_P_IMAT ||
         (p->kind == XS_P_ND && p->ints);
}

/* Element k of part p's data: an int64 when ints, else a double. */
static size_t elem(const xs_writer *w, const xs_part *p, int ints, size_t k,
                   char *out) {
  if (ints)
    return xs__format_int(((const int64_t *)p->data)[k], out);
  return num(w, p, ((const double *)p->data)[k], out);
}

static size_t print_run(const xs_writer *w, const xs_part *p, size_t from,
                        size_t to, char *out);

/* Element k of an XS_P_ND part: the brackets that open before it, its
 * text and the brackets that close after it. */
static size_t nd_token(const xs_writer *w, const xs_part *p, size_t k,
                       char *out) {
  size_t o = 0;
  if (p->rank == 0) {
    memcpy(out, "[]", 2);
    return 2;
  }
  /* Trailing indices at 0 open arrays, at their end close them. */
  int opens = 0, closes = 0;
  size_t rest = k;
  int zeros = 1, lasts = 1;
  for (int d = p->rank - 1; d >= 1; d--) {
    const size_t i = rest % p->dims[d];
    rest /= p->dims[d];
    zeros = zeros && i == 0;
    lasts = lasts && i + 1 == p->dims[d];
    opens += zeros;
    closes += lasts;
  }
  if (k == 0)
    out[o++] = '[';
  else
    out[o++] = ',';
  for (int i = 0; i < opens; i++)
    out[o++] = '[';
  if (p->cols != 0) { /* the elements are empty arrays */
    out[o++] = '[';
    out[o++] = ']';
  } else {
    o += elem(w, p, p->ints, k, out + o);
  }
  for (int i = 0; i < closes; i++)
    out[o++] = ']';
  if (k + 1 == p->n)
    out[o++] = ']';
  return o;
}

/* Token k of part p into out (at least XS__TOKEN_MAX bytes). */
static size_t token(const xs_writer *w, const xs_part *p, size_t k, char *out) {
  size_t o = 0;
  switch (p->kind) {
  case XS_P_LIT: {
    size_t n = strlen(p->lit);
    if (n > XS__TOKEN_MAX)
      n = XS__TOKEN_MAX; /* literals are keys; longer is a bug */
    memcpy(out, p->lit, n);
    return n;
  }
  case XS_P_NUM:
    return num(w, p, p->num, out);
  case XS_P_INT:
    return xs__format_int(p->i, out);
  case XS_P_VEC:
  case XS_P_IVEC:
    if (k < p->n)
      return print_run(w, p, k, k + 1, out);
    if (p->n == 0)
      out[o++] = '[';
    out[o++] = ']';
    return o;
  case XS_P_RAW:
    out[0] = ((const char *)p->data)[k];
    return 1;
  case XS_P_ND:
    return nd_token(w, p, k, out);
  case XS_P_MAT:
  case XS_P_IMAT: {
    if (p->n == 0) {
      memcpy(out, "[]", 2);
      return 2;
    }
    if (p->cols == 0) { /* n empty rows: "[[]" ",[]" ... "]" */
      if (k == p->n) {
        out[0] = ']';
        return 1;
      }
      memcpy(out, k == 0 ? "[[]" : ",[]", 3);
      return 3;
    }
    return print_run(w, p, k, k + 1, out);
  }
  }
  return 0;
}

/* Tokens [from, to) of part p into out (room for XS__TOKEN_MAX bytes a
 * token); returns the bytes. The one layout of vectors' elements and of
 * non-empty matrices (token() prints one of them through it); a matrix
 * walks its rows without a division a number. */
static size_t print_run(const xs_writer *w, const xs_part *p, size_t from,
                        size_t to, char *out) {
  size_t o = 0;
  const int ints = holds_ints(p);
  if ((p->kind == XS_P_MAT || p->kind == XS_P_IMAT) && p->n > 0 &&
      p->cols > 0) {
    size_t r = from / p->cols, c = from % p->cols;
    for (size_t k = from; k < to; k++) {
      if (c == 0) {
        out[o++] = r == 0 ? '[' : ',';
        out[o++] = '[';
      } else {
        out[o++] = ',';
      }
      o += elem(w, p, ints, k, out + o);
      if (++c == p->cols) {
        out[o++] = ']';
        c = 0;
        if (++r == p->n)
          out[o++] = ']';
      }
    }
    return o;
  }
  if (p->kind == XS_P_VEC || p->kind == XS_P_IVEC) {
    const size_t last = to < p->n ? to : p->n;
    for (size_t k = from; k < last; k++) {
      out[o++] = k == 0 ? '[' : ',';
      o += elem(w, p, ints, k, out + o);
    }
    if (to > p->n) /* the closing token */
      o += token(w, p, p->n, out + o);
    return o;
  }
  for (size_t k = from; k < to; k++)
    o += token(w, p, k, out + o);
  return o;
}

size_t xs_writer_read(xs_writer *w, char *buf, size_t max) {
  size_t done = 0;
  while (done < max) {
    if (w->pend_off < w->pend_len) {
      size_t n = w->pend_len - w->pend_off;
      if (n > max - done)
        n = max - done;
      memcpy(buf + done, w->pend + w->pend_off, n);
      w->pend_off += n;
      done += n;
      continue;
    }
    if (w->at >= w->nparts)
      break;
    const xs_part *p = &w->parts[w->at];
    const size_t count = tokens(p);
    if (w->pos >= count) {
      w->at++;
      w->pos = 0;
      continue;
    }
    if (p->kind == XS_P_RAW) {
      size_t n = count - w->pos;
      if (n > max - done)
        n = max - done;
      memcpy(buf + done, (const char *)p->data + w->pos, n);
      w->pos += n;
      done += n;
      continue;
    }
    /* In place while there is room for any token. */
    size_t fit = (max - done) / XS__TOKEN_MAX;
    if (fit > count - w->pos)
      fit = count - w->pos;
    if (fit > 0) {
      done += print_run(w, p, w->pos, w->pos + fit, buf + done);
      w->pos += fit;
    }
    if (w->pos < count && max - done < XS__TOKEN_MAX) {
      w->pend_len = token(w, p, w->pos++, w->pend);
      w->pend_off = 0;
    }
  }
  return done;
}

uint64_t xs_writer_bound(const xs_writer *w) {
  uint64_t b = 0;
  for (int i = 0; i < w->nparts; i++) {
    const xs_part *p = &w->parts[i];
    if (p->kind == XS_P_LIT)
      b += strlen(p->lit);
    else if (p->kind == XS_P_RAW)
      b += p->n;
    else if (p->kind == XS_P_ND)
      b += (uint64_t)tokens(p) * XS__ND_TOKEN;
    else
      b += (uint64_t)tokens(p) * XS__NUM_TOKEN;
  }
  return b;
}
