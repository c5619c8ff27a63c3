/*
 * The Go peer of `threadlab micro`: bench/micro/go is a Go package whose
 * benchmarks do what the C files of bench/micro/ do, with goroutines. We run it with
 * `go test -bench` under the same selection, count, benchtime and worker
 * count, and print its result lines among ours, so one run lines every
 * model up (Go already prints our line format: ours imitates it).
 *
 * Selection. Go matches -bench level by level ("X/Y" means top level X,
 * sub-benchmark Y), while --filter matches our full names. So: a Go
 * benchmark function T runs when the filter matches "T/model=go" or any
 * C benchmark whose top level is T; then each Go result line is printed
 * only if the filter matches its name (without the -N), exactly as for
 * the C benchmarks.
 *
 * Workers. Go's -cpu flag runs every benchmark under each GOMAXPROCS in
 * its list, and names the results -N as we do: we pass "1,W", W being
 * --workers (default: every usable CPU), so that the one-worker rt
 * benchmarks (Yield-1, HotSplit-1) and the W-worker ones both have their
 * Go line.
 *
 * Shared state: none (main thread only).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench.h"

#define MAX_TOP 64

/* The source directory of the Go peer: next to the driver in a build
 * tree (build/bin/threadlab -> bench/micro/go), else where it was built. */
static int go_dir(char *buf, size_t len)
{
	char exe[PATH_MAX - 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		for (int up = 0; up < 3 && (slash = strrchr(exe, '/')); up++)
			*slash = '\0';     /* .../build/bin/threadlab -> ... */
		snprintf(buf, len, "%s/bench/micro/go", exe);
		if (access(buf, R_OK) == 0)
			return 0;
	}
#ifdef THREADLAB_SRCDIR
	snprintf(buf, len, "%s/bench/micro/go", THREADLAB_SRCDIR);
	if (access(buf, R_OK) == 0)
		return 0;
#endif
	return -ENOENT;
}

/* The Go command, or NULL with a note when it is not installed. */
static const char *find_go(void)
{
	static const char *const where[] = { "/usr/bin/go", "/usr/lib/go/bin/go",
					     "/usr/local/go/bin/go" };

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++)
		if (access(where[i], X_OK) == 0)
			return where[i];
	return NULL;
}

/* "BenchmarkSpawn/model=go-2 \t 100 \t 5 ns/op" -> its name without -N. */
static bool result_name(const char *line, char *name, size_t len)
{
	size_t n = strcspn(line, " \t");
	char *dash;

	if (strncmp(line, "Benchmark", 9) != 0 || n >= len)
		return false;
	memcpy(name, line, n);
	name[n] = '\0';
	dash = strrchr(name, '-');
	if (dash && dash > strrchr(name, '/') && strspn(dash + 1, "0123456789") ==
						   strlen(dash + 1) && dash[1])
		*dash = '\0';
	return true;
}

static bool is_top(const char *name, const char *const *tops, size_t ntops)
{
	for (size_t i = 0; i < ntops; i++)
		if (!strcmp(tops[i], name))
			return true;
	return false;
}

/* The Go benchmark functions (`go test -list`) that the filter selects. */
static size_t select_tops(const char *go, const char *dir, const regex_t *re,
			  const char *const *names, size_t nnames,
			  char tops[][128])
{
	char cmd[PATH_MAX + 256], line[512];
	size_t ntops = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "cd '%s' && '%s' test -list '^Benchmark' 2>&1",
		 dir, go);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	while (fgets(line, sizeof(line), p) && ntops < MAX_TOP) {
		char probe[sizeof(line) + 16];
		bool take;

		line[strcspn(line, "\r\n")] = '\0';
		if (strncmp(line, "Benchmark", 9) != 0 || strchr(line, ' '))
			continue;
		snprintf(probe, sizeof(probe), "%s/model=go", line);
		take = regexec(re, probe, 0, NULL, 0) == 0;
		for (size_t i = 0; !take && i < nnames; i++) {
			size_t top = strcspn(names[i], "/");

			take = strlen(line) == top &&
			       !strncmp(names[i], line, top) &&
			       regexec(re, names[i], 0, NULL, 0) == 0;
		}
		if (take)
			snprintf(tops[ntops++], 128, "%s", line);
	}
	pclose(p);
	return ntops;
}

int bench_micro_go(const regex_t *re, const struct bench_opts *opts,
		   const char *const *names, size_t nnames)
{
	static char tops[MAX_TOP][128];
	char dir[PATH_MAX], cmd[4 * PATH_MAX], bench[4096], benchtime[64];
	char line[1024], name[256];
	const char *go = find_go();
	const char *top_ptrs[MAX_TOP];
	int workers = opts->workers;
	size_t ntops, off;
	cpu_set_t set;
	FILE *p;
	int st;

	if (!go) {
		fprintf(stderr, "threadlab micro: go not found: model=go skipped "
			"(install it with: apt-get install -y golang-go)\n");
		return 0;
	}
	if (go_dir(dir, sizeof(dir)) < 0) {
		fprintf(stderr, "threadlab micro: bench/micro/go not found next "
			"to the driver: model=go skipped\n");
		return 0;
	}
	ntops = select_tops(go, dir, re, names, nnames, tops);
	if (ntops == 0)
		return -1;
	off = (size_t)snprintf(bench, sizeof(bench), "^(");
	for (size_t i = 0; i < ntops; i++) {
		top_ptrs[i] = tops[i];
		off += (size_t)snprintf(bench + off, sizeof(bench) - off, "%s%s",
					i ? "|" : "", tops[i]);
	}
	snprintf(bench + off, sizeof(bench) - off, ")$");
	if (workers <= 0)
		workers = bench_usable_cpus(&set) == 0 ? CPU_COUNT(&set) : 1;
	bench_format_benchtime(&opts->time, benchtime, sizeof(benchtime));

	/* go needs a build cache; with no HOME it has no default one. */
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && { [ -n \"$HOME$GOCACHE$XDG_CACHE_HOME\" ] || "
		 "export GOCACHE=/tmp/threadlab-gocache; } && "
		 "GOFLAGS=-mod=mod '%s' test -run '^$' -bench '%s' -count %u "
		 "-benchtime %s -cpu %s%d 2>&1",
		 dir, go, bench, opts->count, benchtime,
		 workers == 1 ? "" : "1,", workers);
	if (opts->progress)
		fprintf(stderr, "threadlab micro: go test -bench '%s' (model=go)\n",
			bench);
	p = popen(cmd, "r");
	if (!p) {
		fprintf(stderr, "threadlab micro: cannot run go: %s\n",
			strerror(errno));
		return 1;
	}
	while (fgets(line, sizeof(line), p)) {
		if (result_name(line, name, sizeof(name))) {
			char top[128];

			snprintf(top, sizeof(top), "%.*s",
				 (int)strcspn(name, "/"), name);
			if (is_top(top, top_ptrs, ntops) &&
			    regexec(re, name, 0, NULL, 0) == 0)
				fputs(line, stdout);
		} else if (!strncmp(line, "--- FAIL", 8) ||
			   !strncmp(line, "FAIL", 4)) {
			fputs(line, stdout);
		}
	}
	fflush(stdout);
	st = pclose(p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "threadlab micro: go test -bench failed "
			"(status 0x%x)\n", st);
		return 1;
	}
	return 0;
}
