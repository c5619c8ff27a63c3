/*
 * bench/email/send.h — what `threadlab send` (send.c) shares with its
 * models: the settings of a run, the message, and the counters every
 * model fills in. A model is one function that delivers run->emails
 * messages over run->concurrency sessions and returns when all its
 * sessions have ended; send.c times it, checks the counts and prints.
 *
 * Models: send_threads.c (clone, pthread), send_rt.c (rt: one task per
 * session on rt/ workers, io_uring), each one entry of send.c's model
 * table, with the same contract.
 *
 * Sessions: session i of S = min(C, N) delivers N/S messages, one more
 * when i < N % S — the same split as the Go, PHP and Python peers. A
 * message that fails drops its connection and the session's next
 * message opens a new one, so every message is tried exactly once.
 *
 * Shared state: `accepted` and `failed` are atomics, added to by every
 * session; `first_error` is written once, by the session that wins
 * `error_claimed`, and read only after every session has ended. The
 * rest is written before the first session starts and only read after.
 */
#ifndef THREADLAB_BENCH_EMAIL_SEND_H
#define THREADLAB_BENCH_EMAIL_SEND_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* How long one message (or setting up a connection) may take before the
 * server counts as stalled and the message as not accepted; the same as
 * the Go peer's. */
#define BENCH_SEND_TIMEOUT_S 30

/* The EHLO name every sender uses. */
#define BENCH_SEND_HELO "client.threadlab.test"

struct bench_send_run {
	/* Settings (read-only while sessions run). */
	uint64_t emails;
	unsigned concurrency;
	bool reuse;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	const char *server;              /* as given, for messages */
	const char *wire;                /* the message, stuffed, with ".\r\n" */
	size_t wire_len;
	size_t size;                     /* its size before stuffing */

	/* Filled in by the model. */
	unsigned threads;                /* OS threads used, main included
					    (rt: its workers) */
	bool io_uring;                   /* rt: the two counts below are set */
	uint64_t io_uring_ops;           /* SQEs over the run, every ring */
	uint64_t io_uring_enter;         /* io_uring_enter calls */
	_Atomic uint64_t accepted;       /* messages answered 250 at the dot */
	_Atomic uint64_t failed;         /* messages tried and not accepted */
	atomic_flag error_claimed;
	char first_error[256];
};

/* How many messages session i delivers (the split above). */
static inline uint64_t bench_send_share(const struct bench_send_run *run,
					uint64_t sessions, uint64_t i)
{
	return run->emails / sessions + (i < run->emails % sessions ? 1 : 0);
}

/* Record why a message failed, if it is the first failure. */
__attribute__((format(printf, 2, 3)))
void bench_send_error(struct bench_send_run *run, const char *fmt, ...);

/* The models: deliver every message, set run->threads; 0, or -errno
 * when the model could not start all its sessions (the messages of the
 * sessions that did not start are then neither accepted nor failed). */
int bench_send_clone(struct bench_send_run *run);
int bench_send_pthread(struct bench_send_run *run);
int bench_send_rt(struct bench_send_run *run);
/* The rt/ configuration the rt sender (and the sink) run with. */
struct rt_config;
struct rt_config *bench_send_rt_config(struct rt_config *cfg);

#endif
