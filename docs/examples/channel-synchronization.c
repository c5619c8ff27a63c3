/* Go by Example: Channel Synchronization, in C on rt/ tasks
 * (channel-synchronization.md). */
#include <stdbool.h>

#include "rt/rt.h"

static void worker(void *arg)
{
	struct rt_chan *done = arg;

	rt_printf("working...");
	rt_sleep(100 * RT_MSEC);        /* Go: time.Second */
	rt_printf("done\n");
	/* Tell main we are finished. */
	rt_chan_sendv(done, bool, true);
}

static void main_task(void *arg)
{
	struct rt_chan *done = rt_chan_new(sizeof(bool), 1);

	rt_go(worker, done);
	/* Block until the worker says it is done. */
	rt_chan_recv(done, NULL);
	rt_chan_free(done);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
