/* Go by Example: Mutexes, in C on rt/ tasks (mutexes.md). Go's map of
 * counters is two named fields here. */
#include "rt/rt.h"

struct container {
	struct rt_mutex mu;     /* protects a and b */
	int a, b;
};

static void inc(struct container *c, char name)
{
	rt_mutex_lock(&c->mu);
	if (name == 'a')
		c->a++;
	else
		c->b++;
	rt_mutex_unlock(&c->mu);
}

struct incr {
	struct container *c;
	char name;
	int n;
	struct rt_wg *wg;
};

static void do_increment(void *arg)
{
	struct incr *x = arg;

	for (int i = 0; i < x->n; i++)
		inc(x->c, x->name);
	rt_wg_done(x->wg);
}

static void main_task(void *arg)
{
	struct container c = { 0 };
	struct rt_wg wg = { 0 };
	struct incr work[] = {
		{ &c, 'a', 10000, &wg },
		{ &c, 'a', 10000, &wg },
		{ &c, 'b', 10000, &wg },
	};

	rt_wg_add(&wg, 3);
	for (int i = 0; i < 3; i++)
		rt_go(do_increment, &work[i]);
	rt_wg_wait(&wg);
	rt_printf("map[a:%d b:%d]\n", c.a, c.b);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
