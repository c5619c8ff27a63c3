/*
 * Helpers shared by the rt/ tests (compiled into each tests/rt binary).
 *
 * Every rt test case runs once per stack strategy: RT_TEST(fn) makes two
 * cmocka cases, "fn/segmented" and "fn/mapped", and the case's state says
 * which; rtt_config() turns it into a struct rt_config. When
 * THREADLAB_STACK is set in the environment, the other strategy's cases
 * are reported as skipped.
 *
 * cmocka's asserts must not run on a worker thread (a failure longjmps to
 * the test's own thread), so task code checks with RTT_CHECK, which
 * records the first failure; rtt_run() fails the case after rt_main
 * returns.
 */
#ifndef TESTS_RT_LIB_RT_H
#define TESTS_RT_LIB_RT_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "rt/rt.h"

/* RUNNING_ON_VALGRIND: true under `make memcheck`, where the tests that
 * count on timing or huge task counts scale down; 0 without valgrind's
 * headers. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

struct rtt_mode {
	enum rt_stack_kind kind;
	const char *name;
};
extern const struct rtt_mode rtt_segmented, rtt_mapped;

#define RT_TEST(fn)                                                         \
	{ #fn "/segmented", fn, NULL, NULL, (void *)&rtt_segmented },       \
	{ #fn "/mapped", fn, NULL, NULL, (void *)&rtt_mapped }
#define RT_TEST_SEGMENTED(fn)                                               \
	{ #fn "/segmented", fn, NULL, NULL, (void *)&rtt_segmented }

/* The case's config with `workers` workers (0: the default). Skips the
 * case when THREADLAB_STACK names the other strategy. */
struct rt_config rtt_config(void **state, unsigned workers);
/* The case's strategy. */
enum rt_stack_kind rtt_kind(void **state);

void rtt_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define RTT_CHECK(cond)                                                     \
	do {                                                                \
		if (!(cond))                                                \
			rtt_fail(__FILE__, __LINE__, "%s", #cond);          \
	} while (0)
#define RTT_CHECKF(cond, ...)                                               \
	do {                                                                \
		if (!(cond))                                                \
			rtt_fail(__FILE__, __LINE__, __VA_ARGS__);          \
	} while (0)

/* rt_main(cfg, fn, arg), then assert it returned 0 and no check failed. */
void rtt_run(const struct rt_config *cfg, void (*fn)(void *), void *arg);

/* The process's resident set size in bytes (/proc/self/statm). */
size_t rtt_rss(void);

/* Run fn as the main task of a two-worker runtime, from a misuse test's
 * forked child: the misuse inside fn is expected to stop the program. */
void rtt_run_misuse(void (*fn)(void *));

/* Run fn(arg) in a forked child with stderr captured; returns the wait
 * status, and up to `len` bytes of the child's stderr in buf. */
int rtt_fork_capture(void (*fn)(void *), void *arg, char *buf, size_t len);

/* Run fn(NULL) in a forked child and fail the test unless it stopped the
 * program with SIGABRT (sys_panic) and said `msg` on stderr. */
void rtt_expect_panic(void (*fn)(void *), const char *msg);

/* Run only the cases matching $RTT_FILTER (cmocka's * and ? patterns),
 * when it is set: call first in main(). */
void rtt_filter_from_env(void);

/* n, or n/100 (at least 1) when running under valgrind (make memcheck),
 * where every instruction costs some 50 times more. */
long rtt_scale(long n);

#endif
