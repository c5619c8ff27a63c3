/*
 * what_is_a_thread: a process and its threads, seen from the inside —
 * the demo that docs/what-is-a-thread.md runs (docs/code/thread-examples.sh
 * writes its output to docs/generated/what-is-a-thread.txt).
 *
 * Usage: what_is_a_thread [THREADS]   (default 2, at most 64)
 *
 * 1. The process: its pid, and the main thread's tid (the same number:
 *    the first thread of a process is the one whose id names it).
 * 2. THREADS raw kernel threads made with sys_thread_spawn (clone(), no
 *    pthread_create), named "spinner-N", each doing the same fixed amount
 *    of arithmetic — about half a second of one CPU, calibrated first on
 *    the main thread so the run takes as long on a fast CPU as a slow one.
 * 3. While they run: /proc/self/task, one directory per thread of this
 *    process, with each thread's name, state (R running or runnable, S
 *    asleep) and the CPU it last ran on (field 39 of its stat file).
 * 4. After the joins: the wall-clock time, the CPU time of the whole
 *    process (getrusage counts every thread), and their quotient — how
 *    many CPUs were busy at once. Run it under `taskset -c 0` and the
 *    threads take turns on one CPU (quotient 1, twice the wall time of
 *    one thread's work for two threads); under `taskset -c 0,1` they run
 *    in parallel (quotient near 2).
 *
 * Shared state: each spinner writes only its own struct spinner; the
 * main thread reads it after the join, which orders the write before the
 * read (the kernel's CLONE_CHILD_CLEARTID wake; see syscalls/thread.c).
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "syscalls/sys.h"

#define MAX_THREADS 64

struct spinner {
	uint64_t iterations;     /* in: the work */
	uint64_t result;         /* out: so the work cannot be left out */
};

/* The work: a chain of multiply-adds (a linear congruential generator),
 * each step needing the last, so the CPU cannot overlap them. */
static uint64_t spin(uint64_t iterations)
{
	uint64_t x = 1;

	for (uint64_t i = 0; i < iterations; i++)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

static void *spinner_main(void *arg)
{
	struct spinner *s = arg;

	s->result = spin(s->iterations);
	return NULL;
}

static int64_t cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000 +
	       (int64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000;
}

/* One line per thread of this process, from /proc/self/task/TID/stat:
 * "pid (comm) state ... processor" — processor is field 39. */
static void list_tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	if (!d) {
		printf("opendir /proc/self/task: %s\n", strerror(errno));
		return;
	}
	printf("  %-8s %-12s %-6s %s\n", "tid", "name", "state", "last CPU");
	while ((e = readdir(d))) {
		char path[300], buf[1024], name[32] = "?", state = '?';
		int cpu = -1, field = 3;
		FILE *f;
		char *p, *end;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
		/* The name is between the first '(' and the last ')'. */
		p = strchr(buf, '(');
		end = strrchr(buf, ')');
		if (p && end && end > p) {
			snprintf(name, sizeof(name), "%.*s", (int)(end - p - 1), p + 1);
			p = end + 2;
			state = *p;
			for (; *p && field < 39; p++)
				if (*p == ' ')
					field++;
			cpu = atoi(p);
		}
		printf("  %-8s %-12s %-6c %d\n", e->d_name, name, state, cpu);
	}
	closedir(d);
}

int main(int argc, char **argv)
{
	static struct sys_thread threads[MAX_THREADS];
	static struct spinner spinners[MAX_THREADS];
	struct sys_thread_attr attr = { 0 };
	int n = argc > 1 ? atoi(argv[1]) : 2;
	uint64_t per_100ms = 1 << 20, sink;
	int64_t t0, c0, wall, cpu;
	char name[16];
	cpu_set_t set;

	if (argc > 2 || n < 1 || n > MAX_THREADS) {
		fprintf(stderr, "usage: what_is_a_thread [THREADS]   (1 to %d, default 2)\n",
			MAX_THREADS);
		return 2;
	}
	CPU_ZERO(&set);
	sched_getaffinity(0, sizeof(set), &set);
	printf("process %d: main thread tid %d (the same number), may run on %d CPU%s\n",
	       sys_getpid(), sys_gettid(), CPU_COUNT(&set),
	       CPU_COUNT(&set) == 1 ? "" : "s");

	/* Calibrate: how many steps of the work take 100 ms here. */
	for (;;) {
		t0 = sys_now_ns();
		sink = spin(per_100ms);
		wall = sys_now_ns() - t0;
		if (wall >= 20000000)
			break;
		per_100ms *= 2;
	}
	per_100ms = (uint64_t)((double)per_100ms * 100e6 / (double)wall);
	printf("work per thread: %" PRIu64 " steps (about 500 ms of one CPU)\n",
	       5 * per_100ms);

	t0 = sys_now_ns();
	c0 = cpu_ns();
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "spinner-%d", i);
		attr.name = name;
		spinners[i].iterations = 5 * per_100ms;
		int r = sys_thread_spawn(&threads[i], &attr, spinner_main, &spinners[i]);
		if (r < 0) {
			fprintf(stderr, "sys_thread_spawn: %s\n", strerror(-r));
			return 1;
		}
		printf("spawned thread %s: tid %d, same pid %d\n", name,
		       threads[i].tid, sys_getpid());
	}
	sys_nanosleep(100 * 1000 * 1000);
	printf("/proc/self/task, 100 ms later:\n");
	list_tasks();
	for (int i = 0; i < n; i++) {
		int r = sys_thread_join(&threads[i], NULL);
		if (r < 0) {
			fprintf(stderr, "sys_thread_join: %s\n", strerror(-r));
			return 1;
		}
		sink ^= spinners[i].result;
	}
	wall = sys_now_ns() - t0;
	cpu = cpu_ns() - c0;
	printf("%d threads done (checksum %" PRIx64 "): wall %.0f ms, CPU %.0f ms, "
	       "CPU/wall %.2f CPUs busy at once\n", n, sink, wall / 1e6,
	       cpu / 1e6, (double)cpu / (double)wall);
	return 0;
}
