/* Go by Example: Worker Pools, in C on rt/ tasks (worker-pools.md).
 * rt_workpool_start is Go's loop `for w := 1; w <= 3; w++ { go
 * worker(w, jobs, results) }`, each worker ranging over jobs. */
#include "rt/rt.h"

/* What one worker does with one job (Go's worker body). */
static void work(void *arg, unsigned id, const void *job, void *result)
{
	int j = *(const int *)job;

	rt_printf("worker %u started  job %d\n", id + 1, j);
	rt_sleep(100 * RT_MSEC);        /* Go: time.Second */
	rt_printf("worker %u finished job %d\n", id + 1, j);
	*(int *)result = j * 2;
}

static void main_task(void *arg)
{
	enum { NUM_JOBS = 5 };
	struct rt_chan *jobs = rt_chan_new(sizeof(int), NUM_JOBS);
	struct rt_chan *results = rt_chan_new(sizeof(int), NUM_JOBS);
	/* Three workers, blocked at first: there are no jobs yet. */
	struct rt_workpool *pool = rt_workpool_start(3, jobs, results, work,
						     NULL);
	int r;

	for (int j = 1; j <= NUM_JOBS; j++)
		rt_chan_send(jobs, &j);
	rt_chan_close(jobs);

	/* Collect the results (this also waits for the work). */
	for (int a = 1; a <= NUM_JOBS; a++)
		rt_chan_recv(results, &r);
	rt_workpool_wait(pool);
	rt_chan_free(jobs);
	rt_chan_free(results);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
