/* Go by Example: Timeouts, in C on rt/ tasks (timeouts.md). */
#include <errno.h>

#include "rt/rt.h"

struct delayed {
	struct rt_chan *c;
	const char *msg;
};

static void slow_result(void *arg)
{
	struct delayed *d = arg;

	rt_sleep(200 * RT_MSEC);        /* Go: 2 seconds */
	rt_chan_send(d->c, &d->msg);
}

static void main_task(void *arg)
{
	/* Buffered, so that the late sender does not block for ever when
	 * nobody receives any more. */
	struct rt_chan *c1 = rt_chan_new(sizeof(const char *), 1);
	struct rt_chan *c2 = rt_chan_new(sizeof(const char *), 1);
	struct delayed d1 = { c1, "result 1" }, d2 = { c2, "result 2" };
	struct rt_timer *after;
	const char *res;
	int64_t fired;

	rt_go(slow_result, &d1);
	/* A timeout as select's own argument: 100 ms (Go: 1 second). */
	{
		struct rt_select_case cs[] = { RT_CASE_RECV(c1, &res) };

		if (rt_select(cs, 1, 100 * RT_MSEC) == -ETIMEDOUT)
			rt_printf("timeout 1\n");
		else
			rt_printf("%s\n", res);
	}

	rt_go(slow_result, &d2);
	/* The same with a timer's channel as a case, Go's time.After:
	 * 300 ms (Go: 3 seconds). */
	after = rt_timer_new(300 * RT_MSEC);
	{
		struct rt_select_case cs[] = {
			RT_CASE_RECV(c2, &res),
			RT_CASE_RECV(rt_timer_chan(after), &fired),
		};

		if (rt_select(cs, 2, RT_SELECT_BLOCK) == 0)
			rt_printf("%s\n", res);
		else
			rt_printf("timeout 2\n");
	}
	rt_timer_free(after);
	/* The first sender may still be sleeping: c1 stays (its task is
	 * abandoned when main returns, as a goroutine is). */
	rt_chan_free(c2);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
