/*
 * The libc stress run on raw threads, shared by test_stress.c (a dynamic
 * cmocka program) and stress_static.c (the same run in a static program):
 * the two ways glibc lays out TLS must both work.
 */
#ifndef TESTS_SYSCALLS_LIB_STRESS_H
#define TESTS_SYSCALLS_LIB_STRESS_H

#include <stddef.h>

/* Run `threads` raw threads of `iters` iterations each. 0 when every
 * check held, else -1 with the first failure described in err. */
int stress_run(int threads, long iters, char *err, size_t errlen);

#endif
