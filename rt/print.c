/*
 * rt_printf: printf(3) from task code, run on the worker's own stack
 * (rt.h's rules: libc is not split-stack code). stdio's own lock makes
 * lines from different workers come out whole. No shared state of its
 * own.
 */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

struct printf_args {
	const char *fmt;
	va_list *ap;
	int r;
};

RT__ON_WORKER_STACK static void *vprintf_on_worker(void *arg)
{
	struct printf_args *a = arg;

	a->r = vprintf(a->fmt, *a->ap);
	return NULL;
}

int rt_printf(const char *fmt, ...)
{
	struct printf_args a;
	va_list ap;

	va_start(ap, fmt);
	a.fmt = fmt;
	a.ap = &ap;
	rt_call_on_worker_stack(vprintf_on_worker, &a);
	va_end(ap);
	return a.r;
}
