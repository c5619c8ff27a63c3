/*
 * Task stacks: two strategies behind one interface (internal.h).
 *
 * segmented (default)
 *   A task starts on a small first segment, a chunk of cfg.segment_size
 *   bytes from a per-worker pool (pool.c). Task code is compiled with
 *   -fsplit-stack: every function's prologue compares %rsp with the limit
 *   at %fs:0x70 and, when its frame does not fit, calls libgcc's
 *   __morestack, which links a new segment (mmap'd, at least 16 KiB
 *   here) and runs the function there. We fill libgcc's per-context
 *   state ourselves for a chunk libgcc did not allocate:
 *
 *       chunk:  [ margin | usable .................... ]
 *               ^base    ^limit = base + margin        ^top = initial sp
 *
 *       segments = current segment = NULL   (no extra segment yet)
 *       initial_sp.sp  = top
 *       initial_sp.len = size - margin + BACKOFF
 *
 *   __morestack sets the limit BACKOFF bytes above the end of a segment
 *   it returns to, computing that end from initial_sp when it returns to
 *   the first segment; the len above puts the limit back exactly at
 *   base + margin. BACKOFF is 0xe00 in gcc 12; rt__stack_setup reads it
 *   out of the linked __morestack's own instructions and refuses
 *   segmented stacks if they are not what it knows.
 *
 *   The margin is the room below the limit that is used without a check:
 *   small frames (< 256 bytes) are let through the prologue when %rsp is
 *   at the limit, then __morestack itself pushes 11 registers and calls
 *   __generic_morestack (and mmap through syscall()) on the old stack —
 *   up to about 460 bytes more (FINDINGS.md; docs/segmented-stacks.md).
 *   A canary at the chunk's base is checked when the stack comes back.
 *
 *   Extra segments are libgcc's: it keeps them in the task's list after
 *   a call returns (the next call that crosses the boundary reuses them),
 *   and we give them back to the kernel when the task ends
 *   (__splitstack_releasecontext) and when rt__stack_trim asks.
 *
 * mapped
 *   A region of cfg.mapped_size bytes per task, reserved (MAP_NORESERVE)
 *   and committed page by page as the task touches it, with a guard page
 *   below it. Many regions share one mapping; the guards are installed
 *   with MADV_GUARD_INSTALL (Linux 6.13+), which adds no mapping — one
 *   mprotect'd page per stack would split the mapping and run into
 *   vm.max_map_count (65530) at about 32,000 stacks. Older kernels get
 *   mprotect, with that limit. The limit at %fs:0x70 is 0 for these
 *   tasks: split-stack code never splits, and calls into libc run on the
 *   task's own stack. When a task ends, all but the top two pages of
 *   its stack go back to the kernel (MADV_DONTNEED; see below why always).
 *
 * Shared state: the pools (pool.c); the strategy parameters below are
 * written by rt__stack_setup before any worker starts and only read
 * after (sys_thread_spawn orders them).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Under valgrind (make memcheck), mapped stacks are registered as stacks,
 * so that memcheck knows a switch to one for a switch of stacks. The
 * client requests are a few no-op instructions when not under valgrind. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define RT_HAVE_VALGRIND 1
#endif
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define PAGE 4096ul
#define CANARY 0x5354414b4d415247ull   /* "GRAMKATS" */

/* libgcc (generic-morestack.c). */
extern void __splitstack_releasecontext(void *context[10]);
extern void *__morestack_release_segments(void **pp, int free_dynamic);
/* switch.S: &__morestack (see there why not here). */
extern const unsigned char *const rt__morestack_addr;

/* The head of libgcc's struct stack_segment (its first two fields). */
struct libgcc_segment {
	struct libgcc_segment *prev;
	struct libgcc_segment *next;
};

static struct {
	enum rt_stack_kind kind;
	size_t size;            /* chunk or region size (without guard) */
	size_t margin;          /* segmented */
	size_t backoff;         /* segmented: __morestack's BACKOFF */
	size_t obj_size;        /* pool object: region + guard page */
	bool guard_mprotect;    /* mapped: MADV_GUARD_INSTALL refused */
} S;

static struct rt__pool stack_pool;

/*
 * __morestack begins (gcc 12, x86-64):
 *     55                  push %rbp
 *     48 89 e5            mov  %rsp,%rbp
 *     49 81 c2 imm32      add  $BACKOFF,%r10
 * Return BACKOFF, or 0 when the code is not this.
 */
static size_t morestack_backoff(void)
{
	static const unsigned char head[] = { 0x55, 0x48, 0x89, 0xe5,
					      0x49, 0x81, 0xc2 };
	const unsigned char *p = rt__morestack_addr;
	uint32_t imm;

	if (memcmp(p, head, sizeof(head)) != 0)
		return 0;
	memcpy(&imm, p + sizeof(head), sizeof(imm));
	return imm >= 256 && imm <= 0x10000 ? imm : 0;
}

static int mapped_slab_init(struct rt__pool *p, char *slab)
{
	size_t off;
	int r;

	for (off = 0; off + p->obj_size <= p->slab_size; off += p->obj_size) {
		if (!S.guard_mprotect) {
			r = sys_madvise(slab + off, PAGE, MADV_GUARD_INSTALL);
			if (r == -EINVAL || r == -ENOSYS)
				S.guard_mprotect = true;
			else if (r < 0)
				return r;
		}
		if (S.guard_mprotect) {
			r = sys_mprotect(slab + off, PAGE, PROT_NONE);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

int rt__stack_setup(const struct rt__cfg *cfg)
{
	memset(&stack_pool, 0, sizeof(stack_pool));
	S.kind = cfg->stack;
	if (cfg->stack == RT_STACK_SEGMENTED) {
		S.backoff = morestack_backoff();
		if (!S.backoff) {
			fprintf(stderr, "threadlab: segmented stacks: the linked "
				"libgcc __morestack is not the code rt/ knows "
				"(gcc 12, x86-64); use THREADLAB_STACK=mapped\n");
			return -ENOTSUP;
		}
		S.size = cfg->segment_size;
		S.margin = cfg->segment_margin;
		S.obj_size = S.size;
		stack_pool.name = "segments";
		stack_pool.link_off = 0;        /* in the margin */
		stack_pool.hdr_off = 8;
		/* 256 chunks a slab: 320 KiB for the default 1280 bytes. */
		stack_pool.slab_size = S.obj_size * 256;
		stack_pool.batch = 32;
	} else {
		S.size = cfg->mapped_size;
		S.obj_size = S.size + PAGE;
		stack_pool.name = "mapped stacks";
		stack_pool.link_off = S.obj_size - 8;   /* at the top */
		stack_pool.hdr_off = S.obj_size - 24;
		/* At least 4 MiB and 16 stacks a slab. */
		stack_pool.slab_size = S.obj_size *
			(S.obj_size >= (256u << 10) ? 16 : (4u << 20) / S.obj_size);
		stack_pool.batch = 4;
		stack_pool.slab_init = mapped_slab_init;
	}
	stack_pool.obj_size = S.obj_size;
	return 0;
}

/* A libgcc segment list's length. */
static unsigned count_segments(void *list)
{
	struct libgcc_segment *s;
	unsigned n = 0;

	for (s = list; s; s = s->next)
		n++;
	return n;
}

RT__ON_WORKER_STACK static void *release_all_on_worker(void *ctx_segments)
{
	void *context[10] = { 0 };

	context[0] = *(void **)ctx_segments;
	__splitstack_releasecontext(context);
	*(void **)ctx_segments = NULL;
	return NULL;
}

RT__ON_WORKER_STACK static void *release_after_on_worker(void *seg)
{
	struct libgcc_segment *cur = seg;

	__morestack_release_segments((void **)&cur->next, 1);
	return NULL;
}

/*
 * A mapped stack going back to the pool: give back everything below its
 * top KEEP_PAGES pages (which the next task will touch anyway). One
 * MADV_DONTNEED per ended task: about 0.75 us here when there is nothing
 * to free, 3.5 us when there is. There is no cheaper way to know whether
 * the task went deep: mincore() costs more (1.1 us; it allocates a page
 * for its answer), and the stack pointers seen at switches miss a deep
 * call that returned in between. This is the fallback strategy; the
 * segmented one frees only what a task actually grew.
 */
#define KEEP_PAGES 2

RT__ON_WORKER_STACK static void *dontneed_on_worker(void *region)
{
	if (S.size > KEEP_PAGES * PAGE)
		sys_madvise(region, S.size - KEEP_PAGES * PAGE, MADV_DONTNEED);
	return NULL;
}

int rt__stack_get(struct rt_worker *w, struct rt_task *t)
{
	char *mem, *top, *base;
	void **frame;

	/* On the first segment of the task that switches to t: keep this
	 * shallow (the pool's slow paths move to the worker stack). */
	mem = rt__pool_get(&stack_pool, &w->stack_cache);
	if (!mem)
		return -ENOMEM;
	if (S.kind == RT_STACK_SEGMENTED) {
		base = mem;
		top = mem + S.size;
		*(uint64_t *)base = CANARY;
		t->ctx.guard = base + S.margin;
		t->ctx.initial_sp = top;
		t->ctx.initial_len = S.size - S.margin + S.backoff;
	} else {
		base = mem + PAGE;
		top = mem + S.obj_size;
		t->ctx.guard = NULL;
		t->ctx.initial_sp = NULL;
		t->ctx.initial_len = 0;
#ifdef RT_HAVE_VALGRIND
		t->vg_stack = VALGRIND_STACK_REGISTER(base, top);
#endif
	}
	t->stack = mem;
	t->ctx.segments = NULL;
	t->ctx.cur_segment = NULL;
	t->ctx.err = 0;
	/* The first frame rt__switch pops: %r15, %r14, %r13, %r12 (the
	 * task, for rt__task_entry), %rbx, %rbp, then the return address.
	 * top is 16-byte aligned, so rt__task_entry starts with
	 * %rsp = top, as if called with an aligned stack. */
	frame = (void **)top - 7;
	frame[0] = frame[1] = frame[2] = NULL;
	frame[3] = t;
	frame[4] = frame[5] = NULL;
	frame[6] = (void *)rt__task_entry;
	t->ctx.sp = frame;
	return 0;
}

void rt__stack_put(struct rt_worker *w, struct rt_task *t)
{
	char *mem = t->stack;

	if (!mem)
		return;
	if (S.kind == RT_STACK_SEGMENTED) {
		if (*(uint64_t *)mem != CANARY)
			rt__panic("task %llu overran the margin of its first "
				  "stack segment (%zu bytes; raise "
				  "THREADLAB_STACK_MARGIN)",
				  (unsigned long long)t->id, S.margin);
		if (t->ctx.segments) {
			if (w)
				RT__STAT_ADD(w, segments,
					     count_segments(t->ctx.segments));
			rt_call_on_worker_stack(release_all_on_worker,
						&t->ctx.segments);
		}
	} else {
		rt_call_on_worker_stack(dontneed_on_worker, mem + PAGE);
#ifdef RT_HAVE_VALGRIND
		VALGRIND_STACK_DEREGISTER(t->vg_stack);
#endif
	}
	t->stack = NULL;
	rt__pool_put(&stack_pool, &w->stack_cache, mem);
}

bool rt__stack_has_spare(struct rt_task *t)
{
	struct libgcc_segment *cur = t->ctx.cur_segment;

	return S.kind == RT_STACK_SEGMENTED && t->ctx.segments &&
	       (!cur || cur->next);
}

unsigned rt__stack_trim(struct rt_worker *w, struct rt_task *t)
{
	struct libgcc_segment *cur = t->ctx.cur_segment;
	unsigned n;

	if (S.kind != RT_STACK_SEGMENTED || !t->ctx.segments)
		return 0;
	if (!cur) {
		/* On its first segment: every extra one is unused. */
		n = count_segments(t->ctx.segments);
		rt_call_on_worker_stack(release_all_on_worker,
					&t->ctx.segments);
	} else {
		/* Those after the one in use. */
		n = count_segments(cur->next);
		if (n)
			rt_call_on_worker_stack(release_after_on_worker, cur);
	}
	if (w)
		RT__STAT_ADD(w, segments, n);
	return n;
}

void rt__stack_bounds(struct rt_task *t, char **lo, char **hi, char **limit)
{
	char *mem = t->stack;

	if (!mem) {
		*lo = *hi = *limit = NULL;
		return;
	}
	if (S.kind == RT_STACK_SEGMENTED) {
		*lo = mem;
		*hi = mem + S.size;
		*limit = mem + S.margin;
	} else {
		*lo = mem + PAGE;
		*hi = mem + S.obj_size;
		*limit = NULL;
	}
}

/* Teardown: abandoned tasks may still own libgcc segments. */
static void release_abandoned(void *obj, void *arg)
{
	struct rt_task *t = obj;

	if (atomic_load_explicit(&t->state, memory_order_relaxed) !=
	    RT_TASK_FREE && t->ctx.segments)
		release_all_on_worker(&t->ctx.segments);
}

void rt__stack_teardown(void)
{
	rt__pool_each(&rt__task_pool, release_abandoned, NULL);
	rt__pool_destroy(&stack_pool);
}
