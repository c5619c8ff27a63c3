/*
 * Loopback helpers shared by the tests of every layer (tests/common/):
 * a free port on 127.0.0.1, whether a port answers, and postfix's
 * smtp-sink started on a free port with its -c counters read back.
 *
 * Everything here stays on 127.0.0.1. Like lib_proc.h, nothing here uses
 * cmocka: helpers return a port, 0 or -errno, or a bool, and the tests
 * turn that into their own assertions and messages.
 *
 * Shared state: none; a struct tl_sink belongs to the caller's thread.
 */
#ifndef TESTS_COMMON_LIB_NET_H
#define TESTS_COMMON_LIB_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define TL_SMTP_SINK "/usr/sbin/smtp-sink"
/*
 * smtp-sink runs under coreutils' timeout when it is there, which passes
 * on the SIGTERM that stops it and gets a SIGTERM itself when the thread
 * that started it dies (PR_SET_PDEATHSIG; smtp-sink's own would not
 * survive its switch to another user): so a test killed by
 * run-tests.sh's time limit leaves no server behind, and none outlives
 * TL_SINK_LIFETIME seconds in any case.
 */
#define TL_TIMEOUT "/usr/bin/timeout"
#define TL_SINK_LIFETIME "600"
/* Ports tried when another program takes the free one first. */
#define TL_SINK_ATTEMPTS 5

/*
 * A port on 127.0.0.1 that was free a moment ago. With `keep`, the bound
 * socket is left to the caller in *keep (it never listens: connecting to
 * the port is refused); without, it is closed.
 * RETURN VALUE: the port, or -errno.
 */
int tl_free_port(int *keep);

/* Whether something accepts a TCP connection on 127.0.0.1:port now. */
bool tl_port_answers(int port);

/*
 * A running smtp-sink and the last counters it printed (-c: a
 * "sess=S quit=Q mesg=M" record, ended by \r, each time one changes).
 * Its stdout goes to an unlinked temporary file, never a pipe, so the
 * sink never blocks on a reader that is not reading.
 */
struct tl_sink {
	pid_t pid;                   /* timeout (or smtp-sink); 0: none */
	int out;                     /* our read end of its stdout; -1: none */
	int port;
	char addr[32];               /* "127.0.0.1:<port>" */
	char tail[256];              /* a counter record not yet ended */
	long quits;                  /* the last quit= */
	long messages;               /* the last mesg= */
};

/* A struct tl_sink that holds nothing (for static initialisers). */
#define TL_SINK_INIT { .pid = 0, .out = -1 }

/*
 * Start smtp-sink -c on 127.0.0.1 and a free port, with `backlog` as its
 * listen backlog and, with `dump` (a template, see smtp-sink(1) -d),
 * writing each message to a file; wait until the port answers, at most
 * wait_ms per port. A port taken between tl_free_port() and smtp-sink's
 * bind is tried again with another, TL_SINK_ATTEMPTS in all. As root
 * smtp-sink must be told a user to run as: -u nobody.
 * RETURN VALUE: 0 (s describes the sink); -ETIMEDOUT when no attempt
 * answered in time; -errno when it could not be started. s holds no
 * process on failure.
 */
int tl_sink_start(struct tl_sink *s, const char *dump, int backlog,
		  int wait_ms);

/* Stop the sink by its pid (SIGTERM) and reap it; close its output.
 * Harmless on a sink that is not running. */
void tl_sink_stop(struct tl_sink *s);

/* Read what the sink printed since the last call into s->quits and
 * s->messages. Returns s->messages. */
long tl_sink_read(struct tl_sink *s);

/* Read the counters until quit= reaches `quits` and mesg= `messages`, or
 * wait_ms have passed (bounded; the caller checks the counts). */
void tl_sink_wait(struct tl_sink *s, long quits, long messages, int wait_ms);

#endif /* TESTS_COMMON_LIB_NET_H */
