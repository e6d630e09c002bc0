/*
 * report.h - the picture of whole-dataset metrics as one SVG 1.1 document
 * (the body of POST /v1/metrics/report).
 *
 * The picture: a title with the ECE, the bins and the counted rows N; a
 * reliability diagram (one bar per non-empty bin at the bin's accuracy, the
 * diagonal of perfect calibration, the gap between each bar and the bin's
 * mean confidence shaded); below it, the rows per bin on a log scale; and,
 * when the confusion matrix is given and classes <= XS_REPORT_MAX_CLASSES,
 * a heat map of it beside the diagram (rows the true label, columns the
 * prediction, colour the share of the row, counts in the cells when they
 * fit). A result with no counted rows gives the same frame saying "no
 * counted rows".
 *
 * The document has no script, no external reference and no font beyond
 * the generic family sans-serif. Every number is printed without printf or
 * the locale (coordinates to 2 decimals, figures to 4 significant digits),
 * and no text comes from outside this file: the same result gives the same
 * bytes.
 */
#ifndef XENTD_REPORT_H
#define XENTD_REPORT_H

#include <stddef.h>

#include "xent.h"

struct xs_buf;

/* Above this many classes the confusion matrix is not drawn (the picture
 * says so instead). */
#define XS_REPORT_MAX_CLASSES 50

/*
 * Upper bound of the bytes xs_report_svg appends for a result of this
 * configuration, whatever its values (lets the caller reserve memory from
 * its budget first). Grows with cfg->bins, and with classes^2 when
 * cfg->confusion is set and classes <= XS_REPORT_MAX_CLASSES. SIZE_MAX when
 * it does not fit in size_t. cfg not NULL.
 */
size_t xs_report_svg_bound(const xent_metrics_config *cfg);

/*
 * Appends the SVG document of r to out. r was computed (xent_metrics_compute)
 * from a state of cfg: r->reliability holds cfg->bins bins (NULL is drawn
 * as every bin empty); r->confusion, classes x classes counts, may be NULL
 * (no heat map; it is drawn only when cfg->confusion is set too). Nothing
 * else of r is read but counted, defined, ece, ece_l2, mce, accuracy and
 * mean_confidence. out, cfg and r not NULL.
 *
 * Room for xs_report_svg_bound(cfg) more bytes is reserved in out first,
 * once. Returns 0, or -1 when out of memory (out then holds what it held,
 * perhaps with more capacity).
 */
int xs_report_svg(struct xs_buf *out, const xent_metrics_config *cfg,
                  const xent_metrics_result *r);

#endif /* XENTD_REPORT_H */
