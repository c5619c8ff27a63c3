/* Go by Example: Tickers, in C on rt/ tasks (tickers.md). */
#include <stdbool.h>

#include "rt/rt.h"

struct ctl {
	struct rt_timer *ticker;
	struct rt_chan *done;
	int64_t start;
};

static void ticks(void *arg)
{
	struct ctl *c = arg;
	int64_t t;

	for (;;) {
		struct rt_select_case cs[] = {
			RT_CASE_RECV(c->done, NULL),
			RT_CASE_RECV(rt_timer_chan(c->ticker), &t),
		};

		if (rt_select(cs, 2, RT_SELECT_BLOCK) == 0)
			return;
		/* Go prints the wall-clock time; here, ms since start. */
		rt_printf("Tick at %lld ms\n",
			  (long long)((t - c->start) / RT_MSEC));
	}
}

static void main_task(void *arg)
{
	/* Go: 500 ms ticks for 1600 ms. */
	struct ctl c = {
		.ticker = rt_ticker_new(50 * RT_MSEC),
		.done = rt_chan_new(sizeof(bool), 0),
		.start = rt_now(),
	};

	rt_go(ticks, &c);
	rt_sleep(160 * RT_MSEC);
	rt_timer_stop(c.ticker);
	rt_chan_sendv(c.done, bool, true);
	rt_printf("Ticker stopped\n");
	rt_timer_free(c.ticker);
	rt_chan_free(c.done);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
