/*
 * numtext.h - number text both ways, for JSON: the shortest decimal that
 * reads back to the same double or float, and a strict scanner of JSON
 * number tokens with correctly rounded values.
 */
#ifndef XENTD_NUMTEXT_H
#define XENTD_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* Shortest decimal text that reads back (strtod / strtof) to exactly v, in
 * JavaScript's Number#toString layout (see numtext.c); at most 32 bytes
 * plus NUL; returns the length. v must be finite. */
size_t xs_format_double(double v, char *buf);
size_t xs_format_float(float v, char *buf);

typedef enum xs_numscan {
  XS_NUM_OK = 0,     /* a complete token; *len bytes, *out filled        */
  XS_NUM_INCOMPLETE, /* the token runs to end and may continue (!final) */
  XS_NUM_INVALID,    /* not a JSON number; *len = bytes before the bad one */
  XS_NUM_RANGE       /* a real that overflows double, or an integer token
                        outside int64 */
} xs_numscan;

typedef struct xs_number {
  double d;   /* the value correctly rounded to double                  */
  int64_t i;  /* the value, when is_int                                 */
  int is_int; /* the token has neither fraction nor exponent            */
} xs_number;

/* Scans one JSON number token starting at p (p < end); stops at the first
 * byte that cannot continue it. `final`: end is the end of the input. */
xs_numscan xs_scan_number(const char *p, const char *end, int final,
                          xs_number *out, size_t *len);

#endif /* XENTD_NUMTEXT_H */
