/*
 * numa/parse.c — THREADLAB_TOPOLOGY and THREADLAB_PLACEMENT: reading them,
 * and writing a topology back in the same form.
 *
 * The grammar is in topo.h. The parser is a single left-to-right pass with
 * one character of look-ahead; every error names what was wrong or
 * expected, where (the character's position, counting from 1, and the
 * character itself), and ends with the expected form and examples, so that a person who typed the
 * value can fix it from the message alone.
 *
 * No shared state.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "numa/internal.h"

#define SPEC_FORM "NODE:CPUS[,NODE:CPUS...][@MATRIX] where CPUS is " \
	"CPU[-CPU][+CPU[-CPU]...] (may be empty) and MATRIX is rows of " \
	"distances, ',' between entries and ';' between rows, e.g. " \
	"0:0-7,1:8-15 or 0:0-3+8-11,1:4-7+12-15@10,21;21,10"

#define POLICY_FORM "compact, spread or node=N (N a node number, e.g. node=0)"

struct cursor {
	const char *spec;
	const char *p;
	char *err;
	size_t errlen;
};

/* -EINVAL, with "THREADLAB_TOPOLOGY "...": <what> at character N (after
 * "..."); expected form ...". Long values are shortened in the message. */
__attribute__((format(printf, 2, 3)))
static int parse_fail(struct cursor *c, const char *fmt, ...)
{
	char what[256], at[64];
	size_t pos = (size_t)(c->p - c->spec);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (what[0] && what[strlen(what) - 1] == ':') {
		/* About the whole value, not a place in it. */
		what[strlen(what) - 1] = '\0';
		at[0] = '\0';
	} else if (*c->p == '\0')
		snprintf(at, sizeof(at), " at the end");
	else if (*c->p >= 0x21 && *c->p < 0x7f)
		snprintf(at, sizeof(at), " at character %zu ('%c')", pos + 1,
			 *c->p);
	else
		snprintf(at, sizeof(at), " at character %zu (byte 0x%02x)",
			 pos + 1, (unsigned char)*c->p);
	return topo__fail(c->err, c->errlen,
			  "bad THREADLAB_TOPOLOGY \"%.80s%s\": %s%s; "
			  "expected %s",
			  c->spec, strlen(c->spec) > 80 ? "..." : "",
			  what, at, SPEC_FORM);
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/* A decimal number of at most `max`; what it is named in messages. */
static int number(struct cursor *c, long max, const char *name, long *out)
{
	const char *start = c->p;
	long v = 0;

	if (!is_digit(*c->p))
		return parse_fail(c, "expected %s", name);
	while (is_digit(*c->p)) {
		if (v <= max)
			v = v * 10 + (*c->p - '0');
		c->p++;
	}
	if (v > max) {
		c->p = start;
		return parse_fail(c, "%s %.*s is above %ld", name,
				  (int)strspn(start, "0123456789"), start,
				  max);
	}
	*out = v;
	return 0;
}

/* CPUS of node[i]; `seen` collects the CPUs of the nodes before. */
static int parse_cpus(struct cursor *c, struct topo *t, int i,
		      cpu_set_t *seen)
{
	struct topo_node *n = &t->node[i];

	/* An empty list: a node with memory only. */
	if (*c->p == ',' || *c->p == '@' || *c->p == '\0')
		return 0;
	for (;;) {
		const char *start = c->p;
		long lo, hi;
		int r;

		r = number(c, TOPO_MAX_CPUS - 1, "a CPU number", &lo);
		if (r < 0)
			return r;
		hi = lo;
		if (*c->p == '-') {
			c->p++;
			r = number(c, TOPO_MAX_CPUS - 1, "a CPU number", &hi);
			if (r < 0)
				return r;
			if (hi < lo) {
				c->p = start;
				return parse_fail(c, "CPU range %ld-%ld "
						  "decreases", lo, hi);
			}
		}
		for (long cpu = lo; cpu <= hi; cpu++) {
			if (CPU_ISSET(cpu, &n->cpus)) {
				c->p = start;
				return parse_fail(c, "CPU %ld is listed twice "
						  "in node %d", cpu, n->id);
			}
			if (CPU_ISSET(cpu, seen)) {
				c->p = start;
				return parse_fail(c, "CPU %ld of node %d is "
						  "in node %d already", cpu,
						  n->id, topo_cpu_node(t, cpu));
			}
			CPU_SET(cpu, seen);
			CPU_SET(cpu, &n->cpus);
		}
		if (*c->p != '+')
			break;
		c->p++;
	}
	n->ncpus = CPU_COUNT(&n->cpus);
	return 0;
}

static int parse_matrix(struct cursor *c, struct topo *t)
{
	int nn = t->nnodes;

	for (int i = 0; i < nn; i++) {
		for (int j = 0; j < nn; j++) {
			const char *start;
			long d;
			int r;

			if (j > 0) {
				if (*c->p != ',')
					return parse_fail(c, "row %d of the "
						"matrix (from node %d) has %d "
						"distances, but there are %d "
						"nodes", i + 1, t->node[i].id,
						j, nn);
				c->p++;
			}
			start = c->p;
			r = number(c, 255, "a distance", &d);
			if (r < 0)
				return r;
			c->p = start;   /* point at the number in messages */
			if (i == j && d != TOPO_DIST_LOCAL)
				return parse_fail(c, "the distance from node "
					"%d to itself is %ld, not %d",
					t->node[i].id, d, TOPO_DIST_LOCAL);
			if (i != j && (d <= TOPO_DIST_LOCAL || d > 254))
				return parse_fail(c, "the distance from node "
					"%d to node %d is %ld, outside 11..254",
					t->node[i].id, t->node[j].id, d);
			t->distance[i][j] = (uint8_t)d;
			c->p += strspn(c->p, "0123456789");
		}
		if (*c->p == ',')
			return parse_fail(c, "row %d of the matrix (from node "
					  "%d) has more than %d distances",
					  i + 1, t->node[i].id, nn);
		if (i + 1 < nn) {
			if (*c->p != ';')
				return parse_fail(c, "the matrix has %d rows, "
						  "but there are %d nodes",
						  i + 1, nn);
			c->p++;
		}
	}
	if (*c->p == ';')
		return parse_fail(c, "the matrix has more than %d rows, one "
				  "per node", nn);
	return 0;
}

int topo__parse_layout(struct topo *t, const char *spec,
		       char *err, size_t errlen)
{
	struct cursor c = { spec ? spec : "", spec ? spec : "", err, errlen };
	cpu_set_t seen;
	int r;

	topo__clear(t);
	t->source = TOPO_SOURCE_EMULATED;
	CPU_ZERO(&seen);
	if (*c.p == '\0')
		return parse_fail(&c, "the value is empty:");

	for (;;) {
		struct topo_node *n;
		long id;

		const char *start = c.p;

		if (t->nnodes == TOPO_MAX_NODES)
			return parse_fail(&c, "more than %d nodes",
					  TOPO_MAX_NODES);
		r = number(&c, TOPO_MAX_NODES - 1, "a node number", &id);
		if (r < 0)
			return r;
		if (t->nnodes > 0 && id <= t->node[t->nnodes - 1].id) {
			c.p = start;
			return parse_fail(&c, "node %ld after node %d (node "
					  "numbers must increase)", id,
					  t->node[t->nnodes - 1].id);
		}
		n = &t->node[t->nnodes++];
		n->id = (int)id;
		n->mem_total = n->mem_free = -1;
		if (*c.p != ':')
			return parse_fail(&c, "expected ':' after node %ld",
					  id);
		c.p++;
		r = parse_cpus(&c, t, t->nnodes - 1, &seen);
		if (r < 0)
			return r;
		t->ncpus += n->ncpus;
		if (*c.p == ',') {
			c.p++;
			continue;
		}
		break;
	}
	for (int i = 0; i < t->nnodes; i++)
		for (int j = 0; j < t->nnodes; j++)
			t->distance[i][j] = i == j ? TOPO_DIST_LOCAL
						   : TOPO_DIST_REMOTE;
	if (*c.p == '@') {
		c.p++;
		r = parse_matrix(&c, t);
		if (r < 0)
			return r;
	}
	if (*c.p != '\0')
		return parse_fail(&c, "unexpected character");
	if (t->ncpus == 0)
		return parse_fail(&c, "no node has a CPU:");
	return 0;
}

void topo__map_cpus(struct topo *t, const cpu_set_t *usable,
		    const int16_t *real_node, enum topo_source real_source)
{
	int real[TOPO_MAX_CPUS];
	int nreal = 0, k = 0;
	bool all_here = true;

	for (int c = 0; c < TOPO_MAX_CPUS; c++)
		if (CPU_ISSET(c, usable))
			real[nreal++] = c;
	for (int i = 0; i < t->nnodes; i++)
		for (int c = 0; c < TOPO_MAX_CPUS; c++)
			if (CPU_ISSET(c, &t->node[i].cpus) &&
			    !CPU_ISSET(c, usable))
				all_here = false;

	t->usable = *usable;
	t->real_source = real_source;
	memcpy(t->real_node, real_node, sizeof(t->real_node));
	t->cpu_map_identity = all_here;
	/* Every CPU of the layout, in increasing number, whichever node it
	 * is in: the k-th one runs on the (k mod nreal)-th usable CPU. */
	for (int c = 0; c < TOPO_MAX_CPUS; c++) {
		if (topo_cpu_node(t, c) < 0)
			continue;
		if (all_here)
			t->real_cpu[c] = (int16_t)c;
		else if (nreal > 0)
			t->real_cpu[c] = (int16_t)real[k++ % nreal];
	}
}

/* --------------------------------------------------------------------- */

/* Appending to a fixed buffer, remembering whether it overflowed. */
struct out {
	char *buf;
	size_t len, pos;
	bool full;
};

__attribute__((format(printf, 2, 3)))
static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	size_t room = o->pos < o->len ? o->len - o->pos : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room ? o->buf + o->pos : NULL, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room)
		o->full = true;
	if (n > 0)
		o->pos += (size_t)n;
}

static int out_done(struct out *o)
{
	if (o->len == 0)
		return -ENOSPC;
	if (o->full)
		return -ENOSPC;
	return (int)o->pos;
}

static void out_ranges(struct out *o, const cpu_set_t *set, char sep)
{
	bool first = true;

	for (int c = 0; c < TOPO_MAX_CPUS; c++) {
		int hi = c;

		if (!CPU_ISSET(c, set))
			continue;
		while (hi + 1 < TOPO_MAX_CPUS && CPU_ISSET(hi + 1, set))
			hi++;
		if (!first)
			out_printf(o, "%c", sep);
		if (hi == c)
			out_printf(o, "%d", c);
		else
			out_printf(o, "%d-%d", c, hi);
		first = false;
		c = hi;
	}
}

int topo_format_cpus(const cpu_set_t *set, char *buf, size_t len)
{
	struct out o = { buf, len, 0, false };

	if (len)
		buf[0] = '\0';
	if (CPU_COUNT(set) == 0)
		out_printf(&o, "none");
	else
		out_ranges(&o, set, ',');
	return out_done(&o);
}

int topo_format_spec(const struct topo *t, char *buf, size_t len)
{
	struct out o = { buf, len, 0, false };

	if (len)
		buf[0] = '\0';
	for (int i = 0; i < t->nnodes; i++) {
		out_printf(&o, "%s%d:", i ? "," : "", t->node[i].id);
		out_ranges(&o, &t->node[i].cpus, '+');
	}
	out_printf(&o, "@");
	for (int i = 0; i < t->nnodes; i++)
		for (int j = 0; j < t->nnodes; j++)
			out_printf(&o, "%s%d", j ? "," : i ? ";" : "",
				   t->distance[i][j]);
	return out_done(&o);
}

/* --------------------------------------------------------------------- */

static int policy_parse(struct topo_policy *p, const char *s,
			const char *source, char *err, size_t errlen)
{
	const char *v = s ? s : "";

	if (strcmp(v, "compact") == 0) {
		*p = (struct topo_policy){ TOPO_POLICY_COMPACT, 0 };
		return 0;
	}
	if (strcmp(v, "spread") == 0) {
		*p = (struct topo_policy){ TOPO_POLICY_SPREAD, 0 };
		return 0;
	}
	if (strncmp(v, "node=", 5) == 0 && is_digit(v[5]) &&
	    strspn(v + 5, "0123456789") == strlen(v + 5) &&
	    strlen(v + 5) <= 2 && atoi(v + 5) < TOPO_MAX_NODES) {
		*p = (struct topo_policy){ TOPO_POLICY_NODE, atoi(v + 5) };
		return 0;
	}
	return topo__fail(err, errlen, "bad %s \"%.80s\": expected %s%s",
			  source, v, POLICY_FORM,
			  strncmp(v, "node=", 5) == 0 ?
			  ", N from 0 to 63" : "");
}

int topo_policy_parse(struct topo_policy *p, const char *s,
		      char *err, size_t errlen)
{
	return policy_parse(p, s, "placement policy", err, errlen);
}

int topo_policy_select(struct topo_policy *p, const char *config,
		       char *err, size_t errlen)
{
	const char *env;

	if (config)
		return policy_parse(p, config, "placement policy", err,
				    errlen);
	env = getenv("THREADLAB_PLACEMENT");
	if (env && *env)
		return policy_parse(p, env, "THREADLAB_PLACEMENT", err,
				    errlen);
	*p = (struct topo_policy){ TOPO_POLICY_COMPACT, 0 };
	return 0;
}

int topo_policy_format(const struct topo_policy *p, char *buf, size_t len)
{
	struct out o = { buf, len, 0, false };

	if (len)
		buf[0] = '\0';
	switch (p->kind) {
	case TOPO_POLICY_COMPACT:
		out_printf(&o, "compact");
		break;
	case TOPO_POLICY_SPREAD:
		out_printf(&o, "spread");
		break;
	case TOPO_POLICY_NODE:
		out_printf(&o, "node=%d", p->node);
		break;
	default:
		out_printf(&o, "unknown(%d)", (int)p->kind);
		break;
	}
	return out_done(&o);
}
