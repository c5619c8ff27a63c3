/* Go by Example: WaitGroups, in C on rt/ tasks (waitgroups.md). */
#include "rt/rt.h"

struct job {
	int id;
	struct rt_wg *wg;
};

static void worker(int id)
{
	rt_printf("Worker %d starting\n", id);
	rt_sleep(100 * RT_MSEC);        /* Go: time.Second */
	rt_printf("Worker %d done\n", id);
}

/* Go's closure `func() { defer wg.Done(); worker(i) }`. */
static void run_worker(void *arg)
{
	struct job *j = arg;

	worker(j->id);
	rt_wg_done(j->wg);
}

static void main_task(void *arg)
{
	struct rt_wg wg = { 0 };
	/* Each task gets its own copy of i (Go's `i := i`). */
	struct job jobs[5];

	for (int i = 1; i <= 5; i++) {
		jobs[i - 1] = (struct job){ i, &wg };
		rt_wg_add(&wg, 1);
		rt_go(run_worker, &jobs[i - 1]);
	}
	/* Block until the counter is back to 0: all workers are done. */
	rt_wg_wait(&wg);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
