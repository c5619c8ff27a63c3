/*
 * The stress run: raw threads (sys_thread_spawn, no pthread_create) doing
 * what ordinary libc code does, all at once, with every result checked
 * exactly. Each iteration of each thread:
 *   - malloc/free of a small block (size varies), and every 16th iteration
 *     a block over 128 KiB (glibc's mmap threshold: another code path);
 *   - snprintf("%f") compared with the expected text (needs ctype/locale
 *     TLS set up: __ctype_init);
 *   - a failing system call through libc, with errno checked (errno is a
 *     TLS variable: a shared one would be overwritten by other threads);
 *   - a recursive pthread mutex taken twice around a shared counter (the
 *     owner test compares the TCB's tid field);
 *   - every 4th iteration, a block handed to the next thread, which frees
 *     it (malloc's cross-thread free path, arena locks);
 *   - two characters written to one shared stdio FILE (stdio's locks must
 *     be on: without _IO_enable_locks characters are lost).
 * At the end: the counter, the file's length and every handed-over block
 * are checked.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syscalls/sys.h"
#include "lib_stress.h"

#define MAX_THREADS 64
#define RING 64

struct mailbox {                /* blocks handed from thread i-1 to i */
	struct sys_mutex lock;
	void *slot[RING];
	unsigned head, tail;    /* protected by lock */
	long received;
};

struct shared {
	int threads;
	long iters;
	pthread_mutex_t rmutex;      /* recursive */
	long counter;                /* protected by rmutex */
	FILE *out;
	struct mailbox box[MAX_THREADS];
	_Atomic int failed;
	char err[256];
	struct sys_mutex err_lock;
};

struct arg {
	struct shared *sh;
	int id;
};

static void fail(struct shared *sh, const char *fmt, ...)
{
	va_list ap;

	sys_mutex_lock(&sh->err_lock);
	if (!atomic_exchange(&sh->failed, 1)) {
		va_start(ap, fmt);
		vsnprintf(sh->err, sizeof(sh->err), fmt, ap);
		va_end(ap);
	}
	sys_mutex_unlock(&sh->err_lock);
}

/* Hand a block to `to`; false when its ring is full. */
static int give(struct mailbox *to, void *p)
{
	int ok = 0;

	sys_mutex_lock(&to->lock);
	if (to->tail - to->head < RING) {
		to->slot[to->tail++ % RING] = p;
		ok = 1;
	}
	sys_mutex_unlock(&to->lock);
	return ok;
}

static void *take(struct mailbox *box)
{
	void *p = NULL;

	sys_mutex_lock(&box->lock);
	if (box->head != box->tail)
		p = box->slot[box->head++ % RING];
	sys_mutex_unlock(&box->lock);
	return p;
}

/* A block tagged with its size and maker, checked by whoever frees it. */
static void *make_block(int id, long i)
{
	size_t n = 32 + (size_t)(i % 200);
	long *p = malloc(n);

	if (p) {
		p[0] = id;
		p[1] = i;
		p[2] = ~(id ^ i);
	}
	return p;
}

static int check_block(const long *p)
{
	return p[2] == ~(p[0] ^ p[1]);
}

static void *worker(void *v)
{
	struct arg *a = v;
	struct shared *sh = a->sh;
	struct mailbox *mine = &sh->box[a->id];
	struct mailbox *next = &sh->box[(a->id + 1) % sh->threads];
	char buf[64], want[64];

	for (long i = 0; i < sh->iters && !atomic_load(&sh->failed); i++) {
		size_t small = 16 + (size_t)((i * 7 + a->id) % 1000);
		char *p = malloc(small);

		if (!p) {
			fail(sh, "thread %d: malloc(%zu) failed", a->id, small);
			break;
		}
		memset(p, a->id, small);
		free(p);
		if (i % 16 == 0) {
			size_t big = (128 << 10) + 4096 * (size_t)(i % 8);
			char *q = malloc(big);

			if (!q) {
				fail(sh, "thread %d: malloc(%zu) failed", a->id, big);
				break;
			}
			q[0] = q[big - 1] = 1;
			free(q);
		}

		/* %f exercises the locale and ctype TLS pointers. */
		snprintf(buf, sizeof(buf), "%f", (double)i + 0.25);
		snprintf(want, sizeof(want), "%ld.250000", i);
		if (strcmp(buf, want) != 0) {
			fail(sh, "thread %d: \"%%f\" gave %s, want %s", a->id,
			     buf, want);
			break;
		}

		errno = 0;
		if (close(-1) != -1 || errno != EBADF) {
			fail(sh, "thread %d: errno %d after close(-1), want EBADF",
			     a->id, errno);
			break;
		}

		pthread_mutex_lock(&sh->rmutex);
		pthread_mutex_lock(&sh->rmutex);
		sh->counter++;
		pthread_mutex_unlock(&sh->rmutex);
		pthread_mutex_unlock(&sh->rmutex);

		if (i % 4 == 0) {
			long *blk = make_block(a->id, i);

			if (!blk || !give(next, blk))
				free(blk);   /* next is slow: free it ourselves */
			while ((blk = take(mine))) {
				if (!check_block(blk))
					fail(sh, "thread %d: corrupt handed block",
					     a->id);
				mine->received++;
				free(blk);
			}
		}

		putc('a' + a->id % 26, sh->out);
		putc('\n', sh->out);
	}
	return NULL;
}

int stress_run(int threads, long iters, char *err, size_t errlen)
{
	struct sys_thread t[MAX_THREADS] = { 0 };
	struct arg args[MAX_THREADS];
	struct shared *sh;
	pthread_mutexattr_t ma;
	long len, want;
	int r, rc = -1;

	if (threads < 1 || threads > MAX_THREADS) {
		snprintf(err, errlen, "threads must be 1..%d", MAX_THREADS);
		return -1;
	}
	sh = calloc(1, sizeof(*sh));
	sh->threads = threads;
	sh->iters = iters;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&sh->rmutex, &ma);
	sh->out = tmpfile();
	if (!sh->out) {
		snprintf(err, errlen, "tmpfile: %s", strerror(errno));
		goto out;
	}

	for (int i = 0; i < threads; i++) {
		args[i] = (struct arg){ sh, i };
		r = sys_thread_spawn(&t[i], NULL, worker, &args[i]);
		if (r < 0) {
			fail(sh, "sys_thread_spawn: %s", strerror(-r));
			threads = i;
			break;
		}
	}
	for (int i = 0; i < threads; i++) {
		r = sys_thread_join(&t[i], NULL);
		if (r < 0)
			fail(sh, "sys_thread_join: %s", strerror(-r));
	}
	/* Blocks still in the mailboxes are freed here, by another thread. */
	for (int i = 0; i < sh->threads; i++) {
		void *p;

		while ((p = take(&sh->box[i])))
			free(p);
	}
	if (atomic_load(&sh->failed)) {
		snprintf(err, errlen, "%s", sh->err);
		goto out;
	}
	want = (long)sh->threads * iters;
	if (sh->counter != want) {
		snprintf(err, errlen, "counter %ld, want %ld", sh->counter, want);
		goto out;
	}
	fflush(sh->out);
	len = ftell(sh->out);
	if (len != 2 * want) {
		snprintf(err, errlen, "stdio wrote %ld characters, want %ld",
			 len, 2 * want);
		goto out;
	}
	rc = 0;
out:
	if (sh->out)
		fclose(sh->out);
	pthread_mutex_destroy(&sh->rmutex);
	free(sh);
	return rc;
}
