/*
 * rt/ select: the default case taken only when nothing is ready; the
 * timeout fires, not early; uniform choice among ready cases (a binomial
 * test); exact message counts through selects that send and receive on
 * several channels across workers; close waking tasks in select; send
 * and receive on one channel; misuse (in child processes). Each case
 * runs with segmented and with mapped stacks (lib_rt.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib_rt.h"

/* ------------------------------------------------------------------
 * Default only when nothing is ready. One worker: rt_yield runs the
 * helper tasks until they park, so readiness is known exactly.
 * ---------------------------------------------------------------- */
#define NCH 4
#define DEFAULT_ROUNDS rtt_scale(3000)

static uint32_t lcg(uint32_t *s)
{
	*s = *s * 1664525u + 1013904223u;
	return *s >> 8;
}

static void sender_once(void *arg)
{
	rt_chan_sendv(arg, int, 77);
}

static void default_main(void *arg)
{
	struct rt_chan *b[NCH], *u = rt_chan_new(sizeof(int), 0);
	struct rt_select_case cs[NCH + 1];
	uint32_t seed = 12345;
	int v, r;

	for (int i = 0; i < NCH; i++)
		b[i] = rt_chan_new(sizeof(int), 1);
	for (long round = 0; round < DEFAULT_ROUNDS; round++) {
		unsigned ready = lcg(&seed) % (1u << (NCH + 1));

		for (int i = 0; i < NCH; i++)
			if (ready & (1u << i))
				rt_chan_sendv(b[i], int, i);
		if (ready & (1u << NCH)) {
			rt_go(sender_once, u);
			rt_yield();     /* it parks in its send */
		}
		for (int i = 0; i < NCH; i++)
			cs[i] = RT_CASE_RECV(b[i], &v);
		cs[NCH] = RT_CASE_RECV(u, &v);
		r = rt_select(cs, NCH + 1, RT_SELECT_NONBLOCK);
		if (!ready) {
			RTT_CHECKF(r == -EAGAIN, "nothing ready, chose %d", r);
			continue;
		}
		RTT_CHECKF(r >= 0 && (ready & (1u << r)),
			   "ready %#x, chose %d", ready, r);
		if (r < 0)
			break;
		RTT_CHECK(cs[r].ok && v == (r == NCH ? 77 : r));
		/* Drain the rest for the next round. */
		ready &= ~(1u << r);
		for (int i = 0; i < NCH; i++)
			if (ready & (1u << i))
				RTT_CHECK(rt_chan_recv(b[i], &v));
		if (ready & (1u << NCH))
			RTT_CHECK(rt_chan_recv(u, &v) && v == 77);
	}
	/* A select of only NULL channels, or of none, with default. */
	cs[0] = RT_CASE_RECV(NULL, &v);
	RTT_CHECK(rt_select(cs, 1, RT_SELECT_NONBLOCK) == -EAGAIN);
	RTT_CHECK(rt_select(cs, 0, RT_SELECT_NONBLOCK) == -EAGAIN);
	for (int i = 0; i < NCH; i++)
		rt_chan_free(b[i]);
	rt_chan_free(u);
}

static void test_default_only_when_none_ready(void **state)
{
	struct rt_config cfg = rtt_config(state, 1);

	rtt_run(&cfg, default_main, NULL);
}

/* ------------------------------------------------------------------
 * Timeouts: fire, not early; a case that becomes ready first wins.
 * ---------------------------------------------------------------- */
static void late_send(void *arg)
{
	rt_sleep(3 * RT_MSEC);
	rt_chan_sendv(arg, int, 3);
}

struct to {
	struct rt_wg wg;
	_Atomic int early;
};

static void timeout_task(void *arg)
{
	struct to *t = arg;
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);
	struct rt_select_case cs[2];
	int v;

	for (int i = 0; i < 5; i++) {
		int64_t d = (1 + i % 3) * RT_MSEC, t0 = rt_now(), r;

		cs[0] = RT_CASE_RECV(c, &v);
		cs[1] = RT_CASE_SEND(NULL, &v);
		r = rt_select(cs, 2, d);
		RTT_CHECKF(r == -ETIMEDOUT, "select returned %lld",
			   (long long)r);
		if (rt_now() - t0 < d)
			atomic_fetch_add(&t->early, 1);
	}
	rt_chan_free(c);
	rt_wg_done(&t->wg);
}

static void timeout_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);
	struct rt_select_case cs[1];
	struct to t = { 0 };
	int64_t t0;
	int v;

	/* Many tasks timing out at once on several workers. */
	rt_wg_add(&t.wg, 50);
	for (int i = 0; i < 50; i++)
		rt_go(timeout_task, &t);
	rt_wg_wait(&t.wg);
	RTT_CHECKF(atomic_load(&t.early) == 0, "%d timeouts came early",
		   atomic_load(&t.early));

	/* The value comes before the timeout. */
	rt_go(late_send, c);
	cs[0] = RT_CASE_RECV(c, &v);
	t0 = rt_now();
	RTT_CHECK(rt_select(cs, 1, 10 * RT_SEC) == 0 && v == 3 && cs[0].ok);
	RTT_CHECK(rt_now() - t0 < 10 * RT_SEC);
	/* A past deadline with nothing ready. */
	RTT_CHECK(rt_select_until(cs, 1, rt_now() - 1) == -ETIMEDOUT);
	/* No channel at all: a sleep. */
	t0 = rt_now();
	RTT_CHECK(rt_select(cs, 0, 2 * RT_MSEC) == -ETIMEDOUT);
	RTT_CHECK(rt_now() - t0 >= 2 * RT_MSEC);
	rt_chan_free(c);
}

static void test_timeout(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, timeout_main, NULL);
}

/* ------------------------------------------------------------------
 * Fairness. With k cases always ready, each is chosen with probability
 * 1/k; over N selects the count of one case is Binomial(N, 1/k), with
 * standard deviation sigma = sqrt(N (1/k)(1 - 1/k)). We accept counts
 * within 5 sigma of N/k: a correct select fails this with probability
 * about 6e-7 per count checked (the normal tail beyond 5 sigma, which is
 * accurate at these N), while a select biased by even 3% toward one of
 * two cases (N = 40000: 5 sigma = 1.25%) fails it.
 * ---------------------------------------------------------------- */
#define FAIR_N rtt_scale(40000)

/* Newton's square root (no libm in the test link). */
static double root(double x)
{
	double r = x > 1 ? x : 1;

	for (int i = 0; i < 100; i++)
		r = (r + x / r) / 2;
	return r;
}

static void fairness_k(int k)
{
	struct rt_chan *c[4];
	struct rt_select_case cs[4];
	long count[4] = { 0 };
	double n = (double)FAIR_N, p = 1.0 / k;
	double sigma = root(n * p * (1 - p));
	int v;

	for (int i = 0; i < k; i++) {
		c[i] = rt_chan_new(sizeof(int), 1);
		rt_chan_sendv(c[i], int, i);
	}
	for (long j = 0; j < FAIR_N; j++) {
		int r;

		for (int i = 0; i < k; i++)
			cs[i] = RT_CASE_RECV(c[i], &v);
		r = rt_select(cs, (size_t)k, RT_SELECT_BLOCK);
		RTT_CHECK(r >= 0 && r < k && v == r);
		if (r < 0 || r >= k)
			break;
		count[r]++;
		rt_chan_send(c[r], &r);         /* ready again */
		if (j % 1000 == 0)
			rt_yield();             /* move between workers */
	}
	for (int i = 0; i < k; i++) {
		double dev = (double)count[i] - n * p;

		RTT_CHECKF(dev <= 5 * sigma && -dev <= 5 * sigma,
			   "k=%d: case %d chosen %ld times of %ld (expected "
			   "%.0f +- %.0f)", k, i, count[i], FAIR_N, n * p,
			   5 * sigma);
		rt_chan_free(c[i]);
	}
}

static void fairness_main(void *arg)
{
	fairness_k(2);
	fairness_k(4);
}

static void test_fairness(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, fairness_main, NULL);
}

/* ------------------------------------------------------------------
 * Exact counts through selects: producers send each message to
 * whichever of 4 channels is ready; consumers take from whichever is
 * ready; at the end the channels close, and consumers turn a closed
 * channel's case off (NULL) until none is left.
 * ---------------------------------------------------------------- */
#define PRODUCERS 6
#define CONSUMERS 6
#define PER_PRODUCER rtt_scale(10000)

struct sc {
	struct rt_chan *c[NCH];
	struct rt_wg prod, cons;
	_Atomic long got, sum;
	_Atomic int id;
};

static void sc_producer(void *arg)
{
	struct sc *s = arg;
	struct rt_select_case cs[NCH];
	long base = (long)atomic_fetch_add(&s->id, 1) * PER_PRODUCER;

	for (long i = 0; i < PER_PRODUCER; i++) {
		long v = base + i;

		for (int k = 0; k < NCH; k++)
			cs[k] = RT_CASE_SEND(s->c[k], &v);
		RTT_CHECK(rt_select(cs, NCH, RT_SELECT_BLOCK) >= 0);
	}
	rt_wg_done(&s->prod);
}

static void sc_consumer(void *arg)
{
	struct sc *s = arg;
	struct rt_chan *c[NCH];
	struct rt_select_case cs[NCH];
	long v, n = 0, sum = 0;
	int open = NCH;

	for (int k = 0; k < NCH; k++)
		c[k] = s->c[k];
	while (open) {
		int r;

		for (int k = 0; k < NCH; k++)
			cs[k] = RT_CASE_RECV(c[k], &v);
		r = rt_select(cs, NCH, RT_SELECT_BLOCK);
		RTT_CHECK(r >= 0);
		if (r < 0)
			break;
		if (!cs[r].ok) {
			c[r] = NULL;    /* closed: never ready again */
			open--;
			continue;
		}
		n++;
		sum += v;
	}
	atomic_fetch_add(&s->got, n);
	atomic_fetch_add(&s->sum, sum);
	rt_wg_done(&s->cons);
}

static void counts_main(void *arg)
{
	static const size_t caps[] = { 0, 5 };
	long total = (long)PRODUCERS * PER_PRODUCER;

	for (int round = 0; round < 2; round++) {
		struct sc s = { 0 };

		for (int k = 0; k < NCH; k++)
			s.c[k] = rt_chan_new(sizeof(long), caps[k % 2]);
		rt_wg_add(&s.prod, PRODUCERS);
		rt_wg_add(&s.cons, CONSUMERS);
		for (int i = 0; i < CONSUMERS; i++)
			rt_go(sc_consumer, &s);
		for (int i = 0; i < PRODUCERS; i++)
			rt_go(sc_producer, &s);
		rt_wg_wait(&s.prod);
		for (int k = 0; k < NCH; k++)
			rt_chan_close(s.c[k]);
		rt_wg_wait(&s.cons);
		RTT_CHECKF(atomic_load(&s.got) == total, "%ld of %ld",
			   atomic_load(&s.got), total);
		RTT_CHECK(atomic_load(&s.sum) == total * (total - 1) / 2);
		for (int k = 0; k < NCH; k++)
			rt_chan_free(s.c[k]);
	}
}

static void test_select_counts(void **state)
{
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, counts_main, NULL);
}

/* ------------------------------------------------------------------
 * Close wakes tasks blocked in select; one task's select may send and
 * receive on the same channel (pairs with another such task).
 * ---------------------------------------------------------------- */
struct cs_wake {
	struct rt_chan *a, *b;
	struct rt_wg wg;
	_Atomic int woke;
};

static void select_waiter(void *arg)
{
	struct cs_wake *w = arg;
	struct rt_select_case cs[2];
	int v = 1;

	cs[0] = RT_CASE_RECV(w->a, &v);
	cs[1] = RT_CASE_RECV(w->b, &v);
	if (rt_select(cs, 2, RT_SELECT_BLOCK) == 1 && !cs[1].ok && v == 0)
		atomic_fetch_add(&w->woke, 1);
	rt_wg_done(&w->wg);
}

static void both_ways(void *arg)
{
	struct cs_wake *w = arg;
	struct rt_select_case cs[2];
	int in = -1, out = 5;

	cs[0] = RT_CASE_SEND(w->a, &out);
	cs[1] = RT_CASE_RECV(w->a, &in);
	RTT_CHECK(rt_select(cs, 2, RT_SELECT_BLOCK) >= 0);
	rt_wg_done(&w->wg);
}

static void close_select_main(void *arg)
{
	struct cs_wake w = { 0 };

	w.a = rt_chan_new(sizeof(int), 0);
	w.b = rt_chan_new(sizeof(int), 0);
	rt_wg_add(&w.wg, 100);
	for (int i = 0; i < 100; i++)
		rt_go(select_waiter, &w);
	rt_sleep(5 * RT_MSEC);
	rt_chan_close(w.b);
	rt_wg_wait(&w.wg);
	RTT_CHECK(atomic_load(&w.woke) == 100);

	rt_wg_add(&w.wg, 2 * 50);
	for (int i = 0; i < 2 * 50; i++)
		rt_go(both_ways, &w);
	rt_wg_wait(&w.wg);
	rt_chan_free(w.a);
	rt_chan_free(w.b);
}

static void test_close_wakes_select(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, close_select_main, NULL);
}

/* ------------------------------------------------------------------
 * Freeing the other channels of a select as soon as it was completed:
 * the woken task may not yet have taken its waiters off them, and
 * rt_chan_free waits for it (a use after free otherwise).
 * ---------------------------------------------------------------- */
struct fa {
	struct rt_chan *a, *b;
};

static void fa_selector(void *arg)
{
	struct fa *f = arg;
	struct rt_select_case cs[2];
	int v;

	cs[0] = RT_CASE_RECV(f->a, &v);
	cs[1] = RT_CASE_RECV(f->b, &v);
	RTT_CHECK(rt_select(cs, 2, RT_SELECT_BLOCK) == 0 && v == 1);
}

static void free_after_main(void *arg)
{
	for (int i = 0; i < rtt_scale(3000); i++) {
		struct fa f;

		f.a = rt_chan_new(sizeof(int), 0);
		f.b = rt_chan_new(sizeof(int), 0);
		rt_go(fa_selector, &f);
		rt_chan_sendv(f.a, int, 1);     /* completes the select */
		rt_chan_free(f.b);              /* its waiter may be there */
		rt_chan_free(f.a);
	}
}

static void test_free_after_select(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, free_after_main, NULL);
}

/* ------------------------------------------------------------------
 * Misuse
 * ---------------------------------------------------------------- */
static void select_send_closed_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 4);
	struct rt_select_case cs[1];
	int v = 1;

	rt_chan_close(c);
	cs[0] = RT_CASE_SEND(c, &v);
	rt_select(cs, 1, RT_SELECT_NONBLOCK);
}

static void select_send_closed(void *arg)
{
	rtt_run_misuse(select_send_closed_main);
}

static void select_sender(void *arg)
{
	struct rt_select_case cs[1];
	int v = 1;

	cs[0] = RT_CASE_SEND(arg, &v);
	rt_select(cs, 1, RT_SELECT_BLOCK);
}

static void select_closed_under_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);

	rt_go(select_sender, c);
	rt_sleep(10 * RT_MSEC);
	rt_chan_close(c);
	rt_sleep(RT_SEC);
}

static void select_closed_under(void *arg)
{
	rtt_run_misuse(select_closed_under_main);
}

static void select_outside(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);
	struct rt_select_case cs[1];
	int v;

	cs[0] = RT_CASE_RECV(c, &v);
	rt_select(cs, 1, RT_SELECT_BLOCK);
}

static void test_misuse(void **state)
{
	(void)state;
	rtt_expect_panic(select_send_closed, "rt_select: send on closed channel");
	rtt_expect_panic(select_closed_under, "rt_select: send on closed channel");
	rtt_expect_panic(select_outside, "rt_select: called outside a task");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_default_only_when_none_ready),
		RT_TEST(test_timeout),
		RT_TEST(test_fairness),
		RT_TEST(test_select_counts),
		RT_TEST(test_close_wakes_select),
		RT_TEST(test_free_after_select),
		cmocka_unit_test(test_misuse),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_select", tests, NULL, NULL);
}
