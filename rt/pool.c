/*
 * Fixed-size object pools for task records and stacks.
 *
 * Objects are carved out of slabs mapped with mmap. Each worker keeps a
 * cache of up to two batches of free objects (struct rt__pool_cache,
 * touched by its owner only: no lock, no atomic) in front of the pool's
 * global stack of batches. A cache that runs dry takes a whole batch; a
 * cache that has two full batches and gets one more object gives a whole
 * batch back. Moving a batch is O(1): the first object of a batch holds
 * a header (the next batch, its length), so nothing walks a list of
 * objects whose cache lines another CPU last wrote. A task that starts
 * on one worker and ends on another thus moves memory between workers a
 * batch at a time. (tcmalloc's transfer cache, Go's stack and g caches.)
 *
 * A free object keeps its free-list link at p->link_off and, when it
 * heads a batch, the batch header at p->hdr_off: stacks keep both at
 * their top (their bottom may be a guard page), task records in fields
 * that a free record does not use.
 *
 * Memory goes back to the kernel only in rt__pool_destroy, when the
 * runtime ends: after a burst of a million tasks the pool keeps what it
 * mapped. Stacks give back what they *grew* as soon as a task ends
 * (stack.c); this is only the first segments and records.
 *
 * Shared state: p->batches, p->nbatches and p->slabs are protected by
 * p->lock, a leaf spinlock. A new slab is mapped on the worker's own
 * stack (mmap and malloc are libc code), outside the lock, with its
 * memory on the mapping worker's node; batches that a worker gives back
 * to the pool may later serve a worker of another node (the pool is one
 * for all, not one per node).
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"
#include "numa/topo.h"

struct rt__slab {
	struct rt__slab *next;
	char *mem;
	size_t size;
};

struct batch_hdr {
	void *next;             /* the next batch in p->batches */
	size_t n;               /* objects in this batch */
};

static inline void **link_of(struct rt__pool *p, void *obj)
{
	return (void **)((char *)obj + p->link_off);
}

static inline struct batch_hdr *hdr_of(struct rt__pool *p, void *obj)
{
	return (struct batch_hdr *)((char *)obj + p->hdr_off);
}

/* Push a list of n objects (first object first) as one batch. */
static void push_batch(struct rt__pool *p, void *first, size_t n)
{
	struct batch_hdr *h = hdr_of(p, first);

	h->n = n;
	rt__spin_lock(&p->lock);
	h->next = p->batches;
	p->batches = first;
	p->nbatches++;
	rt__spin_unlock(&p->lock);
}

static void *pop_batch(struct rt__pool *p, unsigned *n)
{
	void *first;

	rt__spin_lock(&p->lock);
	first = p->batches;
	if (first) {
		p->batches = hdr_of(p, first)->next;
		p->nbatches--;
	}
	rt__spin_unlock(&p->lock);
	if (first)
		*n = (unsigned)hdr_of(p, first)->n;
	return first;
}

/* On the worker stack: map a slab, chain its objects into batches, put
 * the first batch in the cache and push the others. */
struct new_slab {
	struct rt__pool *p;
	struct rt__pool_cache *c;
};

RT__ON_WORKER_STACK static void *new_slab_on_worker(void *arg)
{
	struct new_slab *ns = arg;
	struct rt__pool *p = ns->p;
	size_t i, j, n = p->slab_size / p->obj_size;
	struct rt_worker *w;
	struct rt__slab *s;
	char *mem;

	s = malloc(sizeof(*s));
	if (!s)
		return NULL;
	/* From the mapping worker's node (numa/'s plan): the stacks and
	 * records it hands out first live where it runs. */
	w = rt__self();
	mem = topo_alloc_on_node(p->slab_size, w ? w->mem_node : -1, NULL);
	if (!mem)
		goto out_free_node;
	if (p->slab_init && p->slab_init(p, mem) < 0)
		goto out_unmap;
	s->mem = mem;
	s->size = p->slab_size;
	rt__spin_lock(&p->lock);
	s->next = p->slabs;
	p->slabs = s;
	rt__spin_unlock(&p->lock);

	/* Lowest addresses first: stacks then fill a slab upwards in the
	 * order they are handed out. */
	for (i = 0; i < n; i += p->batch) {
		size_t m = n - i < p->batch ? n - i : p->batch;
		char *first = mem + i * p->obj_size;

		for (j = 0; j + 1 < m; j++)
			*link_of(p, first + j * p->obj_size) =
				first + (j + 1) * p->obj_size;
		*link_of(p, first + (m - 1) * p->obj_size) = NULL;
		if (i == 0) {
			ns->c->free = first;
			ns->c->n = (unsigned)m;
		} else {
			push_batch(p, first, m);
		}
	}
	if (w)
		RT__STAT_INC(w, stack_maps);
	return NULL;

out_unmap:
	topo_free(mem, p->slab_size);
out_free_node:
	free(s);
	return NULL;
}

void *rt__pool_refill(struct rt__pool *p, struct rt__pool_cache *c)
{
	if (c->full) {
		c->free = c->full;
		c->n = p->batch;
		c->full = NULL;
	} else {
		c->free = pop_batch(p, &c->n);
		if (!c->free) {
			struct new_slab ns = { p, c };

			rt_call_on_worker_stack(new_slab_on_worker, &ns);
			if (!c->free)
				return NULL;
		}
	}
	return rt__pool_get(p, c);
}

void rt__pool_spill(struct rt__pool *p, struct rt__pool_cache *c)
{
	if (c->full)
		push_batch(p, c->full, p->batch);
	c->full = c->free;
	c->free = NULL;
	c->n = 0;
}

void rt__pool_flush(struct rt__pool *p, struct rt__pool_cache *c)
{
	if (c->full)
		push_batch(p, c->full, p->batch);
	if (c->free)
		push_batch(p, c->free, c->n);
	c->full = c->free = NULL;
	c->n = 0;
}

void rt__pool_each(struct rt__pool *p, void (*fn)(void *obj, void *arg),
		   void *arg)
{
	struct rt__slab *s;
	size_t i, n = p->slab_size / p->obj_size;

	for (s = p->slabs; s; s = s->next)
		for (i = 0; i < n; i++)
			fn(s->mem + i * p->obj_size, arg);
}

void rt__pool_destroy(struct rt__pool *p)
{
	struct rt__slab *s = p->slabs, *next;

	for (; s; s = next) {
		next = s->next;
		topo_free(s->mem, s->size);
		free(s);
	}
	p->slabs = NULL;
	p->batches = NULL;
	p->nbatches = 0;
}

size_t rt__pool_slabs(struct rt__pool *p)
{
	struct rt__slab *s;
	size_t n = 0;

	rt__spin_lock(&p->lock);
	for (s = p->slabs; s; s = s->next)
		n++;
	rt__spin_unlock(&p->lock);
	return n;
}
