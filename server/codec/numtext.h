/*
 * numtext.h - number text for JSON, both directions: the shortest decimal
 * that reads back to a double or float, and one JSON number token scanned
 * into its correctly rounded double (and int64 when it is an integer).
 *
 * Self-contained (C library only), no allocation, no global state: every
 * function is safe to call from any number of threads at once.
 */
#ifndef XENTD_CODEC_NUMTEXT_H
#define XENTD_CODEC_NUMTEXT_H

#include <stddef.h>
#include <stdint.h>

/* The value of a hexadecimal digit (either case), or -1: JSON's \uXXXX and
 * a URL's %HH. */
static inline int xs_hex_digit(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Bytes a formatted number may need in buf, NUL included. */
#define XS_NUMTEXT_BUF 33

/*
 * Shortest decimal text that reads back (strtod, round to nearest even) to
 * exactly v; of the shortest texts, the one nearest v (ties: even last
 * digit). When the value's neighbour below is nearer than the one above (v a
 * power of two), the digits are those of v rounded to the shortest length
 * at which that rounding reads back, so that they always equal "%.*e".
 *
 * Layout, JavaScript's Number#toString except for the upper bound: with e
 * the decimal exponent of the first digit, plain notation for -7 < e < 15
 * ("0.000001", "0.5", "123.25", "100", "-0"; integral values without ".0"),
 * otherwise "d.ddde-7" / "de+15" ("1e-7", "1.5e-7", "1e+15", "5e-324").
 * JavaScript switches at 1e21; 1e15 keeps every integer text inside int64,
 * which parsers such as jansson require.
 *
 * v: finite (the caller guarantees; NaN and infinities print "null").
 * buf: at least XS_NUMTEXT_BUF bytes; gets the text and a NUL (bytes after
 * the NUL, up to buf[32], may be overwritten). Returns the text's length
 * (at most 25).
 */
size_t xs_format_double(double v, char *buf);

/* The same for a float: shortest text that strtof reads back to v. */
size_t xs_format_float(float v, char *buf);

typedef enum xs_numscan {
  XS_NUM_OK = 0,     /* a complete token: *len bytes, *out filled           */
  XS_NUM_INCOMPLETE, /* the token runs to end and may continue (!final)     */
  XS_NUM_INVALID,    /* not a JSON number: *len = bytes before the bad one  */
  XS_NUM_RANGE       /* grammar fine, *len bytes, but a non-integer token
                        overflows double (1e400), or an integer token (no
                        '.', no exponent) is outside int64                  */
} xs_numscan;

typedef struct xs_number {
  double d;   /* the value correctly rounded to double (integers too)   */
  int64_t i;  /* the value, when is_int                                  */
  int is_int; /* the token has neither fraction nor exponent             */
} xs_number;

/*
 * Scans one JSON number token (RFC 8259:
 * -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?) starting at p, p < end.
 *
 * The token ends at the first byte that cannot continue it; the caller
 * judges that byte ("0x1" is the token "0" followed by 'x'). The one
 * exception is a digit right after a leading zero ("01"): INVALID with
 * *len = 1, as jansson reports it.
 *
 * final: end is the real end of the input. When !final and the token
 * reaches end, the answer is INCOMPLETE (more digits could follow) and *len
 * = end - p; the caller scans again from p once more text has arrived.
 *
 * Values are exactly glibc strtod's, for any number of digits: correct
 * rounding (ties to even), underflow to a subnormal or to 0 (not an error),
 * -0.0 for "-0" and "-0.0". As in jansson 2.14 (the service's oracle), a
 * real that overflows is RANGE, and so is an integer token outside int64;
 * for an integer token, i holds the value ("-0" gives i = 0, d = -0.0) and d
 * its correctly rounded double.
 *
 * out and len must not be NULL; *len is set on every answer. *out is
 * filled on XS_NUM_OK; on XS_NUM_RANGE only out->is_int is set (which of
 * the two limits the token broke: the parser's error message names it);
 * otherwise *out is untouched.
 */
xs_numscan xs_scan_number(const char *p, const char *end, int final,
                          xs_number *out, size_t *len);

#endif
