/* Go by Example: Channel Buffering, in C on rt/ tasks
 * (channel-buffering.md). */
#include "rt/rt.h"

static void main_task(void *arg)
{
	/* Room for two strings: sends do not wait for a receiver. */
	struct rt_chan *messages = rt_chan_new(sizeof(const char *), 2);
	const char *msg;

	rt_chan_sendv(messages, const char *, "buffered");
	rt_chan_sendv(messages, const char *, "channel");

	rt_chan_recv(messages, &msg);
	rt_printf("%s\n", msg);
	rt_chan_recv(messages, &msg);
	rt_printf("%s\n", msg);
	rt_chan_free(messages);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
