/*
 * The TLS block and thread control block (TCB) of a raw thread, laid out
 * the way glibc expects, so that ordinary libc code runs on the thread.
 *
 * On x86-64 the thread pointer (%fs base, set by CLONE_SETTLS) points at
 * glibc's `struct pthread`, whose first part is the `tcbhead_t` that the
 * compiler and glibc address directly:
 *
 *     tp+0x00 tcb               = tp   (so %fs:0 reads the pointer itself)
 *     tp+0x08 dtv                      (set by _dl_allocate_tls)
 *     tp+0x10 self              = tp
 *     tp+0x18 multiple_threads  = 1    (glibc's SINGLE_THREAD_P reads it)
 *     tp+0x28 stack_guard       copied (gcc's -fstack-protector reads it)
 *     tp+0x30 pointer_guard     copied (glibc's PTR_MANGLE reads it)
 *     tp+0x48 feature_1         copied (CET state)
 *     tp+0x70 split-stack limit = 0    (gcc's -fsplit-stack prologues)
 *
 * The thread's static TLS blocks (every `__thread` variable of the program
 * and its libraries, errno among them) lie just below tp. Rather than
 * copying each module's TLS image by hand, we let glibc do it with the
 * functions pthread_create itself uses: _dl_get_tls_static_info (how big,
 * how aligned), _dl_allocate_tls (allocate the dtv, copy the images) and
 * _dl_deallocate_tls. They are GLIBC_PRIVATE in the shared libc and plain
 * symbols in the static one, so one piece of code serves both.
 *
 * The rest of struct pthread is zero, except the fields below that libc
 * code reads on any thread. Their offsets are not ABI; we take them from
 * the `_thread_db_*` descriptors that glibc exports for libthread_db, and
 * sys__tls_init checks each against the main thread before the first
 * spawn, refusing (-ENOTSUP, with a message) on a libc it does not know:
 *
 *   tid          the thread id; recursive mutexes and ld.so's locks
 *                compare owners with it. CLONE_PARENT_SETTID fills it,
 *                CLONE_CHILD_CLEARTID zeroes it at exit (join waits on it).
 *   robust_prev, robust_head
 *                the robust-mutex list, registered with set_robust_list.
 *   specific[0]  must point at specific_1stblock, or pthread keys below 32
 *                have nowhere to live and their destructors never run.
 *   rseq_area    registered with the rseq system call, so sched_getcpu()
 *                reads the CPU from memory.
 *
 * Process-wide, once before the first raw thread (what the first
 * pthread_create would do): __libc_single_threaded = 0 (else malloc takes
 * no locks), the main thread's multiple_threads = 1, _IO_enable_locks()
 * (else stdio takes no locks).
 *
 * Shared state: `g` below is written once under sys_once and only read
 * after; the once's release/acquire orders it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <sys/single_threaded.h>

#include "internal.h"

/* glibc's private interface (see above). */
extern void _dl_get_tls_static_info(size_t *size, size_t *align);
extern void *_dl_allocate_tls(void *mem);
extern void _dl_deallocate_tls(void *tcb, bool dealloc_tcb);
extern void __ctype_init(void);
extern void __call_tls_dtors(void);
extern void _IO_enable_locks(void);
/* Only the static libc exports it; the Makefile's static link pulls it in
 * (-Wl,-u,__libc_thread_freeres). Frees malloc's per-thread cache. */
extern void __libc_thread_freeres(void) __attribute__((weak));
extern __thread struct __res_state *__resp;
/* libthread_db descriptors: {size in bits, count, offset}. */
extern const uint32_t _thread_db_sizeof_pthread;
extern const uint32_t _thread_db_sizeof_pthread_key_data;
extern const uint32_t _thread_db_sizeof_pthread_key_struct;
extern const uint32_t _thread_db_pthread_tid[3];
extern const uint32_t _thread_db_pthread_cancelhandling[3];
extern const uint32_t _thread_db_pthread_specific[3];
/* pthread key registry: {seq, destructor} per key. */
struct key_struct {
	uintptr_t seq;
	void (*destr)(void *);
};
struct key_data {
	uintptr_t seq;
	void *data;
};
extern struct key_struct __pthread_keys[PTHREAD_KEYS_MAX];

/* Weak: a static program has no use for it (and must not be told about
 * static dlopen at link time). */
extern void *dlsym(void *, const char *) __attribute__((weak));

/* Fixed by the x86-64 ABI and gcc (not by glibc's internals). */
#define TCB_TCB          0x00
#define TCB_SELF         0x10
#define TCB_MULTI        0x18
#define TCB_STACK_GUARD  0x28
#define TCB_PTR_GUARD    0x30
#define TCB_FEATURE_1    0x48
#define TCB_SPLIT_LIMIT  0x70

#define KEY_2NDLEVEL_SIZE 32       /* glibc's PTHREAD_KEY_2NDLEVEL_SIZE */
#define RSEQ_SIG_X86 0x53053053    /* glibc's RSEQ_SIG on x86 */
#define RSEQ_LEN_MIN 32            /* kernel's minimum registration size */

/* Everything sys__tls_init learned; read-only afterwards. */
static struct {
	size_t pthread_size;       /* sizeof(struct pthread) */
	size_t static_size;        /* static TLS + TCB, from glibc */
	size_t static_align;
	size_t tid_off;            /* struct pthread offsets */
	size_t robust_prev_off;
	size_t robust_head_off;
	size_t specific_off;       /* specific[32] (pointers to 2nd levels) */
	size_t specific_1st_off;   /* specific_1stblock[32] */
	long robust_futex_offset;  /* copied from the main thread */
	long rseq_offset;          /* __rseq_offset; 0: no rseq area */
	unsigned rseq_size;        /* __rseq_size; 0: glibc did not register */
	int status;                /* 0 or -ENOTSUP */
	char error[256];
} g;

static struct sys_once init_once = SYS_ONCE_INIT;

#define AT(tp, off, type) (*(type *)((char *)(tp) + (off)))

static int refuse(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int refuse(const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(g.error, sizeof(g.error),
			 "raw threads disabled, glibc layout not as expected: ");

	va_start(ap, fmt);
	vsnprintf(g.error + n, sizeof(g.error) - n, fmt, ap);
	va_end(ap);
	return -ENOTSUP;
}

/* Learn the layout and check it against the main thread's own TCB. */
static int check_layout(void)
{
	char *tp = sys_arch_thread_pointer();
	size_t cancel_off;
	void *head = NULL;
	size_t len = 0;

	if (AT(tp, TCB_TCB, char *) != tp || AT(tp, TCB_SELF, char *) != tp)
		return refuse("%%fs:0 and %%fs:0x10 do not hold the thread pointer");
	if ((void *)pthread_self() != (void *)tp)
		return refuse("pthread_self() is not the thread pointer");

	g.pthread_size = _thread_db_sizeof_pthread;
	if (g.pthread_size < 0x400 || g.pthread_size > 0x4000)
		return refuse("sizeof(struct pthread) = %zu", g.pthread_size);
	if (_thread_db_sizeof_pthread_key_data != sizeof(struct key_data) ||
	    _thread_db_sizeof_pthread_key_struct != sizeof(struct key_struct))
		return refuse("pthread key records are %u/%u bytes, not %zu/%zu",
			      _thread_db_sizeof_pthread_key_data,
			      _thread_db_sizeof_pthread_key_struct,
			      sizeof(struct key_data), sizeof(struct key_struct));

	/* tid, then (int pid_unused, void *robust_prev, robust_head). */
	g.tid_off = _thread_db_pthread_tid[2];
	if (_thread_db_pthread_tid[0] != 32 || g.tid_off + 40 > g.pthread_size)
		return refuse("tid descriptor {%u,%u,%u}",
			      _thread_db_pthread_tid[0], _thread_db_pthread_tid[1],
			      _thread_db_pthread_tid[2]);
	if (AT(tp, g.tid_off, int) != sys_gettid())
		return refuse("tid at 0x%zx is %d, gettid() is %d", g.tid_off,
			      AT(tp, g.tid_off, int), sys_gettid());
	g.robust_prev_off = g.tid_off + 8;
	g.robust_head_off = g.tid_off + 16;
	if (sys_syscall3(SYS_get_robust_list, 0, (long)&head, (long)&len) < 0)
		return refuse("get_robust_list failed");
	if (head != tp + g.robust_head_off || len != 3 * sizeof(void *))
		return refuse("robust list head %p (len %zu), expected %p",
			      head, len, (void *)(tp + g.robust_head_off));
	g.robust_futex_offset = AT(tp, g.robust_head_off + 8, long);

	/* cancelhandling, then int flags, then specific_1stblock[]. */
	cancel_off = _thread_db_pthread_cancelhandling[2];
	g.specific_1st_off = cancel_off + 8;
	g.specific_off = _thread_db_pthread_specific[2];
	if (g.specific_off + 32 * sizeof(void *) > g.pthread_size ||
	    AT(tp, g.specific_off, char *) != tp + g.specific_1st_off)
		return refuse("specific[0] at 0x%zx does not point at 0x%zx",
			      g.specific_off, g.specific_1st_off);

	/* glibc keeps the rseq area in struct pthread even when it did not
	 * register it (GLIBC_TUNABLES=glibc.pthread.rseq=0: __rseq_size = 0):
	 * sched_getcpu() still reads cpu_id there, so we must know where it
	 * is either way. */
	if (__rseq_offset != 0) {
		struct rseq *rs = (struct rseq *)(tp + __rseq_offset);

		if (__rseq_offset < 0 ||
		    (size_t)__rseq_offset + sizeof(*rs) > g.pthread_size)
			return refuse("rseq area at tp%+ld outside struct pthread",
				      (long)__rseq_offset);
		if (__rseq_size > 0 && (int)rs->cpu_id < 0)
			return refuse("rseq area at tp%+ld not registered",
				      (long)__rseq_offset);
		g.rseq_offset = __rseq_offset;
		g.rseq_size = __rseq_size;
	}

	_dl_get_tls_static_info(&g.static_size, &g.static_align);
	if (g.static_size <= g.pthread_size || g.static_align == 0 ||
	    (g.static_align & (g.static_align - 1)) || g.static_align > 4096)
		return refuse("static TLS size %zu, align %zu", g.static_size,
			      g.static_align);
	return 0;
}

/* Tell libc the process has more than one thread. Once, before the first
 * raw thread starts. */
static void go_multithreaded(void)
{
	char *tp = sys_arch_thread_pointer();

	__libc_single_threaded = 0;
	/* A dynamic executable may hold a copy-relocated copy of this
	 * variable, while libc's own code reads libc's. RTLD_NEXT searches
	 * the objects after ours — libc.so.6 — and so finds libc's own.
	 * In a static program there is one copy and dlsym is not linked. */
	if (dlsym) {
		char *own = dlsym(RTLD_NEXT, "__libc_single_threaded");

		if (own)
			*own = 0;
	}
	AT(tp, TCB_MULTI, int) = 1;
	_IO_enable_locks();
}

static void tls_init_once(void *unused)
{
	g.status = check_layout();
	if (g.status == 0) {
		go_multithreaded();
	} else {
		/* Said once, here; sys_thread_libc_error() keeps it. */
		sys_write(2, "threadlab: ", 11);
		sys_write(2, g.error, strlen(g.error));
		sys_write(2, "\n", 1);
	}
}

int sys__tls_init(void)
{
	sys_once(&init_once, tls_init_once, NULL);
	return g.status;
}

const char *sys_thread_libc_error(void)
{
	sys__tls_init();
	return g.status ? g.error : NULL;
}

size_t sys__tls_reserve(void)
{
	return g.static_size + g.static_align;
}

void *sys__tls_setup(char *top, char **stack_top, _Atomic int **tid)
{
	char *self = sys_arch_thread_pointer();
	uintptr_t a = g.static_align;
	char *tp = (char *)(((uintptr_t)top - g.pthread_size) & ~(a - 1));
	char *low = tp - (g.static_size - g.pthread_size);

	/* A cached mapping holds the last thread's values; start clean. */
	memset(low, 0, top - low);
	if (_dl_allocate_tls(tp) == NULL)
		return NULL;

	AT(tp, TCB_TCB, char *) = tp;
	AT(tp, TCB_SELF, char *) = tp;
	AT(tp, TCB_MULTI, int) = 1;
	/* One canary for the whole process: a frame that migrates between
	 * threads (rt/ tasks do) must find the value it was built with. */
	AT(tp, TCB_STACK_GUARD, uintptr_t) = AT(self, TCB_STACK_GUARD, uintptr_t);
	AT(tp, TCB_PTR_GUARD, uintptr_t) = AT(self, TCB_PTR_GUARD, uintptr_t);
	AT(tp, TCB_FEATURE_1, uint32_t) = AT(self, TCB_FEATURE_1, uint32_t);
	AT(tp, TCB_SPLIT_LIMIT, uintptr_t) = 0;

	/* An empty robust list points at its own head. */
	AT(tp, g.robust_prev_off, char *) = tp + g.robust_head_off;
	AT(tp, g.robust_head_off, char *) = tp + g.robust_head_off;
	AT(tp, g.robust_head_off + 8, long) = g.robust_futex_offset;
	AT(tp, g.robust_head_off + 16, void *) = NULL;

	AT(tp, g.specific_off, char *) = tp + g.specific_1st_off;

	/* A negative cpu_id sends sched_getcpu() to the kernel: until the
	 * child registers (or for ever, when glibc itself does not use rseq). */
	if (g.rseq_offset)
		((struct rseq *)(tp + g.rseq_offset))->cpu_id =
			g.rseq_size ? RSEQ_CPU_ID_UNINITIALIZED
				    : RSEQ_CPU_ID_REGISTRATION_FAILED;

	*tid = &AT(tp, g.tid_off, _Atomic int);
	*stack_top = (char *)((uintptr_t)low & ~(uintptr_t)63);
	return tp;
}

void sys__tls_enter(struct sys_thread_ctl *ctl)
{
	char *tp = ctl->tp;

	sys_syscall2(SYS_set_robust_list, (long)(tp + g.robust_head_off),
		     3 * sizeof(void *));
	if (g.rseq_size > 0) {
		struct rseq *rs = (struct rseq *)(tp + g.rseq_offset);
		/* glibc 2.36 says __rseq_size = 20 (the fields it uses), but
		 * the kernel wants at least 32 bytes registered. */
		unsigned len = g.rseq_size < RSEQ_LEN_MIN ? RSEQ_LEN_MIN
							  : g.rseq_size;

		if (sys_syscall4(SYS_rseq, (long)rs, len, 0, RSEQ_SIG_X86) < 0)
			rs->cpu_id = RSEQ_CPU_ID_REGISTRATION_FAILED;
	}
	/* The ctype tables are found through TLS pointers that the main
	 * thread's start-up set; without this, printf("%f") faults. */
	__ctype_init();
	memset(&ctl->res, 0, sizeof(ctl->res));
	__resp = &ctl->res;
}

/* pthread key destructors, as glibc's __nptl_deallocate_tsd runs them:
 * up to PTHREAD_DESTRUCTOR_ITERATIONS rounds while values remain. */
static void run_key_destructors(void)
{
	char *tp = sys_arch_thread_pointer();
	struct key_data **level1 = &AT(tp, g.specific_off, struct key_data *);

	for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
		bool again = false;

		for (int i = 0; i < PTHREAD_KEYS_MAX / KEY_2NDLEVEL_SIZE; i++) {
			struct key_data *level2 = level1[i];

			for (int j = 0; level2 && j < KEY_2NDLEVEL_SIZE; j++) {
				struct key_struct *k =
					&__pthread_keys[i * KEY_2NDLEVEL_SIZE + j];
				void *data = level2[j].data;

				if (!data)
					continue;
				level2[j].data = NULL;
				if (level2[j].seq == k->seq && k->destr) {
					k->destr(data);
					again = true;
				}
			}
		}
		if (!again)
			break;
	}
	/* Second-level blocks beyond the first were calloc'ed by libc. */
	for (int i = 1; i < PTHREAD_KEYS_MAX / KEY_2NDLEVEL_SIZE; i++) {
		free(level1[i]);
		level1[i] = NULL;
	}
}

void sys__tls_leave(void)
{
	__call_tls_dtors();        /* C++ thread_local / __cxa_thread_atexit */
	run_key_destructors();     /* pthread_key_create destructors */
	if (__libc_thread_freeres)
		__libc_thread_freeres();   /* malloc's tcache, resolver, ... */
}

void sys__tls_release(void *tp)
{
	_dl_deallocate_tls(tp, false);   /* the dtv and dynamic TLS blocks */
}
