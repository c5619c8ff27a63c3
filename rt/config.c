/*
 * rt/ configuration: struct rt_config fields, else the environment, else
 * the defaults (rt.h lists the variables). Input from outside: a bad
 * value gets one line on stderr naming the variable and what it accepts,
 * and rt_main returns -EINVAL; nothing is silently clamped.
 *
 * Also the THREADLAB_DEBUG=stats report. No shared state.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define PAGE 4096ul

static int bad(const char *what, const char *val, const char *why)
{
	fprintf(stderr, "threadlab: %s=%s: %s\n", what, val, why);
	return -EINVAL;
}

/* A size: digits with an optional k/K or m/M suffix (x1024). */
static int parse_size(const char *s, size_t *out)
{
	unsigned long long v = 0;
	const char *p = s;

	if (!isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (unsigned)(*p - '0');
		if (v > (1ull << 40))
			return -EINVAL;
	}
	if (*p == 'k' || *p == 'K')
		v <<= 10, p++;
	else if (*p == 'm' || *p == 'M')
		v <<= 20, p++;
	if (*p)
		return -EINVAL;
	*out = (size_t)v;
	return 0;
}

static int check_segment(size_t size, size_t margin, const char *src)
{
	char val[64];

	snprintf(val, sizeof(val), "%zu", size);
	if (size < RT_SEGMENT_MIN || size > RT_SEGMENT_MAX || size % 64)
		return bad(src, val, "the first stack segment must be a "
			   "multiple of 64 bytes between 512 and 1048576");
	if (margin < RT_SEGMENT_MARGIN_MIN || margin % 64 ||
	    margin + 256 > size) {
		snprintf(val, sizeof(val), "%zu", margin);
		return bad("segment margin (THREADLAB_STACK_MARGIN)", val,
			   "must be a multiple of 64, at least 512, and leave "
			   "256 bytes of the first segment usable");
	}
	return 0;
}

int rt__config_resolve(const struct rt_config *in, struct rt__cfg *out)
{
	static const struct rt_config none;
	const char *e;
	size_t v;

	if (!in)
		in = &none;
	memset(out, 0, sizeof(*out));

	/* workers */
	out->workers = in->workers;
	if (!out->workers && (e = getenv("THREADLAB_WORKERS")) && *e) {
		if (parse_size(e, &v) < 0 || v < 1 || v > RT_WORKERS_MAX ||
		    strpbrk(e, "kKmM"))
			return bad("THREADLAB_WORKERS", e,
				   "want a number of workers from 1 to 1024");
		out->workers = (unsigned)v;
	}
	if (out->workers > RT_WORKERS_MAX) {
		char val[32];

		snprintf(val, sizeof(val), "%u", out->workers);
		return bad("rt_config.workers", val, "at most 1024");
	}
	if (!out->workers) {
		cpu_set_t set;

		out->workers = sys_online_cpus(&set) == 0 ? CPU_COUNT(&set) : 1;
		if (out->workers < 1)
			out->workers = 1;
	}

	/* stack strategy */
	out->stack = in->stack;
	if (out->stack == RT_STACK_DEFAULT && (e = getenv("THREADLAB_STACK")) &&
	    *e) {
		if (!strcmp(e, "segmented"))
			out->stack = RT_STACK_SEGMENTED;
		else if (!strcmp(e, "mapped"))
			out->stack = RT_STACK_MAPPED;
		else
			return bad("THREADLAB_STACK", e,
				   "want segmented or mapped");
	}
	if (out->stack != RT_STACK_DEFAULT && out->stack != RT_STACK_SEGMENTED &&
	    out->stack != RT_STACK_MAPPED) {
		char val[32];

		snprintf(val, sizeof(val), "%d", (int)out->stack);
		return bad("rt_config.stack", val, "not an rt_stack_kind");
	}
#ifdef RT_SPLIT_STACK
	if (out->stack == RT_STACK_DEFAULT)
		out->stack = RT_STACK_SEGMENTED;
#else
	if (out->stack == RT_STACK_SEGMENTED)
		return bad("THREADLAB_STACK", "segmented",
			   "this build of rt/ has no split stacks "
			   "(built without -fsplit-stack); use mapped");
	out->stack = RT_STACK_MAPPED;
#endif

	/* segment size and margin */
	out->segment_size = in->segment_size;
	if (!out->segment_size && (e = getenv("THREADLAB_STACK_SEGMENT")) && *e) {
		if (parse_size(e, &v) < 0)
			return bad("THREADLAB_STACK_SEGMENT", e,
				   "want a size in bytes");
		out->segment_size = v;
	}
	if (!out->segment_size)
		out->segment_size = RT_SEGMENT_DEFAULT;
	out->segment_margin = in->segment_margin;
	if (!out->segment_margin && (e = getenv("THREADLAB_STACK_MARGIN")) && *e) {
		if (parse_size(e, &v) < 0)
			return bad("THREADLAB_STACK_MARGIN", e,
				   "want a size in bytes");
		out->segment_margin = v;
	}
	if (!out->segment_margin)
		out->segment_margin = RT_SEGMENT_MARGIN_DEFAULT;
	if (out->stack == RT_STACK_SEGMENTED &&
	    check_segment(out->segment_size, out->segment_margin,
			  in->segment_size ? "rt_config.segment_size"
					   : "THREADLAB_STACK_SEGMENT") < 0)
		return -EINVAL;

	/* mapped size */
	out->mapped_size = in->mapped_size;
	if (!out->mapped_size && (e = getenv("THREADLAB_STACK_SIZE")) && *e) {
		if (parse_size(e, &v) < 0)
			return bad("THREADLAB_STACK_SIZE", e,
				   "want a size in bytes (k and m suffixes)");
		out->mapped_size = v;
	}
	if (!out->mapped_size)
		out->mapped_size = RT_MAPPED_DEFAULT;
	if (out->mapped_size < RT_MAPPED_MIN || out->mapped_size > RT_MAPPED_MAX ||
	    out->mapped_size % PAGE) {
		char val[32];

		snprintf(val, sizeof(val), "%zu", out->mapped_size);
		return bad("THREADLAB_STACK_SIZE", val,
			   "a mapped stack is a multiple of 4096 bytes between "
			   "16k and 4194304k");
	}

	/* placement: resolved with the topology in sched.c (numa/ parses
	 * THREADLAB_PLACEMENT and THREADLAB_TOPOLOGY) */
	out->placement = in->placement;

	/* pinning */
	if (in->pin) {
		out->pin = in->pin > 0;
	} else if ((e = getenv("THREADLAB_PIN")) && *e) {
		if (strcmp(e, "0") && strcmp(e, "1"))
			return bad("THREADLAB_PIN", e, "want 0 or 1");
		out->pin = *e == '1';
	} else {
		cpu_set_t set;

		out->pin = sys_online_cpus(&set) == 0 &&
			   out->workers <= (unsigned)CPU_COUNT(&set);
	}

	/* stats */
	if (in->stats)
		out->stats = in->stats > 0;
	else
		out->stats = (e = getenv("THREADLAB_DEBUG")) && strstr(e, "stats");
	return 0;
}

void rt__stats_print(const struct rt_worker_stats *st, unsigned n,
		     const struct rt__cfg *cfg)
{
	struct rt_worker_stats sum = { 0 };
	unsigned i;

	fprintf(stderr, "threadlab rt stats: %u workers, %s stacks", n,
		cfg->stack == RT_STACK_SEGMENTED ? "segmented" : "mapped");
	if (cfg->stack == RT_STACK_SEGMENTED)
		fprintf(stderr, " (first segment %zu, margin %zu)\n",
			cfg->segment_size, cfg->segment_margin);
	else
		fprintf(stderr, " (%zu bytes each)\n", cfg->mapped_size);
	fprintf(stderr, "%-6s %10s %10s %10s %10s %9s %9s %9s %8s %9s %8s %8s %9s %6s\n",
		"worker", "spawned", "run", "switches", "yields", "parks",
		"unparks", "steals", "stolen", "global", "sleeps", "wakes",
		"segments", "slabs");
	for (i = 0; i <= n; i++) {
		const struct rt_worker_stats *s = i < n ? &st[i] : &sum;

		if (i < n) {
			sum.spawned += s->spawned;
			sum.tasks_run += s->tasks_run;
			sum.switches += s->switches;
			sum.yields += s->yields;
			sum.parks += s->parks;
			sum.unparks += s->unparks;
			sum.steals += s->steals;
			sum.stolen += s->stolen;
			sum.global_gets += s->global_gets;
			sum.sleeps += s->sleeps;
			sum.wakes += s->wakes;
			sum.segments += s->segments;
			sum.stack_maps += s->stack_maps;
			fprintf(stderr, "%-6u", i);
		} else {
			fprintf(stderr, "%-6s", "total");
		}
		fprintf(stderr, " %10llu %10llu %10llu %10llu %9llu %9llu %9llu %8llu %9llu %8llu %8llu %9llu %6llu\n",
			(unsigned long long)s->spawned,
			(unsigned long long)s->tasks_run,
			(unsigned long long)s->switches,
			(unsigned long long)s->yields,
			(unsigned long long)s->parks,
			(unsigned long long)s->unparks,
			(unsigned long long)s->steals,
			(unsigned long long)s->stolen,
			(unsigned long long)s->global_gets,
			(unsigned long long)s->sleeps,
			(unsigned long long)s->wakes,
			(unsigned long long)s->segments,
			(unsigned long long)s->stack_maps);
	}
}
