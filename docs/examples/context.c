/* Go by Example: Context, in C on rt/ tasks (context.md).
 *
 * Go's example is an HTTP handler that works for 10 seconds unless the
 * request's context is cancelled first (the client, curl, interrupted
 * with ^C). rt/ has no network I/O yet, so here the request is a task
 * given a context, and the client is main, which gives up on the first
 * request (as ^C does) and sends the second one with a deadline. */
#include <errno.h>

#include "rt/rt.h"

struct request {
	struct rt_ctx *ctx;
	struct rt_chan *response;   /* const char * */
};

static const char *err_text(int err)
{
	/* Go's context.Canceled and context.DeadlineExceeded. */
	return err == -ETIMEDOUT ? "context deadline exceeded" :
	       "context canceled";
}

static void hello(void *arg)
{
	struct request *req = arg;
	/* The work takes 1 s (Go: 10 s); a timer stands for it. */
	struct rt_timer *work = rt_timer_new(RT_SEC);
	const char *body;

	rt_printf("server: hello handler started\n");
	{
		struct rt_select_case cs[] = {
			RT_CASE_RECV(rt_timer_chan(work), NULL),
			RT_CASE_RECV(rt_ctx_done(req->ctx), NULL),
		};

		if (rt_select(cs, 2, RT_SELECT_BLOCK) == 0) {
			body = "hello";
		} else {
			body = err_text(rt_ctx_err(req->ctx));
			rt_printf("server: %s\n", body);
		}
	}
	rt_timer_free(work);
	rt_printf("server: hello handler ended\n");
	rt_chan_send(req->response, &body);
}

static void serve(struct rt_ctx *ctx, int64_t give_up_after)
{
	struct request req = { ctx, rt_chan_new(sizeof(const char *), 1) };
	const char *body;

	rt_go(hello, &req);
	if (give_up_after > 0) {
		rt_sleep(give_up_after);
		rt_printf("client: ^C\n");
		rt_ctx_cancel(ctx);
	}
	rt_chan_recv(req.response, &body);
	rt_printf("client: got \"%s\"\n", body);
	rt_chan_free(req.response);
}

static void main_task(void *arg)
{
	struct rt_ctx *ctx;

	/* The client goes away after 100 ms. */
	ctx = rt_ctx_with_cancel(rt_ctx_background());
	serve(ctx, 100 * RT_MSEC);
	rt_ctx_free(ctx);

	/* A request with a 50 ms deadline. */
	ctx = rt_ctx_with_timeout(rt_ctx_background(), 50 * RT_MSEC);
	serve(ctx, 0);
	rt_ctx_free(ctx);
}

int main(void)
{
	return rt_main(NULL, main_task, NULL) == 0 ? 0 : 1;
}
