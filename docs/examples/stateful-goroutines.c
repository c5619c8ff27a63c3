/* Go by Example: Stateful Goroutines, in C on rt/ tasks
 * (stateful-goroutines.md). The state belongs to one task; the others
 * read and write it by sending it requests over channels. */
#include <stdatomic.h>
#include <stdbool.h>

#include "rt/rt.h"

struct read_op {
	int key;
	struct rt_chan *resp;       /* int */
};

struct write_op {
	int key, val;
	struct rt_chan *resp;       /* bool */
};

static struct rt_chan *reads, *writes;
static _Atomic uint64_t read_ops, write_ops;

/* The owner of the state: Go's map[int]int with keys 0..4. */
static void owner(void *arg)
{
	int state[5] = { 0 };
	struct read_op r;
	struct write_op w;

	for (;;) {
		struct rt_select_case cs[] = {
			RT_CASE_RECV(reads, &r),
			RT_CASE_RECV(writes, &w),
		};

		if (rt_select(cs, 2, RT_SELECT_BLOCK) == 0) {
			rt_chan_send(r.resp, &state[r.key]);
		} else {
			state[w.key] = w.val;
			rt_chan_sendv(w.resp, bool, true);
		}
	}
}

/* A small per-task random generator (Go's rand.Intn). */
static unsigned next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void reader(void *arg)
{
	uint32_t seed = (uint32_t)rt_task_id() * 2654435761u | 1;
	/* One response channel per task, reused (Go makes one per
	 * request and lets the collector have it). */
	struct read_op r = { .resp = rt_chan_new(sizeof(int), 0) };

	for (;;) {
		r.key = (int)(next_rand(&seed) % 5);
		rt_chan_send(reads, &r);
		rt_chan_recv(r.resp, NULL);
		atomic_fetch_add(&read_ops, 1);
		rt_sleep(RT_MSEC);
	}
}

static void writer(void *arg)
{
	uint32_t seed = (uint32_t)rt_task_id() * 2246822519u | 1;
	struct write_op w = { .resp = rt_chan_new(sizeof(bool), 0) };

	for (;;) {
		w.key = (int)(next_rand(&seed) % 5);
		w.val = (int)(next_rand(&seed) % 100);
		rt_chan_send(writes, &w);
		rt_chan_recv(w.resp, NULL);
		atomic_fetch_add(&write_ops, 1);
		rt_sleep(RT_MSEC);
	}
}

static void main_task(void *arg)
{
	reads = rt_chan_new(sizeof(struct read_op), 0);
	writes = rt_chan_new(sizeof(struct write_op), 0);
	rt_go(owner, NULL);
	for (int r = 0; r < 100; r++)
		rt_go(reader, NULL);
	for (int w = 0; w < 10; w++)
		rt_go(writer, NULL);

	rt_sleep(100 * RT_MSEC);        /* Go: time.Second */
	rt_printf("readOps: %llu\n",
		  (unsigned long long)atomic_load(&read_ops));
	rt_printf("writeOps: %llu\n",
		  (unsigned long long)atomic_load(&write_ops));
	/* The tasks loop for ever; they are abandoned when main returns,
	 * as goroutines are. */
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
