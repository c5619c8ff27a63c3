/*
 * bench/svg.h — a small writer of self-contained SVG bar charts, for the
 * plots of `threadlab compare` (compare.c). No external tool, no script,
 * no font or style sheet outside the file: a browser or an image viewer
 * shows it as it is.
 *
 * One chart kind: grouped horizontal bars. Groups are the rows' labels on
 * the left (the models); within a group one bar per series (the settings:
 * concurrency, reuse), each series one colour, named in a legend above
 * the bars; the value is written at the end of its bar. Horizontal bars
 * keep long labels readable and let the chart grow downwards with the
 * number of models.
 *
 * Shared state: none; the caller's data is only read.
 */
#ifndef THREADLAB_BENCH_SVG_H
#define THREADLAB_BENCH_SVG_H

#include <stddef.h>
#include <stdio.h>

struct bench_svg_chart {
	const char *title;              /* above the chart */
	const char *axis;               /* under the value axis: the unit */
	size_t n_groups;
	const char *const *groups;      /* n_groups labels (the models) */
	size_t n_series;
	const char *const *series;      /* n_series labels (the settings) */
	/* n_groups * n_series values, value[g * n_series + s]; a NaN or a
	 * negative value draws no bar. */
	const double *value;
	/* Optional (NULL): per value, a text to write where a bar with no
	 * value would be ("FAIL", "n/a"); NULL entries write nothing. */
	const char *const *cell_note;
	/* Optional (NULL): per group, a text written across the group's
	 * rows instead of its bars ("skipped (no go on PATH)"). */
	const char *const *group_note;
};

/*
 * Write the chart as one SVG document, which starts with "<svg" and ends
 * with "</svg>\n". Text is XML-escaped. Returns 0, or -EIO when the
 * stream reports an error (ferror), -EINVAL for a chart with no group or
 * no series.
 */
int bench_svg_bar_chart(FILE *f, const struct bench_svg_chart *c);

#endif
