/* Go by Example: Closing Channels, in C on rt/ tasks
 * (closing-channels.md). */
#include <stdbool.h>

#include "rt/rt.h"

struct chans {
	struct rt_chan *jobs, *done;
};

static void worker(void *arg)
{
	struct chans *ch = arg;
	int j;

	for (;;) {
		/* j, more := <-jobs */
		bool more = rt_chan_recv(ch->jobs, &j);

		if (more) {
			rt_printf("received job %d\n", j);
		} else {
			rt_printf("received all jobs\n");
			rt_chan_sendv(ch->done, bool, true);
			return;
		}
	}
}

static void main_task(void *arg)
{
	struct chans ch = {
		.jobs = rt_chan_new(sizeof(int), 5),
		.done = rt_chan_new(sizeof(bool), 0),
	};
	bool ok;
	int j;

	rt_go(worker, &ch);
	for (j = 1; j <= 3; j++) {
		rt_chan_send(ch.jobs, &j);
		rt_printf("sent job %d\n", j);
	}
	rt_chan_close(ch.jobs);
	rt_printf("sent all jobs\n");

	rt_chan_recv(ch.done, NULL);

	/* Reading from a closed, drained channel succeeds at once with
	 * the zero value and ok == false. */
	ok = rt_chan_recv(ch.jobs, &j);
	rt_printf("received more jobs: %s\n", ok ? "true" : "false");
	rt_chan_free(ch.jobs);
	rt_chan_free(ch.done);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
