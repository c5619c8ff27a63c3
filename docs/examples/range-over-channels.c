/* Go by Example: Range over Channels, in C on rt/ tasks
 * (range-over-channels.md). */
#include "rt/rt.h"

static void main_task(void *arg)
{
	struct rt_chan *queue = rt_chan_new(sizeof(const char *), 2);
	const char *elem;

	rt_chan_sendv(queue, const char *, "one");
	rt_chan_sendv(queue, const char *, "two");
	rt_chan_close(queue);

	/* for elem := range queue: receive until closed and drained. */
	while (rt_chan_recv(queue, &elem))
		rt_printf("%s\n", elem);
	rt_chan_free(queue);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
