/* Go by Example: Channel Directions, in C on rt/ tasks
 * (channel-directions.md). C has no chan<- and <-chan; two one-member
 * structs give the same compile-time check: a function handed a
 * `struct send_end` can only send. */
#include "rt/rt.h"

struct send_end {
	struct rt_chan *c;
};

struct recv_end {
	struct rt_chan *c;
};

static inline void send_str(struct send_end e, const char *s)
{
	rt_chan_send(e.c, &s);
}

static inline const char *recv_str(struct recv_end e)
{
	const char *s = NULL;

	rt_chan_recv(e.c, &s);
	return s;
}

/* pings chan<- string */
static void ping(struct send_end pings, const char *msg)
{
	send_str(pings, msg);
}

/* pings <-chan string, pongs chan<- string */
static void pong(struct recv_end pings, struct send_end pongs)
{
	send_str(pongs, recv_str(pings));
}

static void main_task(void *arg)
{
	struct rt_chan *pings = rt_chan_new(sizeof(const char *), 1);
	struct rt_chan *pongs = rt_chan_new(sizeof(const char *), 1);

	ping((struct send_end){ pings }, "passed message");
	pong((struct recv_end){ pings }, (struct send_end){ pongs });
	rt_printf("%s\n", recv_str((struct recv_end){ pongs }));
	rt_chan_free(pings);
	rt_chan_free(pongs);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
