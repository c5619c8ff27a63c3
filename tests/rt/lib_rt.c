/*
 * Helpers shared by the rt/ tests: see lib_rt.h.
 * rtt_failed/rtt_msg: the first failing RTT_CHECK wins a CAS on
 * rtt_failed and writes the message; read after rt_main returns.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib_rt.h"
#include "syscalls/sys.h"

const struct rtt_mode rtt_segmented = { RT_STACK_SEGMENTED, "segmented" };
const struct rtt_mode rtt_mapped = { RT_STACK_MAPPED, "mapped" };

static _Atomic int rtt_failed;
static char rtt_msg[512];

enum rt_stack_kind rtt_kind(void **state)
{
	const struct rtt_mode *m = *state;

	return m ? m->kind : RT_STACK_DEFAULT;
}

struct rt_config rtt_config(void **state, unsigned workers)
{
	const struct rtt_mode *m = *state;
	struct rt_config c = { 0 };
	const char *e = getenv("THREADLAB_STACK");

	if (m && e && *e && strcmp(e, m->name) != 0)
		skip();
	c.workers = workers;
	c.stack = m ? m->kind : RT_STACK_DEFAULT;
	return c;
}

void rtt_fail(const char *file, int line, const char *fmt, ...)
{
	int zero = 0;
	va_list ap;
	int n;

	if (!atomic_compare_exchange_strong(&rtt_failed, &zero, 1))
		return;
	n = snprintf(rtt_msg, sizeof(rtt_msg), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(rtt_msg + n, sizeof(rtt_msg) - n, fmt, ap);
	va_end(ap);
}

void rtt_run(const struct rt_config *cfg, void (*fn)(void *), void *arg)
{
	int r;

	atomic_store(&rtt_failed, 0);
	r = rt_main(cfg, fn, arg);
	assert_int_equal(r, 0);
	if (atomic_load(&rtt_failed))
		fail_msg("in a task: %s", rtt_msg);
}

size_t rtt_rss(void)
{
	char buf[128] = { 0 };
	unsigned long size = 0, rss = 0;
	int fd = open("/proc/self/statm", O_RDONLY);

	if (fd < 0)
		return 0;
	if (read(fd, buf, sizeof(buf) - 1) > 0)
		sscanf(buf, "%lu %lu", &size, &rss);
	close(fd);
	return rss * (size_t)sysconf(_SC_PAGESIZE);
}

int rtt_fork_capture(void (*fn)(void *), void *arg, char *buf, size_t len)
{
	int fds[2], status = 0;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) < 0)
		return -1;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		dup2(fds[1], 2);
		close(fds[0]);
		fn(arg);
		_exit(0);
	}
	close(fds[1]);
	while (got + 1 < len && (n = read(fds[0], buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	close(fds[0]);
	waitpid(pid, &status, 0);
	return status;
}

void rtt_filter_from_env(void)
{
	const char *f = getenv("RTT_FILTER");

	if (f && *f)
		cmocka_set_test_filter(f);
}

long rtt_scale(long n)
{
	if (RUNNING_ON_VALGRIND)
		return n / 100 > 0 ? n / 100 : 1;
	return n;
}

void rtt_run_misuse(void (*fn)(void *))
{
	struct rt_config cfg = { .workers = 2 };

	rt_main(&cfg, fn, NULL);
}

void rtt_expect_panic(void (*fn)(void *), const char *msg)
{
	char buf[1024];
	int st = rtt_fork_capture(fn, NULL, buf, sizeof(buf));

	if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGABRT)
		fail_msg("expected abort with \"%s\"; status %#x: %s", msg, st,
			 buf);
	if (!strstr(buf, msg))
		fail_msg("expected \"%s\" in: %s", msg, buf);
}
