/* Go by Example: Timers, in C on rt/ tasks (timers.md). */
#include "rt/rt.h"

static void wait_timer2(void *arg)
{
	struct rt_timer *timer2 = arg;

	/* Stopped before it fires: this receive never returns; the task
	 * is abandoned when main returns, as the goroutine is. */
	rt_chan_recv(rt_timer_chan(timer2), NULL);
	rt_printf("Timer 2 fired\n");
}

static void main_task(void *arg)
{
	/* Go: 2 seconds. */
	struct rt_timer *timer1 = rt_timer_new(200 * RT_MSEC);
	struct rt_timer *timer2;

	/* Blocks until the timer's channel gets its value. */
	rt_chan_recv(rt_timer_chan(timer1), NULL);
	rt_printf("Timer 1 fired\n");
	rt_timer_free(timer1);

	/* Unlike a sleep, a timer can be stopped before it fires. */
	timer2 = rt_timer_new(100 * RT_MSEC);
	rt_go(wait_timer2, timer2);
	if (rt_timer_stop(timer2))
		rt_printf("Timer 2 stopped\n");

	/* Give timer 2 time to fire, if it ever were going to. */
	rt_sleep(200 * RT_MSEC);
	/* timer2 is not freed: a task still waits on its channel. */
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
