/* Go by Example: Non-Blocking Channel Operations, in C on rt/ tasks
 * (non-blocking-channel-operations.md). */
#include <stdbool.h>

#include "rt/rt.h"

static void main_task(void *arg)
{
	struct rt_chan *messages = rt_chan_new(sizeof(const char *), 0);
	struct rt_chan *signals = rt_chan_new(sizeof(bool), 0);
	const char *msg;
	bool sig;

	/* A receive with a default case. */
	{
		struct rt_select_case cs[] = { RT_CASE_RECV(messages, &msg) };

		if (rt_select(cs, 1, RT_SELECT_NONBLOCK) == 0)
			rt_printf("received message %s\n", msg);
		else
			rt_printf("no message received\n");
	}

	/* A send with a default case: nobody receives, so it cannot go. */
	msg = "hi";
	if (rt_chan_try_send(messages, &msg) == 0)
		rt_printf("sent message %s\n", msg);
	else
		rt_printf("no message sent\n");

	/* Several cases and a default: a multi-way non-blocking select. */
	{
		struct rt_select_case cs[] = {
			RT_CASE_RECV(messages, &msg),
			RT_CASE_RECV(signals, &sig),
		};

		switch (rt_select(cs, 2, RT_SELECT_NONBLOCK)) {
		case 0:
			rt_printf("received message %s\n", msg);
			break;
		case 1:
			rt_printf("received signal %s\n",
				  sig ? "true" : "false");
			break;
		default:
			rt_printf("no activity\n");
		}
	}
	rt_chan_free(messages);
	rt_chan_free(signals);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
