/*
 * Helpers shared by the tests of every layer (tests/common/, compiled into
 * each test binary): running a program as a child with its stdout and
 * stderr captured apart under a time limit, finding the programs the
 * build made (build/bin/threadlab) and the source tree from this test's
 * own binary, and matching lines of output against a regex.
 *
 * Nothing here uses cmocka (the *_static programs link this file too and
 * do not link cmocka): helpers return 0 or -errno, or a bool, and the
 * tests turn that into their own assertions and messages. A bad regex is
 * a programming error and stops the program through sys_panic().
 *
 * Shared state: none; every helper works on what its caller passes.
 */
#ifndef TESTS_COMMON_LIB_PROC_H
#define TESTS_COMMON_LIB_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CLOCK_MONOTONIC in milliseconds: for deadlines, never for asserting
 * a speed. */
int64_t tl_now_ms(void);

/*
 * What a child left: its exit status and its stdout and stderr, each
 * NUL-terminated in a buffer of `cap` bytes that the caller owns (output
 * past cap - 1 bytes is read and dropped, so the child never blocks on a
 * full pipe). TL_RUN_DEFINE makes one with static buffers.
 */
struct tl_run {
	int status;             /* exit status; -1 if killed or overran */
	char *out;              /* stdout, NUL-terminated */
	char *err;              /* stderr, NUL-terminated */
	size_t cap;             /* size of out and of err */
};

#define TL_RUN_DEFINE(name, size)                                           \
	static char name##_out_buf[size], name##_err_buf[size];             \
	static struct tl_run name = { .out = name##_out_buf,                \
				      .err = name##_err_buf, .cap = (size) }

/*
 * Run argv (argv[0] a path, NULL-terminated) in directory `dir` (NULL:
 * here), its stdout and stderr into r, and wait for it; kill it by its pid
 * with SIGKILL when it has not finished after timeout_ms.
 *
 * RETURN VALUE: 0 when the child ran to its end (r->status is its exit
 * status, or -1 if a signal ended it; 126: `dir` could not be entered,
 * 127: argv[0] could not be executed); -ETIMEDOUT when it overran and was
 * killed (r->status -1, r->out and r->err what it printed until then);
 * -errno when it could not be started (pipe2 or fork failed).
 */
int tl_run_argv(struct tl_run *r, const char *const *argv, const char *dir,
		int timeout_ms);

/*
 * The build directory: three levels above this test's binary
 * (build/tests/<layer>/test_<unit> -> build), from /proc/self/exe, into
 * buf. RETURN VALUE: 0, or -errno (-ENAMETOOLONG when buf is too short).
 */
int tl_build_dir(char *buf, size_t len);

/*
 * The driver the build made, <build>/bin/threadlab (see tl_build_dir),
 * into buf. RETURN VALUE: 0; -ENOENT when it is not there or not
 * executable (buf holds the path looked at, and a line on stderr names it
 * and says that `make all` builds it); -errno as tl_build_dir.
 */
int tl_driver_path(char *buf, size_t len);

/*
 * The top of the source tree into buf: the directory above the build
 * directory when `probe` (a path relative to the top; NULL: no check) is
 * there, else the current directory when probe is there.
 * RETURN VALUE: 0; -ENOENT when probe is in neither; -errno otherwise.
 */
int tl_source_root(char *buf, size_t len, const char *probe);

/*
 * Where the executable `name` is on PATH (or, without PATH,
 * /usr/local/bin:/usr/bin:/bin), into buf.
 * RETURN VALUE: 0, or -ENOENT when it is nowhere.
 */
int tl_find_on_path(const char *name, char *buf, size_t len);

/*
 * Build the Go program in directory `src` into the binary `out` with the
 * go on PATH (`go build -o out .`), its output into r. go build needs a
 * cache and has no default one without HOME: when neither GOCACHE,
 * XDG_CACHE_HOME nor HOME is set, GOCACHE is set to <scratch>/gocache.
 * RETURN VALUE: 0 when it built; -ENOENT when there is no go on PATH;
 * -ETIMEDOUT when it overran timeout_ms; -EIO when go build failed
 * (r->status its exit status, r->err why); -errno as tl_run_argv.
 */
int tl_go_build(struct tl_run *r, const char *src, const char *out,
		const char *scratch, int timeout_ms);

/* Whether a line of `text` matches the extended regex `pattern` (^ and $
 * match at every line's start and end). A pattern that does not compile
 * stops the program (sys_panic). */
bool tl_matches(const char *text, const char *pattern);

#endif /* TESTS_COMMON_LIB_PROC_H */
