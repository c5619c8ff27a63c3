/* Go by Example: Goroutines, in C on rt/ tasks (goroutines.md). */
#include "rt/rt.h"

static void f(void *from)
{
	for (int i = 0; i < 3; i++)
		rt_printf("%s : %d\n", (const char *)from, i);
}

static void say(void *msg)
{
	rt_printf("%s\n", (const char *)msg);
}

static void main_task(void *arg)
{
	/* An ordinary, synchronous call. */
	f("direct");

	/* f in a new task, running concurrently with this one. */
	rt_go(f, "goroutine");

	/* Go's anonymous function: C has none, so a named one. */
	rt_go(say, "going");

	/* The two tasks run meanwhile (Go waits a second; here 100 ms, and
	 * a wait group would be the robust way: waitgroups.c). */
	rt_sleep(100 * RT_MSEC);
	rt_printf("done\n");
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
