/*
 * report.c - the SVG picture of whole-dataset metrics (see report.h).
 *
 * Every element is printed by put() from a format of this file. Its few
 * conversions have a longest text each (fmt_bound), so the bound is the
 * same formats counted as often as they can appear: per bin, per class,
 * per cell, plus one constant for the frame (titles, axes, legends), whose
 * worst case the tests measure. Numbers are printed by hand, not by printf,
 * so that no locale can change a byte.
 */
#include "report.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"

/* The page, in SVG user units (pixels). */
enum {
  W_ONE = 560,  /* width with the reliability diagram alone     */
  W_TWO = 1100, /* width with the heat map beside it            */
  HEIGHT = 660,
  PX = 70, /* the reliability plot: left, top, width, height */
  PY = 80,
  PW = 400,
  PH = 400,
  HY = 512, /* rows per bin: top and height, same x as above  */
  HH = 80,
  MX = 650, /* the heat map: left, top, side                  */
  MY = 80,
  MS = 400
};

/* Bins drawn with a tooltip, with edges between bars, with their row count
 * printed above the histogram. */
#define TOOLTIP_BINS 50
#define STROKE_BINS 100
#define LABEL_BINS 16
/* Classes whose heat map may print counts in its cells: a cell of 400 / C
 * units holds text of at least 6 units when C <= 33. */
#define COUNT_CLASSES 33

/* Longest text of each conversion of put(). */
#define COORD_TEXT 9 /* %p: -99999.99                                   */
#define FIG_TEXT 11  /* %g: -1.234e-300                                 */
#define U64_TEXT 20  /* %u: 18446744073709551615                        */
#define INT_TEXT 11  /* %d: -2147483648                                 */
#define RGB_TEXT 7   /* %c: #rrggbb                                     */

/* Bytes of everything drawn once (titles, axes, ticks, legends, frames,
 * captions, the colour scale); the tests measure its worst case. */
#define FIXED_BOUND 12288

/* ------------------------------------------------------------- numbers -- */

/* Decimal text of u (at most 20 bytes); returns the length. */
static size_t fmt_u64(uint64_t u, char *buf) {
  char rev[20];
  size_t r = 0;
  do {
    rev[r++] = (char)('0' + u % 10);
    u /= 10;
  } while (u > 0);
  size_t n = 0;
  while (r > 0)
    buf[n++] = rev[--r];
  return n;
}

/* v to 2 decimals, trailing zeros dropped ("70", "123.4", "0.04"), within
 * +-99999.99; not finite prints 0. A coordinate is never near the limits. */
static size_t fmt_coord(double v, char *buf) {
  if (!isfinite(v))
    v = 0;
  if (v > 99999.99)
    v = 99999.99;
  if (v < -99999.99)
    v = -99999.99;
  const double c = floor(fabs(v) * 100 + 0.5);
  const uint64_t cents = (uint64_t)c;
  size_t n = 0;
  if (v < 0 && cents > 0)
    buf[n++] = '-';
  n += fmt_u64(cents / 100, buf + n);
  const unsigned frac = (unsigned)(cents % 100);
  if (frac != 0) {
    buf[n++] = '.';
    buf[n++] = (char)('0' + frac / 10);
    if (frac % 10 != 0)
      buf[n++] = (char)('0' + frac % 10);
  }
  return n;
}

/* v to 4 significant digits, laid out as printf's %.4g: fixed notation for
 * exponents -4 to 3, else d.ddde+XX; trailing zeros dropped. Magnitudes
 * below 1e-300 and values not finite print 0. At most 11 bytes. */
static size_t fmt_fig(double v, char *buf) {
  size_t n = 0;
  double a = fabs(v);
  if (!isfinite(v) || a < 1e-300) {
    buf[0] = '0';
    return 1;
  }
  if (v < 0)
    buf[n++] = '-';
  /* m = round(a * 10^(3 - e)) in [1000, 9999]; log10 may be one off near
   * a power of ten, so e is corrected from m. */
  int e = (int)floor(log10(a));
  double s = 0;
  for (int tries = 0; tries < 3; tries++) {
    s = floor(a * pow(10, 3 - e) + 0.5);
    if (s >= 10000)
      e++;
    else if (s < 1000)
      e--;
    else
      break;
  }
  if (s >= 10000 || s < 1000) /* not reached for finite a >= 1e-300 */
    s = s >= 10000 ? 9999 : 1000;
  const unsigned m = (unsigned)s;
  char d[4] = {(char)('0' + m / 1000), (char)('0' + m / 100 % 10),
               (char)('0' + m / 10 % 10), (char)('0' + m % 10)};
  int nd = 4;
  while (nd > 1 && d[nd - 1] == '0')
    nd--;
  if (e < -4 || e >= 4) {
    buf[n++] = d[0];
    if (nd > 1) {
      buf[n++] = '.';
      for (int i = 1; i < nd; i++)
        buf[n++] = d[i];
    }
    buf[n++] = 'e';
    buf[n++] = e < 0 ? '-' : '+';
    const unsigned ae = (unsigned)(e < 0 ? -e : e);
    if (ae >= 100)
      buf[n++] = (char)('0' + ae / 100);
    buf[n++] = (char)('0' + ae / 10 % 10);
    buf[n++] = (char)('0' + ae % 10);
  } else if (e >= 0) {
    for (int i = 0; i <= e; i++)
      buf[n++] = d[i];
    if (nd > e + 1) {
      buf[n++] = '.';
      for (int i = e + 1; i < nd; i++)
        buf[n++] = d[i];
    }
  } else {
    buf[n++] = '0';
    buf[n++] = '.';
    for (int i = 0; i < -e - 1; i++)
      buf[n++] = '0';
    for (int i = 0; i < nd; i++)
      buf[n++] = d[i];
  }
  return n;
}

/* -------------------------------------------------------------- output -- */

typedef struct svg {
  xs_buf *out;
  int failed;
} svg;

/*
 * Appends fmt with its conversions: %p a coordinate (double), %g a figure
 * (double), %u a count (uint64_t), %d an int, %c a colour (unsigned
 * 0xRRGGBB, as #rrggbb), %% a percent sign. The literal text of every
 * format is markup and text written in this file, already XML-escaped;
 * conversions print only digits, '.', '-', '+', 'e' and '#'.
 */
static void put(svg *s, const char *fmt, ...) {
  static const char hex[] = "0123456789abcdef";
  if (s->failed)
    return;
  va_list ap;
  va_start(ap, fmt);
  const char *lit = fmt;
  for (const char *f = fmt; *f != '\0'; f++) {
    if (*f != '%')
      continue;
    if (xs_buf_append(s->out, lit, (size_t)(f - lit)) != 0)
      s->failed = 1;
    char tmp[32];
    size_t n = 0;
    f++;
    switch (*f) {
    case 'p':
      n = fmt_coord(va_arg(ap, double), tmp);
      break;
    case 'g':
      n = fmt_fig(va_arg(ap, double), tmp);
      break;
    case 'u':
      n = fmt_u64(va_arg(ap, uint64_t), tmp);
      break;
    case 'd': {
      const int i = va_arg(ap, int);
      if (i < 0)
        tmp[n++] = '-';
      n += fmt_u64(i < 0 ? 0u - (uint64_t)(int64_t)i : (uint64_t)i, tmp + n);
      break;
    }
    case 'c': {
      const unsigned rgb = va_arg(ap, unsigned);
      tmp[n++] = '#';
      for (int shift = 20; shift >= 0; shift -= 4)
        tmp[n++] = hex[(rgb >> shift) & 15];
      break;
    }
    default: /* '%' itself; a format of this file has no other */
      tmp[n++] = '%';
      if (*f == '\0')
        f--;
      break;
    }
    if (xs_buf_append(s->out, tmp, n) != 0)
      s->failed = 1;
    lit = f + 1;
  }
  if (xs_buf_append(s->out, lit, strlen(lit)) != 0)
    s->failed = 1;
  va_end(ap);
}

/* The longest text put() can make of fmt. */
static size_t fmt_bound(const char *fmt) {
  size_t n = 0;
  for (const char *f = fmt; *f != '\0'; f++) {
    if (*f != '%') {
      n++;
      continue;
    }
    switch (f[1]) {
    case 'p':
      n += COORD_TEXT;
      break;
    case 'g':
      n += FIG_TEXT;
      break;
    case 'u':
      n += U64_TEXT;
      break;
    case 'd':
      n += INT_TEXT;
      break;
    case 'c':
      n += RGB_TEXT;
      break;
    default:
      n += 1;
      break;
    }
    if (f[1] != '\0')
      f++;
  }
  return n;
}

/* ------------------------------------------------------------- formats -- */

/* One bin: its bar (with a tooltip when the bins are few enough to point
 * at), its gap, its histogram bar and the row count above it. */
static const char BAR[] =
    "<rect x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\"/>\n";
static const char BAR_TIP_FIRST[] =
    "<rect x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\"><title>bin %u "
    "[%g, %g]: %u rows, accuracy %g, mean confidence %g</title></rect>\n";
static const char BAR_TIP[] =
    "<rect x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\"><title>bin %u "
    "(%g, %g]: %u rows, accuracy %g, mean confidence %g</title></rect>\n";
static const char COUNT_LABEL[] = "<text x=\"%p\" y=\"%p\">%u</text>\n";

/* The heat map: an empty row, a cell, its count; a class label. */
static const char CELL[] =
    "<rect x=\"%p\" y=\"%p\" width=\"%p\" height=\"%p\" fill=\"%c\"/>\n";
static const char CELL_COUNT[] =
    "<text x=\"%p\" y=\"%p\" fill=\"%c\">%u</text>\n";
static const char CLASS_LABEL[] = "<text x=\"%p\" y=\"%p\">%u</text>\n";

size_t xs_report_svg_bound(const xent_metrics_config *cfg) {
  const size_t bins = cfg->bins;
  const size_t tip = fmt_bound(BAR_TIP) > fmt_bound(BAR_TIP_FIRST)
                         ? fmt_bound(BAR_TIP)
                         : fmt_bound(BAR_TIP_FIRST);
  size_t per_bin = tip + 2 * fmt_bound(BAR);
  if (bins > TOOLTIP_BINS)
    per_bin = 3 * fmt_bound(BAR);
  if (bins <= LABEL_BINS)
    per_bin += fmt_bound(COUNT_LABEL);
  if (bins > (SIZE_MAX - FIXED_BOUND) / per_bin)
    return SIZE_MAX;
  size_t total = FIXED_BOUND + bins * per_bin;
  if (cfg->confusion && cfg->classes >= 1 &&
      cfg->classes <= XS_REPORT_MAX_CLASSES) {
    const size_t c = cfg->classes;
    /* Per row an empty-row rectangle, per cell a rectangle (and its count
     * when counts print), per class two labels. */
    size_t per_cell = fmt_bound(CELL);
    if (c <= COUNT_CLASSES)
      per_cell += fmt_bound(CELL_COUNT);
    const size_t heat =
        c * fmt_bound(CELL) + c * c * per_cell + 2 * c * fmt_bound(CLASS_LABEL);
    if (total > SIZE_MAX - heat)
      return SIZE_MAX;
    total += heat;
  }
  return total;
}

/* ------------------------------------------------------------- drawing -- */

static double clamp01(double v) {
  if (!(v >= 0)) /* also NaN */
    return 0;
  return v > 1 ? 1 : v;
}

/* The Blues-like scale of the heat map: t in [0, 1] from near white
 * through mid blue to dark blue, linear in RGB between the three. */
static unsigned ramp(double t) {
  static const double stop[3][3] = {
      {247, 251, 255}, {107, 174, 214}, {8, 48, 107}};
  t = clamp01(t);
  const int k = t < 0.5 ? 0 : 1;
  const double u = t < 0.5 ? t * 2 : (t - 0.5) * 2;
  unsigned rgb = 0;
  for (int i = 0; i < 3; i++) {
    const double c = stop[k][i] + (stop[k + 1][i] - stop[k][i]) * u;
    rgb = (rgb << 8) | (unsigned)floor(c + 0.5);
  }
  return rgb;
}

/* Is bin b drawn, and its figures, clamped into [0, 1]. */
static int bin_of(const xent_metrics_result *r, size_t b, double *acc,
                  double *conf) {
  if (r->reliability == NULL)
    return 0;
  const xent_metrics_bin *bin = &r->reliability[b];
  if (bin->empty || bin->count == 0)
    return 0;
  *acc = clamp01(bin->accuracy);
  *conf = clamp01(bin->mean_confidence);
  return 1;
}

/* The title, the figures under it and the legend. */
static void draw_titles(svg *s, const xent_metrics_config *cfg,
                        const xent_metrics_result *r, int width) {
  const uint64_t bins = cfg->bins;
  put(s,
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
      "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n",
      width, HEIGHT, width, HEIGHT);
  /* "1 bin", "15 bins" */
  const char *const unit_title =
      bins == 1 ? " bin)</title>\n" : " bins)</title>\n";
  const char *const unit_text =
      bins == 1 ? " bin)</text>\n" : " bins)</text>\n";
  if (r->defined) {
    put(s, "<title>Reliability diagram: ECE %g (N = %u, %u", r->ece, r->counted,
        bins);
    put(s, unit_title);
    put(s, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width,
        HEIGHT);
    put(s,
        "<text x=\"20\" y=\"28\" font-size=\"16\" font-weight=\"bold\">"
        "Reliability diagram: ECE %g (N = %u, %u",
        r->ece, r->counted, bins);
    put(s, unit_text);
    put(s,
        "<text x=\"20\" y=\"47\" font-size=\"12\" fill=\"#333333\">"
        "accuracy %g, mean confidence %g, MCE %g, ECE-L2 %g</text>\n",
        r->accuracy, r->mean_confidence, r->mce, r->ece_l2);
  } else {
    put(s, "<title>Reliability diagram: no counted rows (N = 0, %u", bins);
    put(s, unit_title);
    put(s, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width,
        HEIGHT);
    put(s,
        "<text x=\"20\" y=\"28\" font-size=\"16\" font-weight=\"bold\">"
        "Reliability diagram: no counted rows (N = 0, %u",
        bins);
    put(s, unit_text);
    put(s, "<text x=\"20\" y=\"47\" font-size=\"12\" fill=\"#333333\">"
           "every figure is undefined until a row is counted</text>\n");
  }
  put(s, "<g id=\"legend\">\n"
         "<rect x=\"70\" y=\"57\" width=\"12\" height=\"10\" "
         "fill=\"#4c78a8\"/>\n"
         "<text x=\"87\" y=\"66\">accuracy of the bin</text>\n"
         "<rect x=\"200\" y=\"57\" width=\"12\" height=\"10\" fill=\"#e45756\" "
         "fill-opacity=\"0.5\" stroke=\"#c44e4a\" stroke-width=\"0.5\"/>\n"
         "<text x=\"217\" y=\"66\">gap to its mean confidence</text>\n"
         "<line x1=\"380\" y1=\"62\" x2=\"400\" y2=\"62\" stroke=\"#555555\" "
         "stroke-dasharray=\"4 3\"/>\n"
         "<text x=\"405\" y=\"66\">perfect calibration</text>\n"
         "</g>\n");
}

/* Grid, ticks and labels of [0, 1] x [0, 1] and the rows-per-bin strip. */
static void draw_axes(svg *s) {
  put(s, "<g stroke=\"#e6e6e6\">\n");
  for (int i = 1; i < 5; i++) {
    const double x = PX + PW * (i / 5.0);
    const double y = PY + PH * (1 - i / 5.0);
    put(s,
        "<line x1=\"%p\" y1=\"%d\" x2=\"%p\" y2=\"%d\"/>\n"
        "<line x1=\"%d\" y1=\"%p\" x2=\"%d\" y2=\"%p\"/>\n",
        x, PY, x, PY + PH, PX, y, PX + PW, y);
  }
  put(s, "</g>\n<g stroke=\"#555555\">\n");
  for (int i = 0; i <= 5; i++) {
    const double x = PX + PW * (i / 5.0);
    const double y = PY + PH * (1 - i / 5.0);
    put(s,
        "<line x1=\"%p\" y1=\"%d\" x2=\"%p\" y2=\"%d\"/>\n"
        "<line x1=\"%p\" y1=\"%d\" x2=\"%p\" y2=\"%d\"/>\n"
        "<line x1=\"%d\" y1=\"%p\" x2=\"%d\" y2=\"%p\"/>\n",
        x, PY + PH, x, PY + PH + 4, x, HY + HH, x, HY + HH + 4, PX - 4, y, PX,
        y);
  }
  put(s, "</g>\n<g text-anchor=\"middle\">\n");
  for (int i = 0; i <= 5; i++) {
    const double x = PX + PW * (i / 5.0);
    put(s,
        "<text x=\"%p\" y=\"%d\">%g</text>\n"
        "<text x=\"%p\" y=\"%d\">%g</text>\n",
        x, PY + PH + 16, i / 5.0, x, HY + HH + 16, i / 5.0);
  }
  put(s, "</g>\n<g text-anchor=\"end\">\n");
  for (int i = 0; i <= 5; i++)
    put(s, "<text x=\"%d\" y=\"%p\">%g</text>\n", PX - 7,
        PY + PH * (1 - i / 5.0) + 4, i / 5.0);
  put(s,
      "</g>\n"
      "<text transform=\"translate(28 %d) rotate(-90)\" text-anchor=\"middle\" "
      "font-size=\"12\">accuracy</text>\n"
      "<text transform=\"translate(28 %d) rotate(-90)\" text-anchor=\"middle\" "
      "font-size=\"12\">rows (log)</text>\n"
      "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">"
      "confidence (the largest probability of a row)</text>\n",
      PY + PH / 2, HY + HH / 2, PX + PW / 2, HY + HH + 36);
}

/* The bars, the gaps, the diagonal, the rows per bin. */
static void draw_bins(svg *s, const xent_metrics_config *cfg,
                      const xent_metrics_result *r) {
  const size_t bins = cfg->bins;
  const double w = bins > 0 ? (double)PW / (double)bins : 0;
  double acc, conf;

  put(s, bins <= STROKE_BINS ? "<g id=\"bars\" fill=\"#4c78a8\" "
                               "stroke=\"#ffffff\" stroke-width=\"0.5\">\n"
                             : "<g id=\"bars\" fill=\"#4c78a8\">\n");
  for (size_t b = 0; b < bins; b++) {
    if (!bin_of(r, b, &acc, &conf))
      continue;
    const double x = PX + PW * ((double)b / (double)bins);
    const double y = PY + PH * (1 - acc);
    const double h = PH * acc;
    if (bins > TOOLTIP_BINS) {
      put(s, BAR, x, y, w, h);
    } else {
      const xent_metrics_bin *bin = &r->reliability[b];
      put(s, b == 0 ? BAR_TIP_FIRST : BAR_TIP, x, y, w, h, (uint64_t)b,
          (double)b / (double)bins, (double)(b + 1) / (double)bins, bin->count,
          acc, conf);
    }
  }
  put(s, bins <= STROKE_BINS
             ? "</g>\n<g id=\"gaps\" fill=\"#e45756\" fill-opacity=\"0.5\" "
               "stroke=\"#c44e4a\" stroke-width=\"0.5\">\n"
             : "</g>\n<g id=\"gaps\" fill=\"#e45756\" fill-opacity=\"0.5\">\n");
  for (size_t b = 0; b < bins; b++) {
    if (!bin_of(r, b, &acc, &conf) || acc == conf)
      continue;
    const double hi = acc > conf ? acc : conf;
    const double lo = acc > conf ? conf : acc;
    put(s, BAR, PX + PW * ((double)b / (double)bins), PY + PH * (1 - hi), w,
        PH * (hi - lo));
  }
  put(s,
      "</g>\n"
      "<line id=\"diagonal\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
      "stroke=\"#555555\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n"
      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
      "stroke=\"#555555\"/>\n"
      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
      "stroke=\"#555555\"/>\n",
      PX, PY + PH, PX + PW, PY, PX, PY, PW, PH, PX, HY, PW, HH);

  /* Rows per bin, log scale: height HH log10(1 + n) / log10(1 + max n). */
  uint64_t most = 0;
  for (size_t b = 0; b < bins; b++)
    if (bin_of(r, b, &acc, &conf) && r->reliability[b].count > most)
      most = r->reliability[b].count;
  if (most == 0) {
    put(s, "<g id=\"counts\"></g>\n");
    return;
  }
  const double top = log10(1 + (double)most);
  /* Decades below the largest count, labelled when they are far enough
   * apart (and from the largest count's label). */
  const int label_decades = HH / top >= 12;
  put(s, "<g stroke=\"#e6e6e6\">\n");
  double decade = 10;
  for (int k = 1; k < 20 && decade < (double)most; k++, decade *= 10)
    put(s, "<line x1=\"%d\" y1=\"%p\" x2=\"%d\" y2=\"%p\"/>\n", PX,
        HY + HH - HH * log10(1 + decade) / top, PX + PW,
        HY + HH - HH * log10(1 + decade) / top);
  put(s,
      "</g>\n<g text-anchor=\"end\">\n<text x=\"%d\" y=\"%d\">0</text>\n"
      "<text x=\"%d\" y=\"%d\">%u</text>\n",
      PX - 7, HY + HH + 4, PX - 7, HY + 4, most);
  decade = 10;
  for (int k = 1; k < 20 && decade < (double)most && label_decades;
       k++, decade *= 10) {
    const double y = HY + HH - HH * log10(1 + decade) / top;
    if (y - HY >= 12)
      put(s, "<text x=\"%d\" y=\"%p\">%g</text>\n", PX - 7, y + 4, decade);
  }
  put(s, "</g>\n<g id=\"counts\" fill=\"#9e9e9e\">\n");
  for (size_t b = 0; b < bins; b++) {
    if (!bin_of(r, b, &acc, &conf))
      continue;
    const double h = HH * log10(1 + (double)r->reliability[b].count) / top;
    put(s, BAR, PX + PW * ((double)b / (double)bins), HY + HH - h, w, h);
  }
  put(s, "</g>\n");
  if (bins > LABEL_BINS)
    return;
  put(s, "<g id=\"count-labels\" font-size=\"9\" text-anchor=\"middle\" "
         "fill=\"#333333\">\n");
  for (size_t b = 0; b < bins; b++) {
    if (!bin_of(r, b, &acc, &conf))
      continue;
    const uint64_t n = r->reliability[b].count;
    const double h = HH * log10(1 + (double)n) / top;
    put(s, COUNT_LABEL, PX + PW * ((double)b + 0.5) / (double)bins,
        HY + HH - h - 3, n);
  }
  put(s, "</g>\n");
}

/* Digits of u. */
static int digits(uint64_t u) {
  int n = 1;
  while (u >= 10) {
    u /= 10;
    n++;
  }
  return n;
}

/* The confusion matrix, rows normalised, beside the diagram. */
static void draw_confusion(svg *s, size_t classes, const uint64_t *m) {
  const double cell = (double)MS / (double)classes;
  uint64_t largest = 0;
  for (size_t i = 0; i < classes * classes; i++)
    if (m[i] > largest)
      largest = m[i];
  /* Counts fit when about 0.6 em a digit spans at most the cell. */
  double font = cell * 0.5;
  if (font > 12)
    font = 12;
  if (font > cell * 1.6 / digits(largest))
    font = cell * 1.6 / digits(largest);
  const int show_counts = classes <= COUNT_CLASSES && font >= 6;

  put(s,
      "<text x=\"%d\" y=\"%d\" font-size=\"12\" font-weight=\"bold\">"
      "Confusion matrix (%u classes)</text>\n"
      "<g id=\"confusion\">\n"
      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n"
      "<g id=\"confusion-empty-rows\" fill=\"#e0e0e0\">\n",
      MX, 66, (uint64_t)classes, MX, MY, MS, MS);
  for (size_t i = 0; i < classes; i++) {
    uint64_t total = 0;
    for (size_t j = 0; j < classes; j++)
      total += m[i * classes + j];
    if (total == 0)
      put(s, BAR, (double)MX, MY + cell * (double)i, (double)MS, cell);
  }
  put(s, "</g>\n<g id=\"confusion-cells\">\n");
  for (size_t i = 0; i < classes; i++) {
    uint64_t total = 0;
    for (size_t j = 0; j < classes; j++)
      total += m[i * classes + j];
    for (size_t j = 0; j < classes; j++) {
      const uint64_t n = m[i * classes + j];
      if (n == 0 || total == 0)
        continue;
      put(s, CELL, MX + cell * (double)j, MY + cell * (double)i, cell, cell,
          ramp((double)n / (double)total));
    }
  }
  put(s, "</g>\n");
  if (show_counts) {
    put(s,
        "<g id=\"confusion-counts\" font-size=\"%p\" "
        "text-anchor=\"middle\">\n",
        font);
    for (size_t i = 0; i < classes; i++) {
      uint64_t total = 0;
      for (size_t j = 0; j < classes; j++)
        total += m[i * classes + j];
      for (size_t j = 0; j < classes; j++) {
        const uint64_t n = m[i * classes + j];
        if (n == 0 || total == 0)
          continue;
        const double t = clamp01((double)n / (double)total);
        put(s, CELL_COUNT, MX + cell * ((double)j + 0.5),
            MY + cell * ((double)i + 0.5) + font * 0.35,
            t > 0.55 ? 0xffffffu : 0x000000u, n);
      }
    }
    put(s, "</g>\n");
  }
  put(s,
      "</g>\n"
      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
      "stroke=\"#555555\"/>\n",
      MX, MY, MS, MS);

  /* Class labels: every class when a cell is 12 units or more, else every
   * fifth. */
  const size_t step = cell >= 12 ? 1 : 5;
  put(s, "<g font-size=\"10\" text-anchor=\"middle\">\n");
  for (size_t j = 0; j < classes; j += step)
    put(s, CLASS_LABEL, MX + cell * ((double)j + 0.5), (double)(MY + MS + 14),
        (uint64_t)j);
  put(s, "</g>\n<g font-size=\"10\" text-anchor=\"end\">\n");
  for (size_t i = 0; i < classes; i += step)
    put(s, CLASS_LABEL, (double)(MX - 5), MY + cell * ((double)i + 0.5) + 3.5,
        (uint64_t)i);
  put(s,
      "</g>\n"
      "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"12\">"
      "predicted</text>\n"
      "<text transform=\"translate(%d %d) rotate(-90)\" "
      "text-anchor=\"middle\" font-size=\"12\">true label</text>\n",
      MX + MS / 2, MY + MS + 32, MX - 30, MY + MS / 2);

  /* The colour scale and the caption. */
  put(s, "<g id=\"colour-scale\">\n");
  for (int k = 0; k < 10; k++)
    put(s, "<rect x=\"%d\" y=\"%d\" width=\"20\" height=\"12\" fill=\"%c\"/>\n",
        MX + 20 * k, MY + MS + 46, ramp((k + 0.5) / 10));
  put(s,
      "<rect x=\"%d\" y=\"%d\" width=\"200\" height=\"12\" fill=\"none\" "
      "stroke=\"#555555\" stroke-width=\"0.5\"/>\n"
      "<g text-anchor=\"middle\">\n"
      "<text x=\"%d\" y=\"%d\">0</text>\n"
      "<text x=\"%d\" y=\"%d\">0.5</text>\n"
      "<text x=\"%d\" y=\"%d\">1</text>\n"
      "</g>\n"
      "<text x=\"%d\" y=\"%d\">share of the row</text>\n"
      "</g>\n"
      "<text x=\"%d\" y=\"%d\" fill=\"#333333\">Rows: the true label; "
      "columns: the prediction; colour: the cell's share</text>\n",
      MX, MY + MS + 46, MX, MY + MS + 72, MX + 100, MY + MS + 72, MX + 200,
      MY + MS + 72, MX + 208, MY + MS + 56, MX, MY + MS + 96);
  put(s,
      show_counts
          ? "<text x=\"%d\" y=\"%d\" fill=\"#333333\">of its row "
            "(row-normalised); numbers: counts; grey row: no row has that "
            "label.</text>\n"
          : "<text x=\"%d\" y=\"%d\" fill=\"#333333\">of its row "
            "(row-normalised); grey row: no row has that label.</text>\n",
      MX, MY + MS + 112);
}

int xs_report_svg(xs_buf *out, const xent_metrics_config *cfg,
                  const xent_metrics_result *r) {
  if (out == NULL || cfg == NULL || r == NULL)
    return -1;
  const size_t start = out->len;
  if (xs_buf_reserve(out, xs_report_svg_bound(cfg)) != 0)
    return -1;
  svg s = {out, 0};
  const size_t classes = cfg->classes;
  const int heat = cfg->confusion && r->confusion != NULL && classes >= 1 &&
                   classes <= XS_REPORT_MAX_CLASSES;

  draw_titles(&s, cfg, r, heat ? W_TWO : W_ONE);
  draw_axes(&s);
  draw_bins(&s, cfg, r);
  if (!r->defined)
    put(&s,
        "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"20\" "
        "fill=\"#777777\">no counted rows</text>\n",
        PX + PW / 2, PY + PH / 2);
  if (heat) {
    draw_confusion(&s, classes, r->confusion);
    if (!r->defined)
      put(&s,
          "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"20\" "
          "fill=\"#777777\">no counted rows</text>\n",
          MX + MS / 2, MY + MS / 2);
  } else if (cfg->confusion && r->confusion != NULL) {
    put(&s,
        "<text x=\"20\" y=\"%d\" fill=\"#333333\">Confusion matrix not "
        "drawn: %u classes, more than %d.</text>\n",
        HEIGHT - 12, (uint64_t)classes, XS_REPORT_MAX_CLASSES);
  }
  put(&s, "</svg>\n");
  if (s.failed) {
    out->len = start;
    if (out->data != NULL)
      out->data[start] = '\0';
    return -1;
  }
  return 0;
}
