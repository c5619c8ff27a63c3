/* Go by Example: Rate Limiting, in C on rt/ tasks (rate-limiting.md). */
#include "rt/rt.h"

static int64_t start;

static void feed_bursty(void *arg)
{
	struct rt_chan *bursty = arg;
	/* Go: `for t := range time.Tick(200 * time.Millisecond)`. */
	struct rt_timer *tick = rt_ticker_new(20 * RT_MSEC);
	int64_t t;

	while (rt_chan_recv(rt_timer_chan(tick), &t))
		rt_chan_send(bursty, &t);
}

static struct rt_chan *five_requests(void)
{
	struct rt_chan *requests = rt_chan_new(sizeof(int), 5);

	for (int i = 1; i <= 5; i++)
		rt_chan_send(requests, &i);
	rt_chan_close(requests);
	return requests;
}

static void main_task(void *arg)
{
	struct rt_chan *requests = five_requests(), *bursty_requests;
	/* One request every 20 ms (Go: 200 ms). */
	struct rt_timer *limiter = rt_ticker_new(20 * RT_MSEC);
	struct rt_chan *bursty = rt_chan_new(sizeof(int64_t), 3);
	int64_t t;
	int req;

	start = rt_now();
	while (rt_chan_recv(requests, &req)) {
		rt_chan_recv(rt_timer_chan(limiter), NULL);
		rt_printf("request %d at %lld ms\n", req,
			  (long long)((rt_now() - start) / RT_MSEC));
	}
	rt_timer_free(limiter);

	/* Bursts of up to 3 requests, then the same rate: the limiter is
	 * a buffered channel, filled up front and then by a ticker. */
	for (int i = 0; i < 3; i++) {
		t = rt_now();
		rt_chan_send(bursty, &t);
	}
	rt_go(feed_bursty, bursty);
	bursty_requests = five_requests();
	start = rt_now();
	while (rt_chan_recv(bursty_requests, &req)) {
		rt_chan_recv(bursty, NULL);
		rt_printf("request %d at %lld ms\n", req,
			  (long long)((rt_now() - start) / RT_MSEC));
	}
	rt_chan_free(requests);
	rt_chan_free(bursty_requests);
	/* bursty and the feeder's ticker stay: the feeder task runs until
	 * main returns, as the goroutine does. */
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
