/*
 * test_report: the SVG picture of whole-dataset metrics (report.h).
 *
 * Hand cases whose coordinates a person can work out from the layout (the
 * reliability plot spans x 70..470 and y 80..480, accuracy 1 at the top;
 * the rows-per-bin strip spans y 512..592 on a log10(1 + n) scale; the
 * heat map spans x 650..1050, y 80..480), then the promises: empty bins
 * draw nothing, no counted rows still gives a picture, the heat map only
 * with a confusion matrix of at most 50 classes, no NaN or infinity
 * whatever the figures, the same bytes every time, and the bound above the
 * length at the extremes of the configuration with the longest numbers.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "report.h"

typedef struct pic {
  xent_metrics_config cfg;
  xent_metrics_result r;
  xent_metrics_bin *bins;
  uint64_t *matrix;
  xs_buf svg;
} pic;

/* A configuration of `classes` and `bins`, every bin empty, nothing
 * counted; the matrix (zeros) is there when `confusion`. */
static void pic_init(pic *p, size_t classes, size_t bins, int confusion) {
  memset(p, 0, sizeof *p);
  xent_metrics_config_init(&p->cfg, classes);
  p->cfg.bins = bins;
  p->cfg.confusion = confusion;
  ck_assert_int_eq(xent_metrics_config_check(&p->cfg, NULL), XENT_OK);
  p->bins = calloc(bins, sizeof *p->bins);
  ck_assert_ptr_nonnull(p->bins);
  for (size_t b = 0; b < bins; b++)
    p->bins[b].empty = 1;
  p->r.reliability = p->bins;
  if (confusion) {
    p->matrix = calloc(classes * classes, sizeof *p->matrix);
    ck_assert_ptr_nonnull(p->matrix);
    p->r.confusion = p->matrix;
  }
  xs_buf_init(&p->svg);
}

static void pic_bin(pic *p, size_t b, uint64_t count, uint64_t correct,
                    double conf) {
  p->bins[b].count = count;
  p->bins[b].correct = correct;
  p->bins[b].accuracy = (double)correct / (double)count;
  p->bins[b].mean_confidence = conf;
  p->bins[b].empty = 0;
  p->r.counted += count;
  p->r.defined = 1;
}

/* Renders the picture, checks it stays within the bound and is one
 * document, returns its text. */
static const char *pic_draw(pic *p) {
  xs_buf_free(&p->svg);
  ck_assert_int_eq(xs_report_svg(&p->svg, &p->cfg, &p->r), 0);
  const size_t bound = xs_report_svg_bound(&p->cfg);
  ck_assert_msg(p->svg.len <= bound, "%zu bytes above the bound %zu",
                p->svg.len, bound);
  ck_assert_uint_eq(strlen(p->svg.data), p->svg.len);
  ck_assert_msg(strncmp(p->svg.data, "<?xml version=\"1.0\"", 19) == 0,
                "no XML declaration");
  ck_assert_ptr_nonnull(strstr(p->svg.data, "</svg>\n"));
  ck_assert_msg(strcmp(p->svg.data + p->svg.len - 7, "</svg>\n") == 0,
                "the document does not end with </svg>");
  return p->svg.data;
}

static void pic_free(pic *p) {
  xs_buf_free(&p->svg);
  free(p->bins);
  free(p->matrix);
}

#define HAS(svg, s)                                                            \
  ck_assert_msg(strstr((svg), (s)) != NULL, "missing: %s", (s))
#define HAS_NOT(svg, s)                                                        \
  ck_assert_msg(strstr((svg), (s)) == NULL, "unexpected: %s", (s))

/* Occurrences of "<rect" or "<text" (what) inside the group that starts
 * with `open`, up to its first "</g>"; -1 when there is no such group. */
static int in_group(const char *svg, const char *open, const char *what) {
  const char *g = strstr(svg, open);
  if (g == NULL)
    return -1;
  const char *end = strstr(g, "</g>");
  ck_assert_ptr_nonnull(end);
  int n = 0;
  for (const char *q = strstr(g, what); q != NULL && q < end;
       q = strstr(q + 1, what))
    n++;
  return n;
}

/* No "nan" or "inf" in any case: every number is finite. */
static void no_nan(const char *svg) {
  for (const char *q = svg; *q != '\0'; q++) {
    char w[4] = {0};
    for (int i = 0; i < 3 && q[i] != '\0'; i++)
      w[i] = (char)(q[i] | 0x20);
    if (strcmp(w, "nan") == 0 || strcmp(w, "inf") == 0)
      ck_abort_msg("NaN or infinity at byte %td", q - svg);
  }
}

/* One bin, 4 rows, 3 right, mean confidence 0.9: the bar is 0.75 of 400
 * high (300) from y 80 + 400 (1 - 0.75) = 180; the gap spans 0.75..0.9,
 * 60 high from y 80 + 400 (1 - 0.9) = 120; the only bin is the largest:
 * its rows fill the strip, 80 high from 512. */
START_TEST(one_bin_by_hand) {
  pic p;
  pic_init(&p, 3, 1, 0);
  pic_bin(&p, 0, 4, 3, 0.9);
  p.r.ece = 0.15;
  p.r.mce = 0.15;
  p.r.ece_l2 = 0.15;
  p.r.accuracy = 0.75;
  p.r.mean_confidence = 0.9;
  const char *svg = pic_draw(&p);
  HAS(svg, "<title>Reliability diagram: ECE 0.15 (N = 4, 1 bin)</title>");
  HAS(svg, ">Reliability diagram: ECE 0.15 (N = 4, 1 bin)</text>");
  HAS(svg, "accuracy 0.75, mean confidence 0.9, MCE 0.15, ECE-L2 0.15");
  HAS(svg, "<rect x=\"70\" y=\"180\" width=\"400\" height=\"300\"><title>"
           "bin 0 [0, 1]: 4 rows, accuracy 0.75, mean confidence 0.9"
           "</title></rect>");
  HAS(svg, "<rect x=\"70\" y=\"120\" width=\"400\" height=\"60\"/>");
  HAS(svg, "<rect x=\"70\" y=\"512\" width=\"400\" height=\"80\"/>");
  /* Its count above it, 3 units over the strip's top, mid-bin. */
  HAS(svg, "<text x=\"270\" y=\"509\">4</text>");
  HAS(svg, "<line id=\"diagonal\" x1=\"70\" y1=\"480\" x2=\"470\" y2=\"80\"");
  HAS_NOT(svg, "id=\"confusion\"");
  HAS_NOT(svg, "no counted rows");
  no_nan(svg);
  pic_free(&p);
}
END_TEST

/* Four bins of width 100; bins 0 and 3 empty. Bin 1: 99 rows at accuracy
 * and confidence 0.25 (a bar 100 high at y 380, no gap); bin 2: 9 rows,
 * accuracy 0.5 (200 high at y 280), confidence 0.6 (gap 40 high at y 240).
 * The strip: bin 1 is the largest (80 high), bin 2 has log10(10) /
 * log10(100) = 1/2 of it (40 high at y 552). */
START_TEST(empty_bins_draw_nothing) {
  pic p;
  pic_init(&p, 3, 4, 0);
  pic_bin(&p, 1, 99, 0, 0.25);
  p.bins[1].accuracy = 0.25; /* drawn are count, accuracy, confidence */
  pic_bin(&p, 2, 9, 0, 0.6);
  p.bins[2].accuracy = 0.5;
  const char *svg = pic_draw(&p);
  HAS(svg, "<rect x=\"170\" y=\"380\" width=\"100\" height=\"100\"><title>"
           "bin 1 (0.25, 0.5]: 99 rows, accuracy 0.25, mean confidence 0.25"
           "</title></rect>");
  HAS(svg, "<rect x=\"270\" y=\"280\" width=\"100\" height=\"200\"><title>"
           "bin 2 (0.5, 0.75]: 9 rows, accuracy 0.5, mean confidence 0.6"
           "</title></rect>");
  HAS(svg, "<rect x=\"270\" y=\"240\" width=\"100\" height=\"40\"/>");
  HAS(svg, "<rect x=\"170\" y=\"512\" width=\"100\" height=\"80\"/>");
  HAS(svg, "<rect x=\"270\" y=\"552\" width=\"100\" height=\"40\"/>");
  HAS(svg, "<text x=\"220\" y=\"509\">99</text>");
  HAS(svg, "<text x=\"320\" y=\"549\">9</text>");
  /* Two bars, one gap, two rows-per-bin bars and labels: nothing at
   * x 70 or 370, the empty bins. */
  ck_assert_int_eq(in_group(svg, "<g id=\"bars\"", "<rect"), 2);
  ck_assert_int_eq(in_group(svg, "<g id=\"gaps\"", "<rect"), 1);
  ck_assert_int_eq(in_group(svg, "<g id=\"counts\"", "<rect"), 2);
  ck_assert_int_eq(in_group(svg, "<g id=\"count-labels\"", "<text"), 2);
  HAS_NOT(svg, "<rect x=\"370\"");
  HAS(svg, "(N = 108, 4 bins)");
  no_nan(svg);
  pic_free(&p);
}
END_TEST

/* Nothing counted: axes, the diagonal and "no counted rows", in both
 * panels; no bar anywhere; the heat map's rows are all grey. */
START_TEST(no_counted_rows) {
  pic p;
  pic_init(&p, 3, 15, 1);
  const char *svg = pic_draw(&p);
  HAS(svg, "<title>Reliability diagram: no counted rows (N = 0, 15 bins)"
           "</title>");
  HAS(svg, ">no counted rows</text>");
  ck_assert_ptr_nonnull(strstr(strstr(svg, ">no counted rows</text>") + 1,
                               ">no counted rows</text>"));
  ck_assert_int_eq(in_group(svg, "<g id=\"bars\"", "<rect"), 0);
  ck_assert_int_eq(in_group(svg, "<g id=\"gaps\"", "<rect"), 0);
  HAS(svg, "<g id=\"counts\"></g>");
  HAS_NOT(svg, "count-labels");
  ck_assert_int_eq(in_group(svg, "<g id=\"confusion-empty-rows\"", "<rect"), 3);
  ck_assert_int_eq(in_group(svg, "<g id=\"confusion-cells\"", "<rect"), 0);
  HAS_NOT(svg, "ECE");
  no_nan(svg);
  /* And without a matrix: one panel, 560 wide. */
  p.cfg.confusion = 0;
  p.r.confusion = NULL;
  svg = pic_draw(&p);
  HAS(svg, "width=\"560\" height=\"660\"");
  HAS_NOT(svg, "confusion");
  pic_free(&p);
}
END_TEST

/* Two classes: row 0 is 3 right, 1 wrong (shares 0.75 and 0.25), no row
 * has label 1. Cells are 200 wide; the 0.75 cell's colour is halfway
 * between the middle blue (107, 174, 214) and the dark one (8, 48, 107):
 * (57.5, 111, 160.5) rounds to #3a6fa1; the 0.25 cell's halfway between
 * near white (247, 251, 255) and the middle: (177, 212.5, 234.5), #b1d5eb.
 * Counts at 12 units, white on the dark cell, centred, baseline 0.35 em
 * below the middle (184.2). */
START_TEST(heat_map_by_hand) {
  pic p;
  pic_init(&p, 2, 15, 1);
  pic_bin(&p, 14, 4, 3, 0.95);
  p.matrix[0] = 3;
  p.matrix[1] = 1;
  const char *svg = pic_draw(&p);
  HAS(svg, "width=\"1100\" height=\"660\"");
  HAS(svg, ">Confusion matrix (2 classes)</text>");
  HAS(svg, "<rect x=\"650\" y=\"80\" width=\"200\" height=\"200\" "
           "fill=\"#3a6fa1\"/>");
  HAS(svg, "<rect x=\"850\" y=\"80\" width=\"200\" height=\"200\" "
           "fill=\"#b1d5eb\"/>");
  HAS(svg, "<rect x=\"650\" y=\"280\" width=\"400\" height=\"200\"/>");
  HAS(svg, "<g id=\"confusion-counts\" font-size=\"12\"");
  HAS(svg, "<text x=\"750\" y=\"184.2\" fill=\"#ffffff\">3</text>");
  HAS(svg, "<text x=\"950\" y=\"184.2\" fill=\"#000000\">1</text>");
  ck_assert_int_eq(in_group(svg, "<g id=\"confusion-cells\"", "<rect"), 2);
  ck_assert_int_eq(in_group(svg, "<g id=\"confusion-empty-rows\"", "<rect"), 1);
  HAS(svg, "row-normalised");
  HAS(svg, "numbers: counts");
  no_nan(svg);
  pic_free(&p);
}
END_TEST

/* The heat map needs the matrix in both the configuration and the result,
 * and at most 50 classes; above, the picture says why it is missing.
 * Fifty classes make cells of 8 units: no counts, every fifth label. */
START_TEST(heat_map_only_when_asked_and_small) {
  pic p;
  pic_init(&p, 50, 15, 1);
  pic_bin(&p, 7, 10, 5, 0.5);
  for (size_t i = 0; i < 50; i++)
    p.matrix[i * 50 + (i * 7) % 50] = 1 + i;
  const char *svg = pic_draw(&p);
  HAS(svg, "<g id=\"confusion\">");
  HAS(svg, ">Confusion matrix (50 classes)</text>");
  ck_assert_int_eq(in_group(svg, "<g id=\"confusion-cells\"", "<rect"), 50);
  HAS_NOT(svg, "confusion-counts");
  HAS_NOT(svg, "numbers: counts");
  HAS(svg, ">45</text>");
  HAS_NOT(svg, ">46</text>");
  /* The result without its matrix, and a matrix the configuration does not
   * keep: no heat map. */
  p.r.confusion = NULL;
  svg = pic_draw(&p);
  HAS_NOT(svg, "confusion");
  HAS(svg, "width=\"560\"");
  p.r.confusion = p.matrix;
  p.cfg.confusion = 0;
  svg = pic_draw(&p);
  HAS_NOT(svg, "onfusion");
  pic_free(&p);

  pic_init(&p, 51, 15, 1);
  pic_bin(&p, 7, 10, 5, 0.5);
  p.matrix[0] = 10;
  svg = pic_draw(&p);
  HAS_NOT(svg, "<g id=\"confusion\">");
  HAS(svg, "Confusion matrix not drawn: 51 classes, more than 50.");
  HAS(svg, "width=\"560\"");
  pic_free(&p);
}
END_TEST

/* Figures to 4 significant digits as %.4g lays them out, and no NaN or
 * infinity even when the result holds them. */
START_TEST(figures_and_no_nan) {
  pic p;
  pic_init(&p, 3, 15, 0);
  pic_bin(&p, 3, 10, 5, 0.25);
  p.r.ece = 0.012345678;
  p.r.accuracy = 1;
  p.r.mean_confidence = 0.999999;
  p.r.mce = 0.000123456;
  p.r.ece_l2 = 1.23456e-5;
  const char *svg = pic_draw(&p);
  HAS(svg, "ECE 0.01235 (N = 10, 15 bins)");
  HAS(svg, "accuracy 1, mean confidence 1, MCE 0.0001235, ECE-L2 1.235e-05");
  /* Tooltip edges: 3/15 and 4/15. */
  HAS(svg, "bin 3 (0.2, 0.2667]: 10 rows");

  p.r.ece = NAN;
  p.r.mce = INFINITY;
  p.r.ece_l2 = -INFINITY;
  p.bins[3].accuracy = NAN;
  p.bins[3].mean_confidence = INFINITY;
  pic_bin(&p, 5, 3, 3, NAN);
  p.bins[5].accuracy = -1;
  svg = pic_draw(&p);
  no_nan(svg);
  /* Clamped into [0, 1]: bin 3 at accuracy 0 (a bar of height 0) with a
   * full gap up to confidence 1. */
  HAS(svg, "<rect x=\"150\" y=\"480\" width=\"26.67\" height=\"0\">");
  HAS(svg, "<rect x=\"150\" y=\"80\" width=\"26.67\" height=\"400\"/>");
  pic_free(&p);
}
END_TEST

/* Same result, same bytes; the buffer's earlier contents are kept. */
START_TEST(deterministic_and_appended) {
  pic p;
  pic_init(&p, 10, 15, 1);
  for (size_t b = 0; b < 15; b++)
    if (b % 3 != 0)
      pic_bin(&p, b, 7 * b + 1, 3 * b, (b + 0.4) / 15);
  for (size_t i = 0; i < 100; i++)
    p.matrix[i] = (i * 37) % 11;
  p.r.ece = 0.0731;
  const char *svg = pic_draw(&p);
  char *first = strdup(svg);
  ck_assert_ptr_nonnull(first);
  xs_buf b;
  xs_buf_init(&b);
  ck_assert_int_eq(xs_buf_append(&b, "head:", 5), 0);
  ck_assert_int_eq(xs_report_svg(&b, &p.cfg, &p.r), 0);
  ck_assert_int_eq(strncmp(b.data, "head:", 5), 0);
  ck_assert_str_eq(b.data + 5, first);
  xs_buf_free(&b);
  free(first);
  pic_free(&p);
}
END_TEST

/* The bound holds at the extremes of the configuration with every bin
 * full and the longest numbers: 20-digit counts, 4-digit figures with
 * exponents, matrix cells of 19 digits or of one (where counts print). */
START_TEST(bound_at_the_extremes) {
  static const size_t bins[] = {1, 15, 16, 17, 50, 51, 100, 101, 10000};
  static const size_t classes[] = {1, 2, 22, 33, 34, 50, 51};
  size_t worst_slack = SIZE_MAX;
  for (size_t bi = 0; bi < sizeof bins / sizeof bins[0]; bi++) {
    for (size_t ci = 0; ci < sizeof classes / sizeof classes[0]; ci++) {
      for (int confusion = 0; confusion <= 1; confusion++) {
        for (int variant = 0; variant < 3; variant++) {
          pic p;
          pic_init(&p, classes[ci], bins[bi], confusion);
          if (variant > 0) {
            for (size_t b = 0; b < bins[bi]; b++) {
              pic_bin(&p, b, UINT64_MAX - b, UINT64_MAX / 3,
                      0.987654321 - 1e-6 * (double)b);
              p.bins[b].accuracy = 0.000123456 + 1e-9 * (double)b;
            }
            p.r.counted = UINT64_MAX;
            p.r.ece = -1.23456e-123;
            p.r.ece_l2 = 1.23456e-5;
            p.r.mce = 0.000123456;
            p.r.accuracy = 0.000123456;
            p.r.mean_confidence = 9.87654e-200;
          }
          if (confusion) {
            const size_t c = classes[ci];
            for (size_t i = 0; i < c * c; i++)
              p.matrix[i] =
                  variant == 2 ? 1 + i % 9 : 100000000000000000ull + i;
          }
          const char *svg = pic_draw(&p);
          no_nan(svg);
          const size_t bound = xs_report_svg_bound(&p.cfg);
          if (bound - p.svg.len < worst_slack)
            worst_slack = bound - p.svg.len;
          if (variant == 1 && confusion &&
              (classes[ci] == 1 || classes[ci] == 50 || classes[ci] == 51) &&
              (bins[bi] == 1 || bins[bi] == 15 || bins[bi] == 10000))
            printf("bound: bins %zu classes %zu confusion: %zu bytes, "
                   "bound %zu\n",
                   bins[bi], classes[ci], p.svg.len, bound);
          pic_free(&p);
        }
      }
    }
  }
  printf("bound: smallest slack %zu bytes\n", worst_slack);
  /* Grows with bins, and with classes^2 only up to 50 classes. */
  xent_metrics_config a, b;
  xent_metrics_config_init(&a, 50);
  xent_metrics_config_init(&b, 51);
  a.confusion = b.confusion = 1;
  ck_assert_uint_gt(xs_report_svg_bound(&a), xs_report_svg_bound(&b));
  b.bins = 16;
  a.confusion = 0;
  ck_assert_uint_gt(xs_report_svg_bound(&b), xs_report_svg_bound(&a));
  a.bins = SIZE_MAX / 4;
  ck_assert_uint_eq(xs_report_svg_bound(&a), SIZE_MAX);
}
END_TEST

int main(void) {
  Suite *s = suite_create("report");
  TCase *tc = tcase_create("svg");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, one_bin_by_hand);
  tcase_add_test(tc, empty_bins_draw_nothing);
  tcase_add_test(tc, no_counted_rows);
  tcase_add_test(tc, heat_map_by_hand);
  tcase_add_test(tc, heat_map_only_when_asked_and_small);
  tcase_add_test(tc, figures_and_no_nan);
  tcase_add_test(tc, deterministic_and_appended);
  tcase_add_test(tc, bound_at_the_extremes);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  const int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
