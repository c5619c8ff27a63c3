/*
 * Channels and select for tasks (Go's runtime/chan.go and select.go).
 *
 * A channel is a ring buffer of `cap` fixed-size elements and two FIFO
 * queues of parked tasks, the senders and the receivers, each task
 * represented by a waiter record on its own stack (vocab.h; Go's sudog).
 * A send that finds a receiver waiting copies the element straight into
 * the receiver's variable and unparks it; a receive that finds a sender
 * waiting takes its element (through the buffer's head, when there is a
 * buffer, so that FIFO order holds) and unparks it. Otherwise the
 * element goes through the buffer, or the task queues itself and parks,
 * with the channel's lock released by rt__park's unlock callback once it
 * is parked.
 *
 * Invariants (under c->lock):
 *   - At least one of c->sendq and c->recvq is empty — except when one
 *     task in select waits to send and to receive on the same unbuffered
 *     channel.
 *   - Buffered channels: count > 0 implies recvq is empty; count < cap
 *     implies sendq is empty.
 *   - closed implies sendq is empty (closing wakes every waiter, and
 *     sends on a closed channel stop the program).
 *   - A waiter on a queue belongs to a parked (or parking) task.
 *
 * select (rt_select_until). The cases are shuffled into a random poll
 * order (so that among ready cases each is chosen with equal chance) and
 * sorted by channel address into a lock order; every channel is locked in
 * that order (no deadlock between two selects), the cases are polled,
 * and if none is ready the task puts one waiter per case on the
 * channels' queues and parks. Whoever takes one of those waiters off a
 * queue must first win sel.done (vocab.h): so one case completes the
 * select, the others are dropped. Woken, the task locks every channel
 * again and takes its remaining waiters off their queues. A timeout is a
 * timer (timer.c) whose callback competes for sel.done like a channel;
 * it is armed with its heap still locked, and the heap unlocked with the
 * channels once the task is parked, so it cannot fire before.
 * The waiter records and the poll and lock orders are kept in the
 * cases' rt_private space: select allocates nothing.
 *
 * Element copies are rt__copy (vocab.h), never memcpy: this is task code
 * (see rt.h's rules).
 *
 * Locks: c->lock (a spinlock) protects everything in the channel but
 * elem_size and cap (constant). Order: channel locks by address, then a
 * timer heap's lock, then sched.c's (rt__unpark's). docs/LOCKING.md.
 */
#include <errno.h>
#include <stddef.h>

#include "vocab.h"

#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

struct rt__waitq {
	struct rt__waiter *first, *last;
};

struct rt_chan {
	struct rt__spinlock lock;
	uint32_t closed;
	size_t elem_size;
	size_t cap;
	_Atomic size_t count;       /* elements in buf (read by len unlocked) */
	size_t sendx, recvx;        /* next slot to fill / to empty */
	struct rt__waitq recvq, sendq;
	char *buf;
};

/* What select keeps in each case's rt_private space. */
struct case_priv {
	struct rt__waiter w;
	uint32_t poll;              /* slot k of the poll order */
	uint32_t lock;              /* slot k of the lock order */
};
_Static_assert(sizeof(struct case_priv) <=
	       sizeof(((struct rt_select_case *)0)->rt_private),
	       "rt_select_case.rt_private too small");

static inline struct case_priv *priv(struct rt_select_case *cs)
{
	return (struct case_priv *)cs->rt_private;
}

/* ------------------------------------------------------------------
 * Wait queues (under the channel's lock)
 * ---------------------------------------------------------------- */

static inline void wq_push(struct rt__waitq *q, struct rt__waiter *w)
{
	w->next = NULL;
	w->prev = q->last;
	if (q->last)
		q->last->next = w;
	else
		q->first = w;
	q->last = w;
	w->queued = 1;
}

static inline void wq_unlink(struct rt__waitq *q, struct rt__waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->first = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->last = w->prev;
	w->queued = 0;
}

/* Take the first waiter that may be completed: a plain one, or one of a
 * select that we win. Losers stay off the queue; their select cleans
 * up the rest. */
static inline struct rt__waiter *wq_take(struct rt__waitq *q)
{
	struct rt__waiter *w;

	while ((w = q->first) != NULL) {
		uint32_t zero = 0;

		wq_unlink(q, w);
		if (likely(!w->sel))
			return w;
		if (atomic_compare_exchange_strong_explicit(
			    &w->sel->done, &zero, 1, memory_order_acq_rel,
			    memory_order_relaxed)) {
			w->sel->winner = (int32_t)w->idx;
			return w;
		}
	}
	return NULL;
}

/* ------------------------------------------------------------------
 * The operations, with c locked. 1: done (*wake: a task to unpark after
 * unlocking, or NULL); 0: it would block.
 * ---------------------------------------------------------------- */

/* The running task, or NULL (inline: rt__current is a call). */
static inline struct rt_task *cur_task(void)
{
	struct rt_worker *w = rt__self();

	return w ? w->cur : NULL;
}

static inline char *slot(struct rt_chan *c, size_t i)
{
	return c->buf + i * c->elem_size;
}

static inline __attribute__((always_inline))
int send_locked(struct rt_chan *c, const void *elem,
			      struct rt_task **wake)
{
	struct rt__waiter *r = wq_take(&c->recvq);
	size_t n;

	if (r) {
		if (r->elem)
			rt__copy(r->elem, elem, c->elem_size);
		r->success = 1;
		*wake = r->task;
		return 1;
	}
	n = atomic_load_explicit(&c->count, memory_order_relaxed);
	if (n < c->cap) {
		rt__copy(slot(c, c->sendx), elem, c->elem_size);
		if (++c->sendx == c->cap)
			c->sendx = 0;
		atomic_store_explicit(&c->count, n + 1, memory_order_relaxed);
		*wake = NULL;
		return 1;
	}
	return 0;
}

static inline __attribute__((always_inline))
int recv_locked(struct rt_chan *c, void *elem, bool *ok,
			      struct rt_task **wake)
{
	struct rt__waiter *s;
	size_t n = atomic_load_explicit(&c->count, memory_order_relaxed);

	*wake = NULL;
	if (unlikely(c->closed) && n == 0) {
		if (elem)
			rt__zero(elem, c->elem_size);
		*ok = false;
		return 1;
	}
	s = wq_take(&c->sendq);
	if (s) {
		if (c->cap == 0) {
			if (elem)
				rt__copy(elem, s->elem, c->elem_size);
		} else {
			/* The buffer is full: take its head, and put the
			 * sender's element at its tail (the same slot). */
			char *p = slot(c, c->recvx);

			if (elem)
				rt__copy(elem, p, c->elem_size);
			rt__copy(p, s->elem, c->elem_size);
			if (++c->recvx == c->cap)
				c->recvx = 0;
			c->sendx = c->recvx;
		}
		s->success = 1;
		*wake = s->task;
		*ok = true;
		return 1;
	}
	if (n > 0) {
		if (elem)
			rt__copy(elem, slot(c, c->recvx), c->elem_size);
		if (++c->recvx == c->cap)
			c->recvx = 0;
		atomic_store_explicit(&c->count, n - 1, memory_order_relaxed);
		*ok = true;
		return 1;
	}
	return 0;
}

static bool chan_unlock(void *c)
{
	rt__spin_unlock(&((struct rt_chan *)c)->lock);
	return true;
}

static __attribute__((noinline, noreturn)) void closed_send(
	struct rt_chan *c, const char *name)
{
	if (c)
		rt__spin_unlock(&c->lock);
	rt__panic("%s: send on closed channel", name);
}

static __attribute__((noinline, noreturn)) void nil_chan(const char *name)
{
	rt__panic("%s: nil channel (a NULL channel never becomes ready; "
		  "this would block for ever)", name);
}

/* ------------------------------------------------------------------
 * Public channel calls
 * ---------------------------------------------------------------- */

struct rt_chan *rt_chan_new(size_t elem_size, size_t cap)
{
	size_t head = (sizeof(struct rt_chan) + 15) & ~(size_t)15;
	struct rt_chan *c;

	if (elem_size > RT_CHAN_ELEM_MAX)
		rt__panic("rt_chan_new: element of %zu bytes (the most is %u)",
			  elem_size, RT_CHAN_ELEM_MAX);
	if (cap > (SIZE_MAX - head) / (elem_size ? elem_size : 1))
		return NULL;
	c = rt__calloc(head + cap * elem_size);
	if (!c)
		return NULL;
	c->elem_size = elem_size;
	c->cap = cap;
	c->buf = (char *)c + head;
	return c;
}

/* Whether c's queues hold only waiters of selects already completed
 * (through another case); stops the program on a live waiter. */
static bool only_stale_waiters(struct rt_chan *c)
{
	struct rt__waitq *qs[2] = { &c->recvq, &c->sendq };
	bool stale = false;

	for (int i = 0; i < 2; i++) {
		for (struct rt__waiter *w = qs[i]->first; w; w = w->next) {
			if (!w->sel || !atomic_load_explicit(
					    &w->sel->done, memory_order_acquire)) {
				rt__spin_unlock(&c->lock);
				rt__panic("rt_chan_free: tasks still wait on "
					  "the channel");
			}
			stale = true;
		}
	}
	return stale;
}

RT__ON_WORKER_STACK static void *sched_yield_on_worker(void *unused)
{
	sys_sched_yield();
	return NULL;
}

/*
 * A select completed through one channel leaves its waiters on the
 * others until its task runs again and takes them off (under each
 * channel's lock): so a channel may be freed right after the task in
 * select was woken — as C code naturally does — we wait for those
 * tasks first (they are runnable: the one who completed the select
 * unparks it).
 */
void rt_chan_free(struct rt_chan *c)
{
	if (!c)
		return;
	for (;;) {
		bool stale;

		rt__spin_lock(&c->lock);
		stale = only_stale_waiters(c);
		rt__spin_unlock(&c->lock);
		if (!stale)
			break;
		if (rt_in_task())
			rt_yield();
		else
			rt_call_on_worker_stack(sched_yield_on_worker, NULL);
	}
	rt__free(c);
}

static __attribute__((noinline)) void send_block(struct rt_chan *c,
						 const void *elem)
{
	struct rt__waiter me;

	me.task = cur_task();
	if (!me.task) {
		rt__spin_unlock(&c->lock);
		rt__need_task("rt_chan_send");
	}
	me.elem = (void *)elem;
	me.c = c;
	me.sel = NULL;
	me.success = 0;
	wq_push(&c->sendq, &me);
	rt__park(chan_unlock, c);
	if (!me.success)
		closed_send(NULL, "rt_chan_send");
}

void rt_chan_send(struct rt_chan *c, const void *elem)
{
	struct rt_task *wake;

	if (unlikely(!c))
		nil_chan("rt_chan_send");
	rt__spin_lock(&c->lock);
	if (unlikely(c->closed))
		closed_send(c, "rt_chan_send");
	if (likely(send_locked(c, elem, &wake))) {
		rt__spin_unlock(&c->lock);
		if (wake)
			rt__unpark(wake);
		return;
	}
	send_block(c, elem);
}

static __attribute__((noinline)) bool recv_block(struct rt_chan *c,
						 void *elem)
{
	struct rt__waiter me;

	me.task = cur_task();
	if (!me.task) {
		rt__spin_unlock(&c->lock);
		rt__need_task("rt_chan_recv");
	}
	me.elem = elem;
	me.c = c;
	me.sel = NULL;
	me.success = 0;
	wq_push(&c->recvq, &me);
	rt__park(chan_unlock, c);
	/* A close zero-filled *elem. */
	return me.success;
}

bool rt_chan_recv(struct rt_chan *c, void *elem)
{
	struct rt_task *wake;
	bool ok;

	if (unlikely(!c))
		nil_chan("rt_chan_recv");
	rt__spin_lock(&c->lock);
	if (likely(recv_locked(c, elem, &ok, &wake))) {
		rt__spin_unlock(&c->lock);
		if (wake)
			rt__unpark(wake);
		return ok;
	}
	return recv_block(c, elem);
}

int rt_chan_try_send(struct rt_chan *c, const void *elem)
{
	struct rt_task *wake;

	if (!c)
		return -EAGAIN;
	rt__spin_lock(&c->lock);
	if (unlikely(c->closed))
		closed_send(c, "rt_chan_try_send");
	if (send_locked(c, elem, &wake)) {
		rt__spin_unlock(&c->lock);
		if (wake)
			rt__unpark(wake);
		return 0;
	}
	rt__spin_unlock(&c->lock);
	return -EAGAIN;
}

int rt_chan_try_recv(struct rt_chan *c, void *elem, bool *ok)
{
	struct rt_task *wake;
	bool got;

	if (!c)
		return -EAGAIN;
	rt__spin_lock(&c->lock);
	if (recv_locked(c, elem, &got, &wake)) {
		rt__spin_unlock(&c->lock);
		if (wake)
			rt__unpark(wake);
		if (ok)
			*ok = got;
		return 0;
	}
	rt__spin_unlock(&c->lock);
	return -EAGAIN;
}

int rt_chan_send_until(struct rt_chan *c, const void *elem, int64_t deadline)
{
	struct rt_select_case cs = RT_CASE_SEND(c, elem);
	int r;

	if (unlikely(!c))
		nil_chan("rt_chan_send_until");
	r = rt_select_until(&cs, 1, deadline);
	return r < 0 ? r : 0;
}

int rt_chan_recv_until(struct rt_chan *c, void *elem, bool *ok,
		       int64_t deadline)
{
	struct rt_select_case cs = RT_CASE_RECV(c, elem);
	int r;

	if (unlikely(!c))
		nil_chan("rt_chan_recv_until");
	r = rt_select_until(&cs, 1, deadline);
	if (r < 0)
		return r;
	if (ok)
		*ok = cs.ok;
	return 0;
}

void rt_chan_close(struct rt_chan *c)
{
	struct rt__waiter *list = NULL, *w;

	if (!c)
		rt__panic("rt_chan_close: close of nil channel");
	rt__spin_lock(&c->lock);
	if (c->closed) {
		rt__spin_unlock(&c->lock);
		rt__panic("rt_chan_close: close of closed channel");
	}
	c->closed = 1;
	while ((w = wq_take(&c->recvq)) != NULL) {
		if (w->elem)
			rt__zero(w->elem, c->elem_size);
		w->success = 0;
		w->next = list;
		list = w;
	}
	while ((w = wq_take(&c->sendq)) != NULL) {
		w->success = 0;
		w->next = list;
		list = w;
	}
	rt__spin_unlock(&c->lock);
	while (list) {
		struct rt__waiter *next = list->next;

		/* After this, *list (on that task's stack) is not ours. */
		rt__unpark(list->task);
		list = next;
	}
}

size_t rt_chan_len(struct rt_chan *c)
{
	return c ? atomic_load_explicit(&c->count, memory_order_relaxed) : 0;
}

size_t rt_chan_cap(struct rt_chan *c)
{
	return c ? c->cap : 0;
}

size_t rt_chan_elem_size(struct rt_chan *c)
{
	return c ? c->elem_size : 0;
}

/* ------------------------------------------------------------------
 * select
 * ---------------------------------------------------------------- */

struct sel_state {
	struct rt__sel sel;
	struct rt_task *task;
	struct rt_select_case *cs;
	uint32_t m;                 /* cases with a channel */
	bool timed;
	struct rt__timer timer;
};

static uint32_t rand_below(uint32_t n)
{
	struct rt_worker *w = rt__self();
	uint32_t x = w ? w->rand : 0x9e3779b9u;

	/* xorshift32 on the worker's own state (owner-only: the caller
	 * runs on it). */
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	if (w)
		w->rand = x;
	return (uint32_t)(((uint64_t)x * n) >> 32);
}

static inline struct rt_chan *lock_chan(struct rt_select_case *cs,
					uint32_t k)
{
	return cs[priv(&cs[k])->lock].c;
}

static void lock_all(struct rt_select_case *cs, uint32_t m)
{
	struct rt_chan *prev = NULL;

	for (uint32_t k = 0; k < m; k++) {
		struct rt_chan *c = lock_chan(cs, k);

		if (c != prev)
			rt__spin_lock(&c->lock);
		prev = c;
	}
}

static void unlock_all(struct rt_select_case *cs, uint32_t m)
{
	struct rt_chan *prev = NULL;

	for (uint32_t k = 0; k < m; k++) {
		struct rt_chan *c = lock_chan(cs, k);

		if (c != prev)
			rt__spin_unlock(&c->lock);
		prev = c;
	}
}

/*
 * rt__park's unlock for select. Once a channel is unlocked, a waker may
 * complete the select and unpark the task, which may run on another
 * worker and return, and its stack (st, the cases) be gone. But the
 * task first re-takes every channel lock in lock order (lock_all), so
 * it cannot get past the first one before we release it: so the timer
 * heap first, then the channels in reverse lock order, and nothing read
 * after the last unlock (Go's selunlock).
 */
static bool sel_unlock(void *arg)
{
	struct sel_state *st = arg;
	struct rt_select_case *cs = st->cs;
	uint32_t k = st->m;

	if (st->timed)
		rt__timer_unlock(&st->timer);
	while (k-- > 0) {
		struct rt_chan *c = lock_chan(cs, k);

		if (k > 0 && lock_chan(cs, k - 1) == c)
			continue;       /* locked once: unlock at its first */
		rt__spin_unlock(&c->lock);
	}
	return true;
}

static void sel_timeout(struct rt__timer *t, void *arg, int64_t now)
{
	struct sel_state *st = arg;
	uint32_t zero = 0;

	if (atomic_compare_exchange_strong_explicit(&st->sel.done, &zero, 1,
						    memory_order_acq_rel,
						    memory_order_relaxed)) {
		st->sel.winner = RT__SEL_TIMEOUT;
		rt__unpark(st->task);
	}
}

/* Shuffle the cases with a channel into the poll order, sort them by
 * channel address into the lock order; returns how many there are. */
static uint32_t orders(struct rt_select_case *cs, size_t n)
{
	uint32_t m = 0, i, k;

	for (i = 0; i < n; i++) {
		uint32_t j;

		if (!cs[i].c)
			continue;
		if (cs[i].dir != RT_SELECT_RECV && cs[i].dir != RT_SELECT_SEND)
			rt__panic("rt_select: case %u has no direction", i);
		/* Inside-out Fisher-Yates: a uniform permutation. */
		j = rand_below(m + 1);
		priv(&cs[m])->poll = priv(&cs[j])->poll;
		priv(&cs[j])->poll = i;
		/* Insertion into the lock order (stable, by address). */
		for (k = m; k > 0; k--) {
			uint32_t prev = priv(&cs[k - 1])->lock;

			if ((uintptr_t)cs[prev].c <= (uintptr_t)cs[i].c)
				break;
			priv(&cs[k])->lock = prev;
		}
		priv(&cs[k])->lock = i;
		m++;
	}
	return m;
}

/* Poll the cases (every channel locked) in poll order: the index of the
 * case done, or -1. */
static int poll_cases(struct rt_select_case *cs, uint32_t m,
		      struct rt_task **wake)
{
	for (uint32_t k = 0; k < m; k++) {
		uint32_t i = priv(&cs[k])->poll;
		struct rt_select_case *x = &cs[i];

		if (x->dir == RT_SELECT_RECV) {
			if (recv_locked(x->c, x->elem, &x->ok, wake))
				return (int)i;
		} else {
			if (unlikely(x->c->closed)) {
				unlock_all(cs, m);
				closed_send(NULL, "rt_select");
			}
			if (send_locked(x->c, x->elem, wake))
				return (int)i;
		}
	}
	return -1;
}

static __attribute__((noinline)) int select_block(struct rt_select_case *cs,
						  uint32_t m, int64_t deadline)
{
	struct sel_state st = { .cs = cs, .m = m };
	uint32_t k;
	int r;

	st.task = cur_task();
	if (!st.task) {
		unlock_all(cs, m);
		rt__need_task("rt_select");
	}
	for (k = 0; k < m; k++) {
		uint32_t i = priv(&cs[k])->lock;
		struct rt__waiter *w = &priv(&cs[i])->w;

		w->task = st.task;
		w->elem = cs[i].elem;
		w->c = cs[i].c;
		w->sel = &st.sel;
		w->idx = i;
		w->success = 0;
		wq_push(cs[i].dir == RT_SELECT_RECV ? &cs[i].c->recvq :
			&cs[i].c->sendq, w);
	}
	if (deadline != RT_FOREVER) {
		st.timer.f = sel_timeout;
		st.timer.arg = &st;
		r = rt__timer_start(&st.timer, deadline, 0, true);
		if (r < 0)
			goto out_dequeue;
		st.timed = true;
	}
	rt__park(sel_unlock, &st);
	if (st.timed)
		rt__timer_stop(&st.timer);      /* waits out its callback */
	lock_all(cs, m);
	r = st.sel.winner;
out_dequeue:
	for (k = 0; k < m; k++) {
		uint32_t i = priv(&cs[k])->lock;
		struct rt__waiter *w = &priv(&cs[i])->w;

		if (w->queued)
			wq_unlink(cs[i].dir == RT_SELECT_RECV ?
				  &cs[i].c->recvq : &cs[i].c->sendq, w);
	}
	unlock_all(cs, m);
	if (r == RT__SEL_TIMEOUT)
		return -ETIMEDOUT;
	if (r < 0)
		return r;
	if (cs[r].dir == RT_SELECT_RECV)
		cs[r].ok = priv(&cs[r])->w.success;
	else if (!priv(&cs[r])->w.success)
		closed_send(NULL, "rt_select");
	return r;
}

int rt_select_until(struct rt_select_case *cs, size_t n, int64_t deadline)
{
	struct rt_task *wake = NULL;
	bool nonblock = false;
	uint32_t m;
	int r;

	if (n > UINT32_MAX / 2)
		rt__panic("rt_select: %zu cases", n);
	if (deadline == INT64_MIN)
		nonblock = true;        /* rt_select's default case */
	else if (deadline != RT_FOREVER && deadline <= rt__now())
		nonblock = true;
	m = orders(cs, n);
	if (m == 0) {
		if (nonblock)
			return deadline == INT64_MIN ? -EAGAIN : -ETIMEDOUT;
		if (deadline != RT_FOREVER) {
			r = rt_sleep_until(deadline);
			return r < 0 ? r : -ETIMEDOUT;
		}
		rt__need_task("rt_select");
		rt__park(NULL, NULL);   /* select {}: for ever */
		rt__panic("rt_select: a task blocked for ever was woken");
	}
	lock_all(cs, m);
	r = poll_cases(cs, m, &wake);
	if (r >= 0) {
		unlock_all(cs, m);
		if (wake)
			rt__unpark(wake);
		return r;
	}
	if (nonblock) {
		unlock_all(cs, m);
		return deadline == INT64_MIN ? -EAGAIN : -ETIMEDOUT;
	}
	return select_block(cs, m, deadline);
}

int rt_select(struct rt_select_case *cs, size_t n, int64_t timeout_ns)
{
	if (timeout_ns < 0)
		return rt_select_until(cs, n, RT_FOREVER);
	if (timeout_ns == 0)
		return rt_select_until(cs, n, INT64_MIN);   /* default */
	return rt_select_until(cs, n, rt__now() + timeout_ns);
}
