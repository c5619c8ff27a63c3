/*
 * spawn_one: one raw kernel thread, spawned and joined — the demo that
 * docs/threads.md traces. Run it under strace with scripts/strace-spawn.sh,
 * which builds it and writes docs/generated/strace-spawn.txt.
 *
 * The main thread spawns one sys_thread and joins it. The thread uses
 * ordinary libc (printf, opendir on /proc/self/task, errno), so the trace
 * shows what libc does on a thread it did not make, then sleeps 100 ms
 * before it returns, so that the main thread is certainly asleep in join's
 * FUTEX_WAIT when the thread exits and the trace shows the kernel's wake.
 *
 * To let the page point at the parts of the thread's one mapping, main
 * notes where they are from the thread's control block — an internal
 * structure (syscalls/internal.h) that programs must not use; this one
 * only reads it, for display, between spawn and join, while it is valid.
 *
 * Shared state: none besides the thread's return value, which join hands
 * over after the kernel's CLONE_CHILD_CLEARTID wake.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>

#include "syscalls/internal.h"
#include "syscalls/sys.h"

/* glibc's own descriptions of its layout (static libc; see syscalls/tls.c). */
extern void _dl_get_tls_static_info(size_t *size, size_t *align);
extern const uint32_t _thread_db_sizeof_pthread;
extern const uint32_t _thread_db_pthread_tid[3];

static void *thread_main(void *arg)
{
	int local = 0;
	DIR *d;
	struct dirent *e;

	printf("thread: tid %d, pid %d, hello from a raw clone() thread\n",
	       sys_gettid(), sys_getpid());
	printf("thread: tp (%%fs base) %p, &errno %p, a stack variable at %p\n",
	       sys_arch_thread_pointer(), (void *)&errno, (void *)&local);

	/* The process's threads, seen from inside: /proc/self is the
	 * process (the thread group), task/ has one entry per thread. */
	d = opendir("/proc/self/task");
	if (!d) {
		printf("thread: opendir /proc/self/task: %s\n", strerror(errno));
		return (void *)1;
	}
	printf("thread: /proc/self/task:");
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			printf(" %s", e->d_name);
	printf("\n");
	closedir(d);

	sys_nanosleep(100 * 1000 * 1000);
	return (void *)42;
}

int main(void)
{
	struct sys_thread t = { 0 };
	struct sys_thread_stats st;
	struct sys_thread_ctl *ctl;
	char *map, *tp, *stack_top;
	size_t map_size, guard, tls_size, tls_align;
	void *ret = NULL;
	int r;

	/* One write per line, so each line is one write(2) in the trace. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("main: pid %d, tid %d, tp %p, &errno %p\n", sys_getpid(),
	       sys_gettid(), sys_arch_thread_pointer(), (void *)&errno);

	r = sys_thread_spawn(&t, NULL, thread_main, NULL);
	if (r < 0) {
		fprintf(stderr, "spawn_one: sys_thread_spawn: %s\n%s\n",
			strerror(-r), sys_thread_libc_error() ?: "");
		return 1;
	}
	/* Note the layout now: after the join the mapping belongs to the
	 * stack cache again. */
	ctl = t.ctl;
	map = ctl->map;
	map_size = ctl->map_size;
	guard = ctl->guard_size;
	tp = ctl->tp;

	r = sys_thread_join(&t, &ret);
	if (r < 0) {
		fprintf(stderr, "spawn_one: sys_thread_join: %s\n", strerror(-r));
		return 1;
	}
	printf("main: joined tid %d, it returned %ld\n", t.tid, (long)ret);

	/* The same arithmetic as sys__tls_setup (syscalls/tls.c). */
	_dl_get_tls_static_info(&tls_size, &tls_align);
	stack_top = (char *)((uintptr_t)(tp - (tls_size - _thread_db_sizeof_pthread))
			     & ~(uintptr_t)63);
	printf("main: the thread's mapping, low to high (%zu bytes):\n", map_size);
	printf("  %p  guard           %zu bytes\n", (void *)map, guard);
	printf("  %p  stack           %zu bytes, grows down from its top\n",
	       (void *)(map + guard), (size_t)(stack_top - map - guard));
	printf("  %p  static TLS      %zu bytes (errno and every __thread)\n",
	       (void *)(tp - (tls_size - _thread_db_sizeof_pthread)),
	       (size_t)(tls_size - _thread_db_sizeof_pthread));
	printf("  %p  struct pthread  %u bytes, tp points here; tid at tp+0x%x\n",
	       (void *)tp, _thread_db_sizeof_pthread, _thread_db_pthread_tid[2]);
	printf("  %p  control block   %zu bytes, up to the end at %p\n",
	       (void *)ctl, sizeof(*ctl), (void *)(map + map_size));
	printf("main: glibc: static TLS + TCB %zu bytes, aligned to %zu; "
	       "__rseq_size %u, __rseq_offset %ld\n",
	       tls_size, tls_align, __rseq_size, (long)__rseq_offset);
	/* The joined thread's mapping was not unmapped: it waits in the
	 * stack cache for the next spawn. */
	sys_thread_stats(&st);
	printf("main: sys_thread_stats: spawned %llu, joined %llu, mmaps %llu, "
	       "reuses %llu, cached now %llu\n",
	       (unsigned long long)st.spawned, (unsigned long long)st.joined,
	       (unsigned long long)st.maps, (unsigned long long)st.reuses,
	       (unsigned long long)st.cached);
	return ret == (void *)42 ? 0 : 1;
}
