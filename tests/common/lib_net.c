/*
 * lib_net: loopback ports and postfix's smtp-sink for tests (see
 * lib_net.h for the contracts).
 *
 * Invariants: a struct tl_sink with pid > 0 names a child this process
 * forked and has not reaped; it is stopped by that pid only. Its counters
 * go to a file that is unlinked as soon as both ends are open, so a
 * killed test leaves no file behind.
 *
 * Shared state: none.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/common/lib_net.h"
#include "tests/common/lib_proc.h"

int tl_free_port(int *keep)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port;

	if (fd < 0)
		return -errno;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) < 0) {
		port = -errno;
		close(fd);
		return port;
	}
	port = ntohs(a.sin_port);
	if (keep)
		*keep = fd;
	else
		close(fd);
	return port;
}

bool tl_port_answers(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

void tl_sink_stop(struct tl_sink *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		while (waitpid(s->pid, NULL, 0) < 0 && errno == EINTR)
			;
		s->pid = 0;
	}
	if (s->out >= 0)
		close(s->out);
	s->out = -1;
}

/* The command line: [timeout LIFETIME] smtp-sink -c [-u nobody]
 * [-d dump] addr backlog, into argv (16 slots). */
static void sink_argv(const char **argv, const char *addr,
		      const char *backlog, const char *dump)
{
	int argc = 0;

	if (access(TL_TIMEOUT, X_OK) == 0) {
		argv[argc++] = TL_TIMEOUT;
		argv[argc++] = TL_SINK_LIFETIME;
	}
	argv[argc++] = TL_SMTP_SINK;
	argv[argc++] = "-c";
	if (geteuid() == 0) {
		argv[argc++] = "-u";
		argv[argc++] = "nobody";
	}
	if (dump) {
		argv[argc++] = "-d";
		argv[argc++] = dump;
	}
	argv[argc++] = addr;
	argv[argc++] = backlog;
	argv[argc] = NULL;
}

/* Fork and exec one sink on s->addr, its stdout into a fresh unlinked
 * file that s->out reads. 0 or -errno. */
static int sink_spawn(struct tl_sink *s, const char *dump, int backlog)
{
	char path[] = "/tmp/threadlab-sink-XXXXXX", bl[16];
	const char *argv[16];
	pid_t parent = getpid();
	int wfd, ret;

	snprintf(bl, sizeof(bl), "%d", backlog);
	sink_argv(argv, s->addr, bl, dump);
	wfd = mkostemp(path, O_CLOEXEC);
	if (wfd < 0)
		return -errno;
	s->out = open(path, O_RDONLY | O_CLOEXEC);
	ret = s->out < 0 ? -errno : 0;
	unlink(path);
	if (ret < 0)
		goto out_close;
	s->pid = fork();
	if (s->pid < 0) {
		ret = -errno;
		s->pid = 0;
		close(s->out);
		s->out = -1;
		goto out_close;
	}
	if (s->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(wfd, STDOUT_FILENO);
		if (null >= 0)
			dup2(null, STDERR_FILENO);
		/* Die with the thread that started us; if it is already
		 * gone, the signal would never come. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
out_close:
	close(wfd);
	return ret;
}

int tl_sink_start(struct tl_sink *s, const char *dump, int backlog,
		  int wait_ms)
{
	int ret = -ETIMEDOUT;

	for (int attempt = 0; attempt < TL_SINK_ATTEMPTS; attempt++) {
		int64_t deadline;

		s->pid = 0;
		s->out = -1;
		s->tail[0] = '\0';
		s->quits = s->messages = 0;
		s->port = tl_free_port(NULL);
		if (s->port < 0)
			return s->port;
		snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", s->port);
		ret = sink_spawn(s, dump, backlog);
		if (ret < 0)
			return ret;
		ret = -ETIMEDOUT;
		deadline = tl_now_ms() + wait_ms;
		while (tl_now_ms() < deadline) {
			if (tl_port_answers(s->port))
				return 0;
			if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
				s->pid = 0;          /* port taken: try another */
				ret = -EADDRINUSE;
				break;
			}
			usleep(10000);
		}
		tl_sink_stop(s);
	}
	return ret;
}

/* One counter record ended: keep its quit= and mesg=. */
static void sink_record(struct tl_sink *s)
{
	char *q = strstr(s->tail, "quit="), *m = strstr(s->tail, "mesg=");

	if (q)
		s->quits = strtol(q + 5, NULL, 10);
	if (m)
		s->messages = strtol(m + 5, NULL, 10);
	s->tail[0] = '\0';
}

long tl_sink_read(struct tl_sink *s)
{
	char buf[4096];
	ssize_t n;

	if (s->out < 0)
		return s->messages;
	while ((n = read(s->out, buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR)) {
		for (ssize_t i = 0; i < n; i++) {
			size_t t = strlen(s->tail);

			if (buf[i] == '\r' || buf[i] == '\n') {
				sink_record(s);
				continue;
			}
			/* A record is some thirty bytes; a longer one means
			 * the format changed: it is dropped, and the counts
			 * the caller checks stay behind. */
			if (t >= sizeof(s->tail) - 1)
				t = 0;
			s->tail[t] = buf[i];
			s->tail[t + 1] = '\0';
		}
	}
	return s->messages;
}

void tl_sink_wait(struct tl_sink *s, long quits, long messages, int wait_ms)
{
	int64_t deadline = tl_now_ms() + wait_ms;

	for (;;) {
		tl_sink_read(s);
		if (s->quits >= quits && s->messages >= messages)
			break;
		if (tl_now_ms() > deadline)
			break;
		usleep(5000);
	}
}
