/*
 * rt/ contexts and the worker pool: a cancel reaches every descendant
 * (and wakes every task waiting on their done channels, in select too);
 * deadlines fire, not early, and reach children; a child of a cancelled
 * parent starts cancelled; freeing in any order; cancels racing frees on
 * several workers; the worker pool's exact results and its closing of
 * the results channel. Each case runs with segmented and with mapped
 * stacks (lib_rt.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "lib_rt.h"

/* ------------------------------------------------------------------
 * A tree: root -> 6 children -> 6 grandchildren each (some with a far
 * deadline); a task waits on every node's done channel (half of them in
 * a select with another channel). Cancelling the root wakes them all,
 * and every node says -ECANCELED.
 * ---------------------------------------------------------------- */
#define KIDS 6
#define NODES (1 + KIDS + KIDS * KIDS)

struct tree {
	struct rt_ctx *node[NODES];
	struct rt_chan *never;
	struct rt_wg wg;
	_Atomic int woke;
	_Atomic int idx;
};

static void done_waiter(void *arg)
{
	struct tree *t = arg;
	int i = atomic_fetch_add(&t->idx, 1);
	struct rt_ctx *c = t->node[i % NODES];

	if (i % 2) {
		RTT_CHECK(!rt_chan_recv(rt_ctx_done(c), NULL));
	} else {
		struct rt_select_case cs[2];
		int v;

		cs[0] = RT_CASE_RECV(t->never, &v);
		cs[1] = RT_CASE_RECV(rt_ctx_done(c), NULL);
		RTT_CHECK(rt_select(cs, 2, RT_SELECT_BLOCK) == 1 && !cs[1].ok);
	}
	RTT_CHECK(rt_ctx_err(c) == -ECANCELED);
	atomic_fetch_add(&t->woke, 1);
	rt_wg_done(&t->wg);
}

static void tree_main(void *arg)
{
	for (int round = 0; round < 3; round++) {
		struct tree t = { 0 };
		int n = 1;

		t.never = rt_chan_new(sizeof(int), 0);
		t.node[0] = rt_ctx_with_cancel(rt_ctx_background());
		for (int i = 0; i < KIDS; i++) {
			struct rt_ctx *k = rt_ctx_with_cancel(t.node[0]);

			t.node[n++] = k;
			for (int j = 0; j < KIDS; j++)
				t.node[n++] = j % 2 ?
					rt_ctx_with_cancel(k) :
					rt_ctx_with_timeout(k, 100 * RT_SEC);
		}
		for (int i = 0; i < NODES; i++) {
			RTT_CHECK(t.node[i] != NULL);
			RTT_CHECK(rt_ctx_err(t.node[i]) == 0);
		}
		rt_wg_add(&t.wg, 2 * NODES);
		for (int i = 0; i < 2 * NODES; i++)
			rt_go(done_waiter, &t);
		rt_sleep(3 * RT_MSEC);
		RTT_CHECK(atomic_load(&t.woke) == 0);
		rt_ctx_cancel(t.node[0]);
		rt_wg_wait(&t.wg);
		RTT_CHECK(atomic_load(&t.woke) == 2 * NODES);
		for (int i = 0; i < NODES; i++)
			RTT_CHECK(rt_ctx_err(t.node[i]) == -ECANCELED);
		/* Free parents first in one round, children first in the
		 * next, mixed in the third. */
		for (int i = 0; i < NODES; i++) {
			int k = round == 0 ? i : round == 1 ? NODES - 1 - i :
				(i * 7) % NODES;

			rt_ctx_free(t.node[k]);
		}
		rt_chan_free(t.never);
	}
}

static void test_cancel_reaches_children(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, tree_main, NULL);
}

/* ------------------------------------------------------------------
 * Deadlines.
 * ---------------------------------------------------------------- */
static void deadline_main(void *arg)
{
	struct rt_ctx *bg = rt_ctx_background();
	int64_t t0 = rt_now(), d;
	struct rt_ctx *p = rt_ctx_with_timeout(bg, 20 * RT_MSEC);
	struct rt_ctx *later = rt_ctx_with_timeout(p, 10 * RT_SEC);
	struct rt_ctx *sooner = rt_ctx_with_timeout(p, 5 * RT_MSEC);
	struct rt_ctx *plain = rt_ctx_with_cancel(p);
	struct rt_ctx *past, *dead;

	RTT_CHECK(!rt_ctx_deadline(bg, &d));
	RTT_CHECK(rt_ctx_done(bg) == NULL && rt_ctx_err(bg) == 0);
	RTT_CHECK(rt_ctx_deadline(p, &d) && d >= t0 + 20 * RT_MSEC);
	/* A later deadline than the parent's is the parent's. */
	RTT_CHECK(rt_ctx_deadline(later, &d) && rt_ctx_deadline(p, &t0) &&
		  d == t0);
	/* Each fires at or after its own deadline (never asserted: how
	 * late; so not that p is still running when sooner fires). */
	RTT_CHECK(rt_ctx_deadline(sooner, &d) && d < t0);
	RTT_CHECK(!rt_chan_recv(rt_ctx_done(sooner), NULL));
	RTT_CHECK(rt_now() >= d);
	RTT_CHECK(rt_ctx_err(sooner) == -ETIMEDOUT);
	RTT_CHECK(!rt_chan_recv(rt_ctx_done(plain), NULL));
	RTT_CHECK(rt_now() >= t0);
	/* A cancel reaches the children one after another (as in Go):
	 * wait for each before looking at its error. */
	RTT_CHECK(!rt_chan_recv(rt_ctx_done(p), NULL));
	RTT_CHECK(!rt_chan_recv(rt_ctx_done(later), NULL));
	RTT_CHECK(rt_ctx_err(p) == -ETIMEDOUT);
	RTT_CHECK(rt_ctx_err(plain) == -ETIMEDOUT);
	RTT_CHECK(rt_ctx_err(later) == -ETIMEDOUT);
	/* A deadline already past: cancelled at once. */
	past = rt_ctx_with_deadline(bg, rt_now() - 1);
	RTT_CHECK(rt_ctx_err(past) == -ETIMEDOUT);
	/* A child of a cancelled parent: cancelled, with its error. */
	dead = rt_ctx_with_timeout(p, 10 * RT_SEC);
	RTT_CHECK(rt_ctx_err(dead) == -ETIMEDOUT);
	RTT_CHECK(!rt_chan_recv(rt_ctx_done(dead), NULL));
	rt_ctx_cancel(dead);            /* idempotent */
	RTT_CHECK(rt_ctx_err(dead) == -ETIMEDOUT);
	rt_ctx_free(dead);
	rt_ctx_free(past);
	rt_ctx_free(sooner);
	rt_ctx_free(p);
	rt_ctx_free(later);
	rt_ctx_free(plain);
	/* Freed while its deadline is pending: the timer goes too. */
	rt_ctx_free(rt_ctx_with_timeout(bg, RT_MSEC));
	rt_sleep(3 * RT_MSEC);
}

static void test_deadline(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, deadline_main, NULL);
}

/* ------------------------------------------------------------------
 * Races: on four workers, tasks make children of a shared parent with
 * short deadlines, free them, and cancel them, while the parent is
 * cancelled under them.
 * ---------------------------------------------------------------- */
struct race {
	struct rt_ctx *parent;
	struct rt_wg wg;
};

static void race_task(void *arg)
{
	struct race *r = arg;

	for (int i = 0; i < 200; i++) {
		struct rt_ctx *a = rt_ctx_with_timeout(r->parent,
						       (i % 5) * 100 * RT_USEC);
		struct rt_ctx *b = rt_ctx_with_cancel(a);

		if (i % 3 == 0)
			rt_ctx_cancel(a);
		if (i % 7 == 0)
			rt_yield();
		if (i % 2)
			rt_ctx_free(a);
		rt_ctx_free(b);
		if (i % 2 == 0)
			rt_ctx_free(a);
	}
	rt_wg_done(&r->wg);
}

static void race_main(void *arg)
{
	for (int round = 0; round < 5; round++) {
		struct race r = { 0 };

		r.parent = rt_ctx_with_cancel(rt_ctx_background());
		rt_wg_add(&r.wg, 16);
		for (int i = 0; i < 16; i++)
			rt_go(race_task, &r);
		rt_sleep(RT_MSEC);
		rt_ctx_cancel(r.parent);
		rt_wg_wait(&r.wg);
		rt_ctx_free(r.parent);
	}
	/* Let the last deadlines pass with nothing left to fire on. */
	rt_sleep(2 * RT_MSEC);
}

static void test_cancel_races(void **state)
{
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, race_main, NULL);
}

/* ------------------------------------------------------------------
 * The worker pool: every job done once, results exact, results closed
 * when the last worker ends.
 * ---------------------------------------------------------------- */
#define JOBS rtt_scale(20000)

struct job {
	long n;
};

struct res {
	long n, square;
	unsigned worker;
};

static void square(void *arg, unsigned worker, const void *job, void *result)
{
	const struct job *j = job;
	struct res *r = result;

	r->n = j->n;
	r->square = j->n * j->n;
	r->worker = worker;
	atomic_fetch_add((_Atomic long *)arg, 1);
	if (j->n % 64 == 0)
		rt_yield();
}

static void feeder(void *arg)
{
	struct rt_chan *jobs = arg;

	for (long i = 0; i < JOBS; i++)
		rt_chan_send(jobs, &(struct job){ i });
	rt_chan_close(jobs);
}

static void pool_main(void *arg)
{
	for (int round = 0; round < 2; round++) {
		struct rt_chan *jobs = rt_chan_new(sizeof(struct job), 16);
		struct rt_chan *results = rt_chan_new(sizeof(struct res),
						      round ? 0 : 64);
		_Atomic long calls = 0;
		long n = 0, sum = 0, used[8] = { 0 };
		struct rt_workpool *p;
		struct res r;

		p = rt_workpool_start(8, jobs, results, square, &calls);
		RTT_CHECK(p != NULL);
		rt_go(feeder, jobs);
		while (rt_chan_recv(results, &r)) {   /* until closed */
			RTT_CHECK(r.square == r.n * r.n && r.worker < 8);
			n++;
			sum += r.n;
			used[r.worker % 8]++;
		}
		rt_workpool_wait(p);
		RTT_CHECK(n == JOBS && atomic_load(&calls) == JOBS);
		RTT_CHECK(sum == JOBS * (JOBS - 1) / 2);
		rt_chan_free(jobs);
		rt_chan_free(results);
	}
}

static void test_workpool(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, pool_main, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_cancel_reaches_children),
		RT_TEST(test_deadline),
		RT_TEST(test_cancel_races),
		RT_TEST(test_workpool),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_context", tests, NULL, NULL);
}
