/*
 * stress_static [THREADS [ITERATIONS]]: the libc stress run of
 * lib_stress.c in a statically linked program (glibc's static TLS and
 * its static-only per-thread cleanup). Run by test_stress.
 * Exit status 0 when every check held; otherwise the failure on stderr.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lib_stress.h"

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 8;
	long iters = argc > 2 ? atol(argv[2]) : 1000000;
	char err[256];

	if (stress_run(threads, iters, err, sizeof(err)) != 0) {
		fprintf(stderr, "stress_static: %s\n", err);
		return 1;
	}
	printf("stress_static: %d threads x %ld iterations: ok\n", threads, iters);
	return 0;
}
