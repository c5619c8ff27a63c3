/*
 * rt/ channels: exact message counts with many senders and receivers on
 * several workers (unbuffered and buffered), per-sender FIFO order,
 * close waking every waiter, receive-with-ok after close, element sizes,
 * non-blocking and deadline variants, and misuse (in child processes).
 * Each case runs with segmented and with mapped stacks (lib_rt.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib_rt.h"

/* ------------------------------------------------------------------
 * Many senders, many receivers: every message arrives exactly once, and
 * each receiver sees each sender's messages in the order sent.
 * ---------------------------------------------------------------- */
#define SENDERS   8
#define RECEIVERS 8
#define PER_SENDER rtt_scale(15000)
#define ROUNDS    2

struct mm {
	struct rt_chan *c;
	struct rt_wg senders, receivers;
	_Atomic long received;
	_Atomic long sum;
	_Atomic int id;
};

static void mm_sender(void *arg)
{
	struct mm *m = arg;
	int id = atomic_fetch_add(&m->id, 1);

	for (long i = 0; i < PER_SENDER; i++) {
		uint64_t v = (uint64_t)id << 32 | (uint64_t)i;

		rt_chan_send(m->c, &v);
	}
	rt_wg_done(&m->senders);
}

static void mm_receiver(void *arg)
{
	struct mm *m = arg;
	long last[SENDERS], n = 0, sum = 0;
	uint64_t v;

	for (int i = 0; i < SENDERS; i++)
		last[i] = -1;
	while (rt_chan_recv(m->c, &v)) {
		unsigned s = (unsigned)(v >> 32);
		long seq = (long)(uint32_t)v;

		RTT_CHECKF(s < SENDERS, "sender %u", s);
		if (s >= SENDERS)
			break;
		RTT_CHECKF(seq > last[s], "sender %u: %ld after %ld", s, seq,
			   last[s]);
		last[s] = seq;
		n++;
		sum += seq;
	}
	RTT_CHECK(v == 0);      /* zero-filled when closed */
	atomic_fetch_add(&m->received, n);
	atomic_fetch_add(&m->sum, sum);
	rt_wg_done(&m->receivers);
}

static void mm_main(void *arg)
{
	static const size_t caps[] = { 0, 1, 7, 64 };
	long want_sum = SENDERS * (PER_SENDER * (PER_SENDER - 1) / 2);

	for (int round = 0; round < ROUNDS; round++) {
		for (size_t k = 0; k < sizeof(caps) / sizeof(caps[0]); k++) {
			struct mm m = { 0 };

			m.c = rt_chan_new(sizeof(uint64_t), caps[k]);
			RTT_CHECK(m.c != NULL);
			RTT_CHECK(rt_chan_cap(m.c) == caps[k]);
			rt_wg_add(&m.senders, SENDERS);
			rt_wg_add(&m.receivers, RECEIVERS);
			for (int i = 0; i < RECEIVERS; i++)
				rt_go(mm_receiver, &m);
			for (int i = 0; i < SENDERS; i++)
				rt_go(mm_sender, &m);
			rt_wg_wait(&m.senders);
			rt_chan_close(m.c);
			rt_wg_wait(&m.receivers);
			RTT_CHECKF(atomic_load(&m.received) ==
				   SENDERS * PER_SENDER,
				   "cap %zu: %ld received, %ld sent", caps[k],
				   atomic_load(&m.received),
				   SENDERS * PER_SENDER);
			RTT_CHECK(atomic_load(&m.sum) == want_sum);
			RTT_CHECK(rt_chan_len(m.c) == 0);
			rt_chan_free(m.c);
		}
	}
}

static void test_many_to_many(void **state)
{
	/* 4 workers on 2 CPUs: not pinned, so the kernel also preempts
	 * them in the middle of things. */
	struct rt_config cfg = rtt_config(state, 4);

	rtt_run(&cfg, mm_main, NULL);
}

/* ------------------------------------------------------------------
 * close wakes every waiter: receivers get ok == false and a zeroed
 * element; receivers of a buffered channel get the buffered values
 * first.
 * ---------------------------------------------------------------- */
#define WAITERS 200

struct cw {
	struct rt_chan *c;
	struct rt_wg wg;
	_Atomic int entered, woke_closed, got_value;
};

static void cw_receiver(void *arg)
{
	struct cw *w = arg;
	long v = 0x5a5a5a5a;

	atomic_fetch_add(&w->entered, 1);
	if (rt_chan_recv(w->c, &v)) {
		RTT_CHECK(v == 42);
		atomic_fetch_add(&w->got_value, 1);
	} else {
		RTT_CHECKF(v == 0, "closed receive left %ld", v);
		atomic_fetch_add(&w->woke_closed, 1);
	}
	rt_wg_done(&w->wg);
}

static void close_wakes_main(void *arg)
{
	static const size_t caps[] = { 0, 16 };

	for (size_t k = 0; k < 2; k++) {
		struct cw w = { 0 };

		w.c = rt_chan_new(sizeof(long), caps[k]);
		rt_wg_add(&w.wg, WAITERS);
		for (int i = 0; i < WAITERS; i++)
			rt_go(cw_receiver, &w);
		while (atomic_load(&w.entered) < WAITERS)
			rt_yield();
		/* Let them park (they may be parking on other workers). */
		rt_sleep(5 * RT_MSEC);
		for (int i = 0; i < 3; i++)
			rt_chan_sendv(w.c, long, 42);
		rt_chan_close(w.c);
		rt_wg_wait(&w.wg);
		RTT_CHECK(atomic_load(&w.got_value) == 3);
		RTT_CHECK(atomic_load(&w.woke_closed) == WAITERS - 3);
		rt_chan_free(w.c);
	}
}

static void test_close_wakes_all(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, close_wakes_main, NULL);
}

/* ------------------------------------------------------------------
 * Receive-with-ok after close: the buffered values in order, then
 * (0, false) as often as asked; len and cap along the way.
 * ---------------------------------------------------------------- */
static void recv_ok_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 5);
	int v;
	bool ok;

	for (int i = 1; i <= 3; i++)
		rt_chan_sendv(c, int, i * 10);
	RTT_CHECK(rt_chan_len(c) == 3);
	rt_chan_close(c);
	RTT_CHECK(rt_chan_len(c) == 3);
	for (int i = 1; i <= 3; i++) {
		RTT_CHECK(rt_chan_recv(c, &v));
		RTT_CHECK(v == i * 10);
	}
	for (int i = 0; i < 3; i++) {
		v = 7;
		RTT_CHECK(!rt_chan_recv(c, &v));
		RTT_CHECK(v == 0);
		v = 7;
		RTT_CHECK(rt_chan_try_recv(c, &v, &ok) == 0);
		RTT_CHECK(!ok && v == 0);
		RTT_CHECK(rt_chan_recv_until(c, &v, &ok,
					     rt_now() + RT_SEC) == 0);
		RTT_CHECK(!ok);
	}
	RTT_CHECK(rt_chan_len(c) == 0 && rt_chan_cap(c) == 5);
	rt_chan_free(c);
}

static void test_recv_ok_after_close(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, recv_ok_main, NULL);
}

/* ------------------------------------------------------------------
 * Element sizes 0..100 bytes, through buffers that wrap around, and
 * straight between tasks.
 * ---------------------------------------------------------------- */
struct big {
	unsigned char b[100];
};

struct sz {
	struct rt_chan *c;
	size_t size;
	int n;
};

static void fill(unsigned char *p, size_t size, int i)
{
	for (size_t k = 0; k < size; k++)
		p[k] = (unsigned char)(i * 31 + k);
}

static void sz_sender(void *arg)
{
	struct sz *s = arg;
	struct big e;

	for (int i = 0; i < s->n; i++) {
		fill(e.b, s->size, i);
		rt_chan_send(s->c, &e);
		if (i % 5 == 0)
			rt_yield();
	}
	rt_chan_close(s->c);
}

static void sizes_main(void *arg)
{
	static const size_t sizes[] = { 0, 1, 3, 8, 16, 24, 100 };
	static const size_t caps[] = { 0, 3 };

	for (size_t a = 0; a < sizeof(sizes) / sizeof(sizes[0]); a++) {
		for (size_t b = 0; b < 2; b++) {
			struct sz s = { .size = sizes[a], .n = 50 };
			struct big e, want;
			int got = 0;

			s.c = rt_chan_new(s.size, caps[b]);
			RTT_CHECK(rt_chan_elem_size(s.c) == s.size);
			rt_go(sz_sender, &s);
			memset(&e, 0xee, sizeof(e));
			while (rt_chan_recv(s.c, &e)) {
				fill(want.b, s.size, got);
				RTT_CHECKF(memcmp(e.b, want.b, s.size) == 0,
					   "size %zu cap %zu element %d",
					   s.size, caps[b], got);
				/* Nothing past the element is written. */
				RTT_CHECK(e.b[s.size < 100 ? s.size : 99] ==
					  (s.size < 100 ? 0xee :
					   want.b[99]));
				got++;
			}
			RTT_CHECK(got == s.n);
			rt_chan_free(s.c);
		}
	}
}

static void test_element_sizes(void **state)
{
	struct rt_config cfg = rtt_config(state, 2);

	rtt_run(&cfg, sizes_main, NULL);
}

/* ------------------------------------------------------------------
 * Non-blocking and deadline variants.
 * ---------------------------------------------------------------- */
static void parked_receiver(void *arg)
{
	long v;

	RTT_CHECK(rt_chan_recv(arg, &v) && v == 5);
}

static void late_sender(void *arg)
{
	rt_sleep(5 * RT_MSEC);
	rt_chan_sendv(arg, long, 9);
}

static void try_deadline_main(void *arg)
{
	struct rt_chan *u = rt_chan_new(sizeof(long), 0);
	struct rt_chan *b = rt_chan_new(sizeof(long), 1);
	long v = 5;
	bool ok;
	int64_t t0;

	/* Unbuffered with nobody waiting: would block. */
	RTT_CHECK(rt_chan_try_send(u, &v) == -EAGAIN);
	RTT_CHECK(rt_chan_try_recv(u, &v, &ok) == -EAGAIN);
	RTT_CHECK(rt_chan_try_send(NULL, &v) == -EAGAIN);
	RTT_CHECK(rt_chan_try_recv(NULL, &v, &ok) == -EAGAIN);
	/* A receiver parked (one worker: rt_yield runs it until it
	 * parks): try_send hands over. */
	rt_go(parked_receiver, u);
	rt_yield();
	RTT_CHECK(rt_chan_try_send(u, &v) == 0);
	/* Buffered: room for one. */
	RTT_CHECK(rt_chan_try_send(b, &v) == 0);
	RTT_CHECK(rt_chan_try_send(b, &v) == -EAGAIN);
	RTT_CHECK(rt_chan_try_recv(b, &v, &ok) == 0 && ok && v == 5);
	RTT_CHECK(rt_chan_try_recv(b, &v, &ok) == -EAGAIN);

	/* Deadlines pass, and not early. */
	t0 = rt_now();
	RTT_CHECK(rt_chan_recv_until(u, &v, &ok, t0 + 10 * RT_MSEC) ==
		  -ETIMEDOUT);
	RTT_CHECK(rt_now() - t0 >= 10 * RT_MSEC);
	rt_chan_sendv(b, long, 1);
	t0 = rt_now();
	RTT_CHECK(rt_chan_send_until(b, &v, t0 + 10 * RT_MSEC) == -ETIMEDOUT);
	RTT_CHECK(rt_now() - t0 >= 10 * RT_MSEC);
	/* A past deadline is a non-blocking try. */
	RTT_CHECK(rt_chan_recv_until(b, &v, &ok, 0) == 0 && ok && v == 1);
	RTT_CHECK(rt_chan_recv_until(b, &v, &ok, 0) == -ETIMEDOUT);
	/* A value that comes before the deadline. */
	rt_go(late_sender, u);
	RTT_CHECK(rt_chan_recv_until(u, &v, &ok, rt_now() + 10 * RT_SEC) ==
		  0);
	RTT_CHECK(ok && v == 9);
	rt_chan_free(u);
	rt_chan_free(b);
}

static void test_try_and_deadlines(void **state)
{
	struct rt_config cfg = rtt_config(state, 1);

	rtt_run(&cfg, try_deadline_main, NULL);
}

/* Deadline operations under load: many tasks on several workers each
 * use receive-with-deadline on a channel fed slowly; every value is
 * received once, and the timeouts interleave with the transfers. */
#define DL_TASKS 16
#define DL_VALUES rtt_scale(3000)

struct dl {
	struct rt_chan *c;
	struct rt_wg wg;
	_Atomic long got, timeouts;
	_Atomic int closed;
};

static void dl_receiver(void *arg)
{
	struct dl *d = arg;
	long v;
	bool ok;

	for (;;) {
		int r = rt_chan_recv_until(d->c, &v, &ok,
					   rt_now() + 200 * RT_USEC);

		if (r == -ETIMEDOUT) {
			atomic_fetch_add(&d->timeouts, 1);
			continue;
		}
		RTT_CHECK(r == 0);
		if (!ok)
			break;
		atomic_fetch_add(&d->got, 1);
	}
	rt_wg_done(&d->wg);
}

static void dl_main(void *arg)
{
	struct dl d = { 0 };

	d.c = rt_chan_new(sizeof(long), 0);
	rt_wg_add(&d.wg, DL_TASKS);
	for (int i = 0; i < DL_TASKS; i++)
		rt_go(dl_receiver, &d);
	for (long i = 0; i < DL_VALUES; i++) {
		rt_chan_send(d.c, &i);
		if (i % 500 == 0)
			rt_sleep(RT_MSEC);      /* let some time out */
	}
	rt_chan_close(d.c);
	rt_wg_wait(&d.wg);
	RTT_CHECK(atomic_load(&d.got) == DL_VALUES);
	RTT_CHECK(atomic_load(&d.timeouts) > 0);
	rt_chan_free(d.c);
}

static void test_deadlines_under_load(void **state)
{
	struct rt_config cfg = rtt_config(state, 3);

	rtt_run(&cfg, dl_main, NULL);
}

/* ------------------------------------------------------------------
 * Misuse stops the program with a message naming the call.
 * ---------------------------------------------------------------- */
static void send_closed_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 1);

	rt_chan_close(c);
	rt_chan_sendv(c, int, 1);
}

static void send_closed(void *arg)
{
	rtt_run_misuse(send_closed_main);
}

static void close_twice_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(0, 0);

	rt_chan_close(c);
	rt_chan_close(c);
}

static void close_twice(void *arg)
{
	rtt_run_misuse(close_twice_main);
}

static void close_nil_main(void *arg)
{
	rt_chan_close(NULL);
}

static void close_nil(void *arg)
{
	rtt_run_misuse(close_nil_main);
}

static void blocked_sender(void *arg)
{
	rt_chan_sendv(arg, int, 1);
}

static void close_under_sender_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);

	rt_go(blocked_sender, c);
	rt_sleep(10 * RT_MSEC);
	rt_chan_close(c);
	rt_sleep(RT_SEC);
}

static void close_under_sender(void *arg)
{
	rtt_run_misuse(close_under_sender_main);
}

static void recv_outside(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);
	int v;

	rt_chan_recv(c, &v);
}

static void free_waited_main(void *arg)
{
	struct rt_chan *c = rt_chan_new(sizeof(int), 0);

	rt_go(blocked_sender, c);
	rt_sleep(10 * RT_MSEC);
	rt_chan_free(c);
}

static void free_waited(void *arg)
{
	rtt_run_misuse(free_waited_main);
}

static void test_misuse(void **state)
{
	(void)state;
	rtt_expect_panic(send_closed, "rt_chan_send: send on closed channel");
	rtt_expect_panic(close_twice, "rt_chan_close: close of closed channel");
	rtt_expect_panic(close_nil, "rt_chan_close: close of nil channel");
	rtt_expect_panic(close_under_sender,
		     "rt_chan_send: send on closed channel");
	rtt_expect_panic(recv_outside, "rt_chan_recv: called outside a task");
	rtt_expect_panic(free_waited,
		     "rt_chan_free: tasks still wait on the channel");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		RT_TEST(test_many_to_many),
		RT_TEST(test_close_wakes_all),
		RT_TEST(test_recv_ok_after_close),
		RT_TEST(test_element_sizes),
		RT_TEST(test_try_and_deadlines),
		RT_TEST(test_deadlines_under_load),
		cmocka_unit_test(test_misuse),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_chan", tests, NULL, NULL);
}
