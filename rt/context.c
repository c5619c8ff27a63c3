/*
 * Contexts for tasks (Go's context package: Background, WithCancel,
 * WithDeadline, WithTimeout; no values).
 *
 * A context is a done channel (elements of size 0) that is closed when
 * the context is cancelled — so a receive case on it fires in any select
 * — an error saying why, and a list of children. Cancelling sets the
 * error, closes the channel (which wakes every task waiting on it,
 * through the channel's own park/unpark), cancels the children with the
 * same error, stops the deadline timer, and takes the context off its
 * parent's list. A child made from a parent that is already cancelled is
 * cancelled at once. A deadline is a timer (timer.c) whose callback
 * cancels the context with -ETIMEDOUT; a child whose parent has an
 * earlier deadline needs no timer of its own: the parent's cancels it.
 *
 * Memory: a context holds a reference on its parent, and a parent's
 * list of children holds one on each child, so rt_ctx_free (the user's
 * reference) may come in any order: the memory goes when the last
 * reference does. rt_ctx_free stops the deadline timer first (waiting
 * out a callback that is running), so no timer fires on freed memory.
 *
 * Invariants:
 *   - err goes from 0 to non-zero once, under c->lock, before done is
 *     closed: a task that saw done closed reads err non-zero.
 *   - c is in parent->children iff c->listed; both change under the
 *     parent's lock. A cancel detaches the whole list under its own lock
 *     and then owns the list's references.
 *
 * Locks: c->lock (a spinlock) protects c->children, err's write, and
 * the `listed` flag and sibling links of c's children. Context locks
 * never nest: a parent's lock is never held while a child's is taken
 * (cancel walks the detached list unlocked), and none is held while the
 * done channel is closed or the timer stopped (docs/LOCKING.md).
 */
#include <errno.h>

#include "vocab.h"

struct rt_ctx {
	struct rt__spinlock lock;
	_Atomic int err;
	_Atomic uint32_t refs;
	struct rt_ctx *parent;
	struct rt_ctx *children;
	struct rt_ctx *sib_next, *sib_prev;
	bool listed;
	bool timed;
	int64_t deadline;           /* INT64_MAX: none */
	struct rt_chan *done;
	struct rt__timer timer;
};

static struct rt_ctx background = { .deadline = INT64_MAX };

struct rt_ctx *rt_ctx_background(void)
{
	return &background;
}

static void ctx_unref(struct rt_ctx *c)
{
	while (c != &background &&
	       atomic_fetch_sub_explicit(&c->refs, 1,
					 memory_order_acq_rel) == 1) {
		struct rt_ctx *p = c->parent;

		rt_chan_free(c->done);
		rt__free(c);
		c = p;
	}
}

static void ctx_cancel(struct rt_ctx *c, int err, bool from_timer)
{
	struct rt_ctx *kids, *k, *p = c->parent;
	bool drop = false;

	rt__spin_lock(&c->lock);
	if (atomic_load_explicit(&c->err, memory_order_relaxed)) {
		rt__spin_unlock(&c->lock);
		return;
	}
	atomic_store_explicit(&c->err, err, memory_order_release);
	kids = c->children;
	c->children = NULL;
	for (k = kids; k; k = k->sib_next)
		k->listed = false;
	rt__spin_unlock(&c->lock);

	rt_chan_close(c->done);
	while (kids) {
		struct rt_ctx *next = kids->sib_next;

		ctx_cancel(kids, err, false);
		ctx_unref(kids);        /* the list's reference */
		kids = next;
	}
	if (c->timed && !from_timer)
		rt__timer_stop(&c->timer);
	if (p != &background) {
		rt__spin_lock(&p->lock);
		if (c->listed) {
			if (c->sib_prev)
				c->sib_prev->sib_next = c->sib_next;
			else
				p->children = c->sib_next;
			if (c->sib_next)
				c->sib_next->sib_prev = c->sib_prev;
			c->listed = false;
			drop = true;
		}
		rt__spin_unlock(&p->lock);
		if (drop)
			ctx_unref(c);   /* the caller still holds one */
	}
}

static void deadline_fire(struct rt__timer *t, void *c, int64_t now)
{
	ctx_cancel(c, -ETIMEDOUT, true);
}

static struct rt_ctx *ctx_new(struct rt_ctx *parent, int64_t deadline,
			      const char *name)
{
	struct rt_ctx *c;
	int err;

	if (!parent)
		rt__panic("%s: parent is NULL", name);
	c = rt__calloc(sizeof(*c));
	if (!c)
		return NULL;
	c->done = rt_chan_new(0, 0);
	if (!c->done) {
		rt__free(c);
		return NULL;
	}
	atomic_store(&c->refs, 1);
	c->parent = parent;
	c->deadline = parent->deadline;
	/* Decided before c is visible to anyone: a cancel must know. */
	if (deadline < parent->deadline) {
		c->deadline = deadline;
		c->timed = true;
		c->timer.f = deadline_fire;
		c->timer.arg = c;
	}
	if (parent != &background) {
		atomic_fetch_add(&parent->refs, 1);
		rt__spin_lock(&parent->lock);
		err = atomic_load_explicit(&parent->err, memory_order_relaxed);
		if (!err) {
			c->sib_prev = NULL;
			c->sib_next = parent->children;
			if (parent->children)
				parent->children->sib_prev = c;
			parent->children = c;
			c->listed = true;
			atomic_fetch_add(&c->refs, 1);
		}
		rt__spin_unlock(&parent->lock);
		if (err) {
			c->timed = false;
			ctx_cancel(c, err, false);
			return c;
		}
	}
	if (c->timed) {
		if (deadline <= rt__now() ||
		    rt__timer_start(&c->timer, deadline, 0, false) < 0) {
			/* Past already (or no room for the timer: cancel
			 * rather than never time out). */
			c->timed = false;
			ctx_cancel(c, -ETIMEDOUT, false);
		}
	}
	return c;
}

struct rt_ctx *rt_ctx_with_cancel(struct rt_ctx *parent)
{
	return ctx_new(parent, INT64_MAX, "rt_ctx_with_cancel");
}

struct rt_ctx *rt_ctx_with_deadline(struct rt_ctx *parent, int64_t deadline)
{
	return ctx_new(parent, deadline, "rt_ctx_with_deadline");
}

struct rt_ctx *rt_ctx_with_timeout(struct rt_ctx *parent, int64_t ns)
{
	return ctx_new(parent, rt__now() + ns, "rt_ctx_with_timeout");
}

void rt_ctx_cancel(struct rt_ctx *c)
{
	if (c && c != &background)
		ctx_cancel(c, -ECANCELED, false);
}

void rt_ctx_free(struct rt_ctx *c)
{
	if (!c || c == &background)
		return;
	ctx_cancel(c, -ECANCELED, false);
	/* Cancelled by its timer or parent first, the timer may still be
	 * armed or running: make sure it is neither before the memory can
	 * go. */
	if (c->timed)
		rt__timer_stop(&c->timer);
	ctx_unref(c);
}

struct rt_chan *rt_ctx_done(struct rt_ctx *c)
{
	return c->done;
}

int rt_ctx_err(struct rt_ctx *c)
{
	return atomic_load_explicit(&c->err, memory_order_acquire);
}

bool rt_ctx_deadline(struct rt_ctx *c, int64_t *deadline)
{
	if (c->deadline == INT64_MAX)
		return false;
	if (deadline)
		*deadline = c->deadline;
	return true;
}
