/*
 * A worker pool (Go by Example's "Worker Pools" as a helper): n tasks,
 * each receiving jobs from a channel until it is closed and drained,
 * calling fn, and sending the result to a second channel, which the last
 * worker to end closes. rt_workpool_wait is Go's wg.Wait on them.
 *
 * Each worker has its own job and result buffers (sized by the channels'
 * elements) in the pool's one allocation.
 *
 * Shared state: p->left (atomic) counts the workers still running; the
 * wait group p->wg counts them for rt_workpool_wait; everything else is
 * written before the workers start and only read after. The last access
 * a worker makes to p is its rt_wg_add.
 */
#include <errno.h>

#include "vocab.h"

struct wp_worker {
	struct rt_workpool *p;
	unsigned id;
	char *job, *result;
};

struct rt_workpool {
	struct rt_chan *jobs, *results;
	void (*fn)(void *arg, unsigned worker, const void *job, void *result);
	void *arg;
	unsigned n;
	_Atomic unsigned left;
	struct rt_wg wg;
	struct wp_worker w[];
};

/* `count` workers are done (more than one when some never started). */
static void wp_exit(struct rt_workpool *p, unsigned count)
{
	if (atomic_fetch_sub(&p->left, count) == count && p->results)
		rt_chan_close(p->results);
	rt_wg_add(&p->wg, -(int)count);
}

static void wp_task(void *arg)
{
	struct wp_worker *me = arg;
	struct rt_workpool *p = me->p;

	while (rt_chan_recv(p->jobs, me->job)) {
		p->fn(p->arg, me->id, me->job, me->result);
		if (p->results)
			rt_chan_send(p->results, me->result);
	}
	wp_exit(p, 1);
}

static size_t align16(size_t n)
{
	return (n + 15) & ~(size_t)15;
}

struct rt_workpool *rt_workpool_start(unsigned n, struct rt_chan *jobs,
				      struct rt_chan *results,
				      void (*fn)(void *, unsigned,
						 const void *, void *),
				      void *arg)
{
	size_t js, rs, head;
	struct rt_workpool *p;
	char *buf;
	unsigned i;

	rt__need_task("rt_workpool_start");
	if (!n || !jobs || !fn)
		rt__panic("rt_workpool_start: needs n > 0, a jobs channel "
			  "and fn");
	js = align16(rt_chan_elem_size(jobs));
	rs = results ? align16(rt_chan_elem_size(results)) : 0;
	head = align16(sizeof(*p) + n * sizeof(p->w[0]));
	p = rt__calloc(head + n * (js + rs));
	if (!p)
		return NULL;
	p->jobs = jobs;
	p->results = results;
	p->fn = fn;
	p->arg = arg;
	p->n = n;
	atomic_store(&p->left, n);
	rt_wg_add(&p->wg, (int)n);
	buf = (char *)p + head;
	for (i = 0; i < n; i++) {
		p->w[i].p = p;
		p->w[i].id = i;
		p->w[i].job = buf;
		buf += js;
		p->w[i].result = results ? buf : NULL;
		buf += rs;
	}
	for (i = 0; i < n; i++) {
		if (rt_go(wp_task, &p->w[i]) == 0)
			continue;
		if (i == 0) {           /* none started: undo */
			rt__free(p);
			return NULL;
		}
		wp_exit(p, n - i);      /* run with the i that started */
		break;
	}
	return p;
}

void rt_workpool_wait(struct rt_workpool *p)
{
	rt_wg_wait(&p->wg);
	rt__free(p);
}
