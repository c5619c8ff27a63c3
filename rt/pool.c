/*
 * Fixed-size object pools for task records and stacks.
 *
 * Objects are carved out of slabs mapped with mmap. Each worker keeps a
 * small cache of free objects (struct rt__pool_cache, touched by its
 * owner only, so no lock and no atomic), in front of the pool's global
 * free list. A cache that runs dry takes a batch from the global list; a
 * cache that holds more than two batches gives one back. So a task that
 * starts on one worker and ends on another moves memory between caches
 * in batches, not one object at a time. (Go's gfget/gfput and stack
 * caches do the same.)
 *
 * A free object keeps its free-list link at p->link_off: a stack's link
 * lives at its top (its bottom may be a guard page).
 *
 * Memory goes back to the kernel only in rt__pool_destroy, when the
 * runtime ends: after a burst of a million tasks the pool keeps what it
 * mapped. Stacks give back what they *grew* as soon as a task ends
 * (stack.c); this is only the first segments and records.
 *
 * Shared state: p->free, p->nfree and p->slabs are protected by p->lock,
 * a leaf spinlock. A new slab is mapped on the worker's own stack (mmap
 * is libc code), outside the lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "internal.h"

struct rt__slab {
	struct rt__slab *next;
	char *mem;
	size_t size;
};

static inline void **link_of(struct rt__pool *p, void *obj)
{
	return (void **)((char *)obj + p->link_off);
}

/* On the worker stack: map a slab and chain its objects. */
struct new_slab {
	struct rt__pool *p;
	void *first, *last;     /* the chain of new objects */
	unsigned n;
	int err;
};

RT__ON_WORKER_STACK static void *new_slab_on_worker(void *arg)
{
	struct new_slab *ns = arg;
	struct rt__pool *p = ns->p;
	struct rt__slab *s;
	char *mem;
	size_t i, n = p->slab_size / p->obj_size;

	s = malloc(sizeof(*s));
	if (!s) {
		ns->err = -ENOMEM;
		return NULL;
	}
	mem = sys_mmap(NULL, p->slab_size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (sys_is_error((long)mem)) {
		ns->err = (int)(long)mem;
		goto out_free_node;
	}
	if (p->slab_init) {
		ns->err = p->slab_init(p, mem);
		if (ns->err < 0)
			goto out_unmap;
	}
	/* Chain from the top of the slab down, so that the first object
	 * handed out is the lowest one (stacks then fill the slab upwards
	 * in the order they are used). */
	ns->first = mem;
	for (i = 0; i + 1 < n; i++)
		*link_of(p, mem + i * p->obj_size) = mem + (i + 1) * p->obj_size;
	*link_of(p, mem + (n - 1) * p->obj_size) = NULL;
	ns->last = mem + (n - 1) * p->obj_size;
	ns->n = (unsigned)n;
	s->mem = mem;
	s->size = p->slab_size;
	rt__spin_lock(&p->lock);
	s->next = p->slabs;
	p->slabs = s;
	rt__spin_unlock(&p->lock);
	return NULL;

out_unmap:
	sys_munmap(mem, p->slab_size);
out_free_node:
	free(s);
	return NULL;
}

/* Refill an empty cache: a batch from the global list, else a new slab. */
static int refill(struct rt__pool *p, struct rt__pool_cache *c)
{
	struct new_slab ns = { .p = p };
	void *list, **tailp;
	unsigned n = 0;

	rt__spin_lock(&p->lock);
	list = p->free;
	tailp = &list;
	while (*tailp && n < p->batch) {
		tailp = link_of(p, *tailp);
		n++;
	}
	p->free = *tailp;
	p->nfree -= n;
	*tailp = NULL;
	rt__spin_unlock(&p->lock);
	if (n) {
		c->free = list;
		c->n = n;
		return 0;
	}

	rt_call_on_worker_stack(new_slab_on_worker, &ns);
	if (!ns.first)
		return ns.err ? ns.err : -ENOMEM;
	{
		struct rt_worker *w = rt__self();

		if (w)
			RT__STAT_INC(w, stack_maps);
	}
	c->free = ns.first;
	c->n = ns.n;
	return 0;
}

void *rt__pool_get(struct rt__pool *p, struct rt__pool_cache *c)
{
	void *obj;

	if (!c->free && refill(p, c) < 0)
		return NULL;
	obj = c->free;
	c->free = *link_of(p, obj);
	c->n--;
	return obj;
}

/* Give one batch of the cache back to the global list. */
static void spill(struct rt__pool *p, struct rt__pool_cache *c, unsigned n)
{
	void *first = c->free, *last = first;
	unsigned i;

	for (i = 1; i < n; i++)
		last = *link_of(p, last);
	c->free = *link_of(p, last);
	c->n -= n;
	rt__spin_lock(&p->lock);
	*link_of(p, last) = p->free;
	p->free = first;
	p->nfree += n;
	rt__spin_unlock(&p->lock);
}

void rt__pool_put(struct rt__pool *p, struct rt__pool_cache *c, void *obj)
{
	*link_of(p, obj) = c->free;
	c->free = obj;
	if (++c->n >= 2 * p->batch)
		spill(p, c, p->batch);
}

void rt__pool_flush(struct rt__pool *p, struct rt__pool_cache *c)
{
	if (c->n)
		spill(p, c, c->n);
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
		sys_munmap(s->mem, s->size);
		free(s);
	}
	p->slabs = NULL;
	p->free = NULL;
	p->nfree = 0;
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
