/* Go by Example: Select, in C on rt/ tasks (select.md). */
#include "rt/rt.h"

struct delayed {
	struct rt_chan *c;
	int64_t after;
	const char *msg;
};

static void send_later(void *arg)
{
	struct delayed *d = arg;

	rt_sleep(d->after);
	rt_chan_send(d->c, &d->msg);
}

static void main_task(void *arg)
{
	struct rt_chan *c1 = rt_chan_new(sizeof(const char *), 0);
	struct rt_chan *c2 = rt_chan_new(sizeof(const char *), 0);
	/* Go: 1 and 2 seconds. */
	struct delayed one = { c1, 100 * RT_MSEC, "one" };
	struct delayed two = { c2, 200 * RT_MSEC, "two" };
	const char *msg1, *msg2;

	rt_go(send_later, &one);
	rt_go(send_later, &two);

	for (int i = 0; i < 2; i++) {
		struct rt_select_case cs[] = {
			RT_CASE_RECV(c1, &msg1),
			RT_CASE_RECV(c2, &msg2),
		};

		switch (rt_select(cs, 2, RT_SELECT_BLOCK)) {
		case 0:
			rt_printf("received %s\n", msg1);
			break;
		case 1:
			rt_printf("received %s\n", msg2);
			break;
		}
	}
	rt_chan_free(c1);
	rt_chan_free(c2);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
