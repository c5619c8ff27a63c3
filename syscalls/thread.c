/*
 * sys_thread: kernel threads made with the clone system call.
 *
 * One mapping per thread, laid out from low to high addresses:
 *
 *     [ guard | stack ............ | static TLS | struct pthread | ctl ]
 *       ^map                         ^stack top   ^tp (%fs base)
 *
 * The guard catches a stack overflow (SIGSEGV instead of silently writing
 * over another mapping). The TLS blocks and glibc's TCB sit at the top, as
 * glibc's own allocate_stack puts them; tls.c fills them. `ctl` is our
 * control block (internal.h).
 *
 * The clone flags, one by one:
 *   CLONE_VM        share the address space: a thread, not a process
 *   CLONE_FS        share cwd, root and umask
 *   CLONE_FILES     share the file descriptor table
 *   CLONE_SIGHAND   share signal handlers (required by CLONE_THREAD)
 *   CLONE_THREAD    same thread group: same PID, one exit_group ends all,
 *                   signals to the process may land on any thread
 *   CLONE_SYSVSEM   share System V semaphore undo lists
 *   CLONE_SETTLS    the child's %fs base = our TCB
 *   CLONE_PARENT_SETTID  the kernel writes the child's tid into the TCB's
 *                   tid field before either thread runs on
 *   CLONE_CHILD_CLEARTID the kernel zeroes that field when the child exits
 *                   and does a (shared) futex wake on it: this is join
 *
 * Signals are blocked around the clone (as musl and Go do): a signal must
 * not reach the child before it has set up its TLS, and a handler run on
 * the new thread would read a half-made TCB. The child restores the
 * spawner's mask once it is ready.
 *
 * Shared state: the cache of spare mappings (`cache`, `cache_len`,
 * `cache_limit`) is protected by `cache_lock`, a leaf lock: nothing else
 * is taken while it is held (docs/LOCKING.md). Statistics are atomics.
 */
#include <errno.h>
#include <linux/prctl.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

/* Helgrind cannot see that the kernel's CLEARTID wake orders the thread's
 * last writes before the joiner's reads; tell it (no-ops outside it). */
#if __has_include(<valgrind/helgrind.h>)
#include <valgrind/helgrind.h>
#else
#define ANNOTATE_HAPPENS_BEFORE(obj) ((void)0)
#define ANNOTATE_HAPPENS_AFTER(obj) ((void)0)
#endif

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102     /* Linux 6.13 */
#endif

#define CLONE_THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES |            \
			    CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |     \
			    CLONE_SETTLS | CLONE_PARENT_SETTID |               \
			    CLONE_CHILD_CLEARTID)

#define PAGE 4096ul
#define GUARD_MAX (64ul << 20)

static struct sys_mutex cache_lock = SYS_MUTEX_INIT;
static struct sys_thread_ctl *cache;   /* spare mappings, newest first */
static unsigned cache_len;
static unsigned cache_limit = 32;

static _Atomic uint64_t n_spawned, n_joined, n_maps, n_reuses;

static size_t round_page(size_t n)
{
	return (n + PAGE - 1) & ~(PAGE - 1);
}

static int sigprocmask_raw(int how, const uint64_t *set, uint64_t *old)
{
	return (int)sys_syscall4(SYS_rt_sigprocmask, how, (long)set, (long)old,
				 sizeof(uint64_t));
}

/* Put a guard over [p, p+len): MADV_GUARD_INSTALL adds it without a new
 * mapping (and so without counting against vm.max_map_count); older
 * kernels get an mprotect'd region instead. */
static int install_guard(void *p, size_t len)
{
	int r = sys_madvise(p, len, MADV_GUARD_INSTALL);

	if (r == -EINVAL || r == -ENOSYS)
		r = sys_mprotect(p, len, PROT_NONE);
	return r;
}

/* A mapping of exactly `size` bytes with `guard` bytes of guard: from the
 * cache if one fits, else a new one. The ctl sits at its top. */
static struct sys_thread_ctl *get_mapping(size_t size, size_t guard)
{
	size_t ctl_size = (sizeof(struct sys_thread_ctl) + 63) & ~63ul;
	struct sys_thread_ctl **pp, *ctl = NULL;
	char *map;
	int r;

	sys_mutex_lock(&cache_lock);
	for (pp = &cache; *pp; pp = &(*pp)->next_free) {
		/* The guard is part of the key: it stays installed. */
		if ((*pp)->map_size == size && (*pp)->guard_size == guard) {
			ctl = *pp;
			*pp = ctl->next_free;
			cache_len--;
			break;
		}
	}
	sys_mutex_unlock(&cache_lock);
	if (ctl) {
		atomic_fetch_add(&n_reuses, 1);
		return ctl;
	}

	map = sys_mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK,
		       -1, 0);
	if (sys_is_error((long)map))
		return NULL;
	r = install_guard(map, guard);
	if (r < 0) {
		sys_munmap(map, size);
		return NULL;
	}
	atomic_fetch_add(&n_maps, 1);
	ctl = (struct sys_thread_ctl *)(map + size - ctl_size);
	ctl->map = map;
	ctl->map_size = size;
	ctl->guard_size = guard;
	return ctl;
}

static void put_mapping(struct sys_thread_ctl *ctl)
{
	sys_mutex_lock(&cache_lock);
	if (cache_len < cache_limit) {
		ctl->next_free = cache;
		cache = ctl;
		cache_len++;
		ctl = NULL;
	}
	sys_mutex_unlock(&cache_lock);
	if (ctl)
		sys_munmap(ctl->map, ctl->map_size);
}

unsigned sys_thread_set_cache_limit(unsigned n)
{
	unsigned old;

	sys_mutex_lock(&cache_lock);
	old = cache_limit;
	cache_limit = n;
	sys_mutex_unlock(&cache_lock);
	if (n < old)
		sys_thread_cache_drain();
	return old;
}

void sys_thread_cache_drain(void)
{
	struct sys_thread_ctl *list;

	sys_mutex_lock(&cache_lock);
	list = cache;
	cache = NULL;
	cache_len = 0;
	sys_mutex_unlock(&cache_lock);
	while (list) {
		struct sys_thread_ctl *next = list->next_free;

		sys_munmap(list->map, list->map_size);
		list = next;
	}
}

void sys_thread_stats(struct sys_thread_stats *out)
{
	out->spawned = atomic_load(&n_spawned);
	out->joined = atomic_load(&n_joined);
	out->maps = atomic_load(&n_maps);
	out->reuses = atomic_load(&n_reuses);
	sys_mutex_lock(&cache_lock);
	out->cached = cache_len;
	sys_mutex_unlock(&cache_lock);
}

/* The child's first C function (called from sys__clone on the new stack,
 * with all signals blocked). */
static int thread_start(void *p)
{
	struct sys_thread_ctl *ctl = p;

	sys__tls_enter(ctl);
	if (ctl->name[0])
		sys_syscall2(SYS_prctl, PR_SET_NAME, (long)ctl->name);
	sigprocmask_raw(SIG_SETMASK, &ctl->sigmask, NULL);
	ctl->ret = ctl->fn(ctl->arg);
	sys__tls_leave();
	ANNOTATE_HAPPENS_BEFORE(ctl);
	/* Back in sys__clone, which calls exit; the kernel then clears the
	 * tid word and wakes the joiner. The stack is not touched after. */
	return 0;
}

static int check_attr(const struct sys_thread_attr *a, cpu_set_t *cpus)
{
	if (a->stack_size &&
	    (a->stack_size < SYS_THREAD_STACK_MIN ||
	     a->stack_size > SYS_THREAD_STACK_MAX))
		return -EINVAL;
	if (a->guard_size > GUARD_MAX)
		return -EINVAL;
	if (a->cpus) {
		cpu_set_t online;
		int r = sys_online_cpus(&online);

		if (r < 0)
			return r;
		CPU_AND(cpus, &online, a->cpus);
		if (CPU_COUNT(cpus) == 0)
			return -EINVAL;
	}
	return 0;
}

int sys_thread_spawn(struct sys_thread *t, const struct sys_thread_attr *attr,
		     sys_thread_fn fn, void *arg)
{
	static const struct sys_thread_attr defaults;
	const struct sys_thread_attr *a = attr ? attr : &defaults;
	uint64_t all = ~0ull, old_mask;
	cpu_set_t cpus, old_cpus;
	size_t stack, guard, size;
	struct sys_thread_ctl *ctl;
	char *stack_top;
	long tid;
	int r;

	if (!t || !fn || t->state == SYS_THREAD_RUNNING)
		return -EINVAL;
	r = check_attr(a, &cpus);
	if (r < 0)
		return r;
	r = sys__tls_init();
	if (r < 0)
		return r;

	stack = round_page(a->stack_size ? a->stack_size
					 : SYS_THREAD_STACK_DEFAULT);
	guard = round_page(a->guard_size ? a->guard_size : PAGE);
	size = guard + stack +
	       round_page(sys__tls_reserve() + sizeof(struct sys_thread_ctl) + 64);
	ctl = get_mapping(size, guard);
	if (!ctl)
		return -ENOMEM;
	ctl->tp = sys__tls_setup((char *)ctl, &stack_top, &ctl->tid);
	if (!ctl->tp) {
		r = -ENOMEM;
		goto out_put_mapping;
	}
	ctl->fn = fn;
	ctl->arg = arg;
	ctl->ret = NULL;
	ctl->next_free = NULL;
	memset(ctl->name, 0, sizeof(ctl->name));
	if (a->name)
		strncpy(ctl->name, a->name, sizeof(ctl->name) - 1);

	sigprocmask_raw(SIG_SETMASK, &all, &old_mask);
	ctl->sigmask = old_mask;
	/* Pinning: the child inherits the spawner's affinity, so setting ours
	 * around the clone pins the child from its first instruction, and the
	 * kernel's refusal comes back to the caller here. */
	if (a->cpus) {
		r = sys_sched_getaffinity(0, &old_cpus);
		if (r == 0)
			r = sys_sched_setaffinity(0, &cpus);
		if (r < 0)
			goto out_restore_mask;
	}
	tid = sys__clone(CLONE_THREAD_FLAGS, stack_top, ctl->tid, ctl->tid,
			 ctl->tp, thread_start, ctl);
	if (a->cpus)
		sys_sched_setaffinity(0, &old_cpus);
	sigprocmask_raw(SIG_SETMASK, &old_mask, NULL);
	if (tid < 0) {
		r = (int)tid;
		goto out_release_tls;
	}
	atomic_fetch_add(&n_spawned, 1);
	t->ctl = ctl;
	t->tid = (int)tid;
	t->state = SYS_THREAD_RUNNING;
	return 0;

out_restore_mask:
	sigprocmask_raw(SIG_SETMASK, &old_mask, NULL);
out_release_tls:
	sys__tls_release(ctl->tp);
out_put_mapping:
	put_mapping(ctl);
	return r;
}

int sys_thread_join(struct sys_thread *t, void **ret)
{
	struct sys_thread_ctl *ctl;
	_Atomic int *word;
	int v;

	if (!t || t->state != SYS_THREAD_RUNNING || !t->ctl)
		return -EINVAL;
	if (t->tid == sys_gettid())
		return -EDEADLK;
	ctl = t->ctl;
	word = ctl->tid;
	/* The kernel zeroes the word and wakes us when the thread is gone;
	 * its wake is a shared one, so this wait must be shared too. */
	while ((v = atomic_load_explicit(word, memory_order_acquire)) != 0)
		sys_futex_wait_shared((_Atomic uint32_t *)word, (uint32_t)v, -1);
	ANNOTATE_HAPPENS_AFTER(ctl);

	if (ret)
		*ret = ctl->ret;
	sys__tls_release(ctl->tp);
	put_mapping(ctl);
	t->ctl = NULL;
	t->state = SYS_THREAD_JOINED;
	atomic_fetch_add(&n_joined, 1);
	return 0;
}

int sys_thread_self_tid(void)
{
	return sys_gettid();
}

int sys_thread_check_libc(void)
{
	return sys__tls_init();
}
