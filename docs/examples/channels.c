/* Go by Example: Channels, in C on rt/ tasks (channels.md). */
#include "rt/rt.h"

static void pinger(void *arg)
{
	struct rt_chan *messages = arg;
	const char *msg = "ping";

	/* Blocks until main receives: the channel is unbuffered. */
	rt_chan_send(messages, &msg);
}

static void main_task(void *arg)
{
	/* A channel of `const char *`: elements are copied by value, so a
	 * string travels as its pointer. */
	struct rt_chan *messages = rt_chan_new(sizeof(const char *), 0);
	const char *msg;

	rt_go(pinger, messages);
	rt_chan_recv(messages, &msg);
	rt_printf("%s\n", msg);
	rt_chan_free(messages);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
