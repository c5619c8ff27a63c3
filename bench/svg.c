/*
 * bench/svg.c — grouped horizontal bar charts as self-contained SVG (see
 * svg.h). Layout, top to bottom: the title, the legend (one swatch per
 * series), the bars (per group one row per series, the group's label on
 * the left), the value axis with its ticks and the unit.
 *
 * The value axis starts at 0 and ends at the first "nice" tick (1, 2 or 5
 * times a power of ten) at or above the largest value, so bars of
 * different charts read the same way. No libm: the driver is linked
 * without it, and powers of ten need only a loop.
 *
 * Shared state: none.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "bench/svg.h"

#define WIDTH      760
#define LEFT       150     /* group labels */
#define RIGHT      80      /* value labels past the longest bar */
#define TOP        30      /* the title */
#define LEGEND_H   22
#define BAR_H      13
#define BAR_GAP    2
#define GROUP_GAP  10
#define AXIS_H     44      /* tick labels and the unit */

static const char *const palette[] = {
	"#4e79a7", "#f28e2b", "#59a14f", "#e15759",
	"#76b7b2", "#edc948", "#b07aa1", "#9c755f",
};

#define N_PALETTE (sizeof(palette) / sizeof(palette[0]))

static bool has_value(double v)
{
	return v == v && v >= 0;        /* not NaN, not negative */
}

/* Text with the five XML specials escaped. */
static void put_text(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: fputc(*s, f);
		}
	}
}

/* The smallest of 1, 2, 5 times a power of ten that is >= raw (> 0). */
static double nice_step(double raw)
{
	double p = 1;

	while (p * 10 <= raw)
		p *= 10;
	while (p > raw)
		p /= 10;
	/* Now p <= raw < 10p. */
	if (p >= raw)
		return p;
	if (2 * p >= raw)
		return 2 * p;
	if (5 * p >= raw)
		return 5 * p;
	return 10 * p;
}

/* A value as a label: three significant digits or whole units. */
static void put_number(FILE *f, double v)
{
	if (v >= 100 || v == 0)
		fprintf(f, "%.0f", v);
	else if (v >= 10)
		fprintf(f, "%.1f", v);
	else if (v >= 1)
		fprintf(f, "%.2f", v);
	else
		fprintf(f, "%.3g", v);
}

/* A legend entry's width: the swatch, the text (about 6.5 px per
 * character at 11 px) and a gap. */
static int legend_width(const char *label)
{
	return 16 + (int)(strlen(label) * 13 / 2) + 18;
}

/* The legend, wrapped to the chart's width; returns its rows. */
static int put_legend(FILE *f, const struct bench_svg_chart *c)
{
	int x = LEFT, y = TOP, rows = 1;

	for (size_t s = 0; s < c->n_series; s++) {
		int w = legend_width(c->series[s]);

		if (x > LEFT && x + w > WIDTH - 10) {
			x = LEFT;
			y += LEGEND_H;
			rows++;
		}
		if (f) {
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" "
				"height=\"12\" fill=\"%s\"/>\n", x, y + 4,
				palette[s % N_PALETTE]);
			fprintf(f, "<text x=\"%d\" y=\"%d\">", x + 16, y + 14);
			put_text(f, c->series[s]);
			fputs("</text>\n", f);
		}
		x += w;
	}
	return rows;
}

static void put_axis(FILE *f, double step, int ticks, double scale,
		     int plot_top, int plot_bottom, const char *axis)
{
	for (int t = 0; t <= ticks; t++) {
		double v = step * t;
		int x = LEFT + (int)(v * scale + 0.5);

		fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
			"stroke=\"#ddd\"/>\n", x, plot_top, x, plot_bottom);
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
			x, plot_bottom + 14);
		if (step >= 1)
			fprintf(f, "%.0f", v);
		else
			fprintf(f, "%g", v);
		fputs("</text>\n", f);
	}
	fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
		"stroke=\"#333\"/>\n", LEFT, plot_top, LEFT, plot_bottom);
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">",
		LEFT + (WIDTH - LEFT - RIGHT) / 2, plot_bottom + 34);
	put_text(f, axis);
	fputs("</text>\n", f);
}

static void put_group(FILE *f, const struct bench_svg_chart *c, size_t g,
		      int y, double scale)
{
	int group_h = (int)c->n_series * (BAR_H + BAR_GAP) - BAR_GAP;

	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" "
		"font-weight=\"bold\">", LEFT - 8, y + group_h / 2 + 4);
	put_text(f, c->groups[g]);
	fputs("</text>\n", f);
	if (c->group_note && c->group_note[g]) {
		fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"#777\" "
			"font-style=\"italic\">", LEFT + 6, y + group_h / 2 + 4);
		put_text(f, c->group_note[g]);
		fputs("</text>\n", f);
		return;
	}
	for (size_t s = 0; s < c->n_series; s++) {
		size_t i = g * c->n_series + s;
		double v = c->value[i];
		int by = y + (int)s * (BAR_H + BAR_GAP), w;

		if (!has_value(v)) {
			const char *note = c->cell_note ? c->cell_note[i] : NULL;

			if (note) {
				fprintf(f, "<text x=\"%d\" y=\"%d\" "
					"fill=\"#c00\">", LEFT + 4,
					by + BAR_H - 2);
				put_text(f, note);
				fputs("</text>\n", f);
			}
			continue;
		}
		w = (int)(v * scale + 0.5);
		fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
			"fill=\"%s\"/>\n", LEFT, by, w, BAR_H,
			palette[s % N_PALETTE]);
		fprintf(f, "<text x=\"%d\" y=\"%d\">", LEFT + w + 4,
			by + BAR_H - 2);
		put_number(f, v);
		fputs("</text>\n", f);
	}
}

int bench_svg_bar_chart(FILE *f, const struct bench_svg_chart *c)
{
	int group_h, plot_top, plot_bottom, height, ticks;
	double max = 0, step, scale;

	if (c->n_groups == 0 || c->n_series == 0)
		return -EINVAL;
	for (size_t i = 0; i < c->n_groups * c->n_series; i++)
		if (has_value(c->value[i]) && c->value[i] > max)
			max = c->value[i];
	/* Five ticks or so; an all-empty chart still gets an axis. */
	step = nice_step(max > 0 ? max / 5 : 1);
	ticks = (int)(max / step);
	if (ticks * step < max || ticks == 0)
		ticks++;
	scale = (WIDTH - LEFT - RIGHT) / (ticks * step);

	group_h = (int)c->n_series * (BAR_H + BAR_GAP) - BAR_GAP;
	plot_top = TOP + put_legend(NULL, c) * LEGEND_H + 8;
	plot_bottom = plot_top + (int)c->n_groups * (group_h + GROUP_GAP);
	height = plot_bottom + AXIS_H;

	fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
		"font-size=\"11\">\n", WIDTH, height, WIDTH, height);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
		WIDTH, height);
	fprintf(f, "<text x=\"%d\" y=\"20\" font-size=\"14\" "
		"font-weight=\"bold\">", 10);
	put_text(f, c->title);
	fputs("</text>\n", f);
	put_legend(f, c);
	put_axis(f, step, ticks, scale, plot_top, plot_bottom, c->axis);
	for (size_t g = 0; g < c->n_groups; g++)
		put_group(f, c, g, plot_top + GROUP_GAP / 2 +
			  (int)g * (group_h + GROUP_GAP), scale);
	fputs("</svg>\n", f);
	return ferror(f) ? -EIO : 0;
}
