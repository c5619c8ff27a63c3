/*
 * lib_proc: running a child under a time limit, finding the build and the
 * source tree, matching output lines (see lib_proc.h for the contracts).
 *
 * Invariants of tl_run_argv: both pipes are drained until end of file
 * before the child is reaped, so a child that prints more than a pipe
 * holds never blocks; the only process ever killed is the child this call
 * forked, by its pid; every path out closes the read ends it opened.
 *
 * Shared state: none.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "syscalls/sys.h"
#include "tests/common/lib_proc.h"

int64_t tl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append what is readable on fd to buf (cap bytes, *len used); once buf
 * is full the rest is read into scratch and dropped, so the writer never
 * blocks. False at end of file (or on an error other than EINTR/EAGAIN,
 * which ends the stream just the same). */
static bool drain(int fd, char *buf, size_t cap, size_t *len)
{
	char scratch[4096];
	ssize_t n;

	if (*len < cap - 1)
		n = read(fd, buf + *len, cap - 1 - *len);
	else
		n = read(fd, scratch, sizeof(scratch));
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	if (*len < cap - 1)
		*len += (size_t)n;
	return true;
}

/* waitpid for one child, again when a signal interrupts it. */
static int reap(pid_t pid)
{
	int st = 0;

	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return st;
}

int tl_run_argv(struct tl_run *r, const char *const *argv, const char *dir,
		int timeout_ms)
{
	int out[2], err[2], st, ret = 0;
	size_t out_len = 0, err_len = 0;
	bool out_open = true, err_open = true;
	int64_t deadline = tl_now_ms() + timeout_ms;
	pid_t pid;

	r->status = -1;
	r->out[0] = r->err[0] = '\0';
	if (pipe2(out, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(err, O_CLOEXEC) < 0) {
		ret = -errno;
		goto out_close_out;
	}
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		goto out_close_err;
	}
	if (pid == 0) {
		/* The child: only async-signal-safe calls until execv. */
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		if (dir && chdir(dir) != 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	/* Our copies of the write ends must go, or we never see EOF. */
	close(out[1]);
	close(err[1]);
	while (out_open || err_open) {
		struct pollfd p[2] = {
			{ .fd = out_open ? out[0] : -1, .events = POLLIN },
			{ .fd = err_open ? err[0] : -1, .events = POLLIN },
		};
		int64_t left = deadline - tl_now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			reap(pid);
			ret = -ETIMEDOUT;
			goto out_read_ends;
		}
		if (poll(p, 2, (int)left) < 0)
			continue;            /* EINTR: the deadline still holds */
		if (out_open && p[0].revents)
			out_open = drain(out[0], r->out, r->cap, &out_len);
		if (err_open && p[1].revents)
			err_open = drain(err[0], r->err, r->cap, &err_len);
	}
	st = reap(pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
out_read_ends:
	close(out[0]);
	close(err[0]);
	r->out[out_len] = '\0';
	r->err[err_len] = '\0';
	return ret;

out_close_err:
	close(err[0]);
	close(err[1]);
out_close_out:
	close(out[0]);
	close(out[1]);
	return ret;
}

int tl_build_dir(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return -errno;
	exe[n] = '\0';
	/* build/tests/<layer>/test_<unit> -> build */
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return -ENOENT;
		*slash = '\0';
	}
	if ((size_t)snprintf(buf, len, "%s", exe) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int tl_driver_path(char *buf, size_t len)
{
	char build[PATH_MAX];
	int ret = tl_build_dir(build, sizeof(build));

	if (ret < 0)
		return ret;
	if ((size_t)snprintf(buf, len, "%s/bin/threadlab", build) >= len)
		return -ENAMETOOLONG;
	if (access(buf, X_OK) != 0) {
		fprintf(stderr, "%s: %s is missing; `make all` builds it\n",
			program_invocation_short_name, buf);
		return -ENOENT;
	}
	return 0;
}

/* Whether dir/probe exists (probe NULL: yes). */
static bool holds(const char *dir, const char *probe)
{
	char path[2 * PATH_MAX];

	if (!probe)
		return true;
	snprintf(path, sizeof(path), "%s/%s", dir, probe);
	return access(path, F_OK) == 0;
}

int tl_source_root(char *buf, size_t len, const char *probe)
{
	char dir[PATH_MAX];
	char *slash;

	if (tl_build_dir(dir, sizeof(dir)) == 0 &&
	    (slash = strrchr(dir, '/')) != NULL) {
		*slash = '\0';
		if (holds(dir, probe)) {
			if ((size_t)snprintf(buf, len, "%s", dir) >= len)
				return -ENAMETOOLONG;
			return 0;
		}
	}
	if (!getcwd(dir, sizeof(dir)))
		return -errno;
	if (!holds(dir, probe))
		return -ENOENT;
	if ((size_t)snprintf(buf, len, "%s", dir) >= len)
		return -ENAMETOOLONG;
	return 0;
}

int tl_find_on_path(const char *name, char *buf, size_t len)
{
	const char *path = getenv("PATH");
	char dirs[4096], *save = NULL;

	snprintf(dirs, sizeof(dirs), "%s",
		 path ? path : "/usr/local/bin:/usr/bin:/bin");
	for (char *d = strtok_r(dirs, ":", &save); d;
	     d = strtok_r(NULL, ":", &save)) {
		snprintf(buf, len, "%s/%s", d, name);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

int tl_go_build(struct tl_run *r, const char *src, const char *out,
		const char *scratch, int timeout_ms)
{
	char go[PATH_MAX], cache[PATH_MAX + 16];
	const char *argv[] = { go, "build", "-o", out, ".", NULL };
	int ret;

	if (tl_find_on_path("go", go, sizeof(go)) != 0)
		return -ENOENT;
	if (!getenv("GOCACHE") && !getenv("XDG_CACHE_HOME") && !getenv("HOME")) {
		snprintf(cache, sizeof(cache), "%s/gocache", scratch);
		setenv("GOCACHE", cache, 1);
	}
	ret = tl_run_argv(r, argv, src, timeout_ms);
	if (ret < 0)
		return ret;
	return r->status == 0 ? 0 : -EIO;
}

bool tl_matches(const char *text, const char *pattern)
{
	regex_t re;
	bool found;
	int rc;

	rc = regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);
	if (rc != 0)
		sys_panic("tl_matches: pattern '%s' does not compile (regcomp "
			  "error %d)", pattern, rc);
	found = regexec(&re, text, 0, NULL, 0) == 0;
	regfree(&re);
	return found;
}
