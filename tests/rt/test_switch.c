/*
 * The context switch itself (rt/arch/x86_64/switch.S), without the
 * scheduler: two hand-made contexts on the test's own thread.
 *   - the callee-saved registers survive a round trip;
 *   - errno, the split-stack limit (%fs:0x70) and libgcc's segment
 *     variables belong to each context;
 *   - rt__call_on_stack runs a function on another stack with the limit
 *     at 0, and restores it.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "lib_rt.h"
#include "rt/internal.h"

extern __thread void *__morestack_segments;
extern __thread void *__morestack_current_segment;

#define STACK (64u << 10)

static struct rt__ctx main_ctx, other_ctx;
static char *other_stack;
static void (*other_fn)(void);

static void other_entry(void)
{
	other_fn();
	/* Never returns: other_fn switches back for good. */
	for (;;)
		rt__switch(&other_ctx, &main_ctx);
}

/* A context that starts other_fn on a fresh stack with the given state. */
static void make_other(void (*fn)(void), void *guard)
{
	void **frame;

	if (!other_stack) {
		other_stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		assert_true(other_stack != MAP_FAILED);
	}
	memset(&other_ctx, 0, sizeof(other_ctx));
	/* After rt__switch's ret, %rsp must be 8 mod 16, as at the entry of
	 * a called function: the top minus one word. */
	frame = (void **)(other_stack + STACK) - 8;
	memset(frame, 0, 6 * sizeof(void *));
	frame[6] = (void *)other_entry;
	other_ctx.sp = frame;
	other_ctx.guard = guard;
	other_fn = fn;
	rt_errno_location();    /* computes rt__errno_tpoff once */
}

/* ------------------------------------------------------------------
 * Callee-saved registers: set each to a known value, switch away to a
 * context that scrambles them all, come back, compare.
 * ---------------------------------------------------------------- */
static void scramble(void)
{
	for (;;) {
		__asm__ volatile (
			"movq $-1, %%rbx\n\t"
			"movq $-2, %%r12\n\t"
			"movq $-3, %%r13\n\t"
			"movq $-4, %%r14\n\t"
			"movq $-5, %%r15\n\t"
			::: "rbx", "r12", "r13", "r14", "r15");
		rt__switch(&other_ctx, &main_ctx);
	}
}

/* Returns 0 when all six came back; otherwise a bit per register. The
 * asm steps over the red zone and aligns %rsp itself, keeping the old
 * %rsp in memory: every callee-saved register is under test. */
void *rtt_saved_rsp;

static __attribute__((noinline)) long regs_round_trip(void)
{
	long bad;

	__asm__ volatile (
		"movq %%rsp, rtt_saved_rsp(%%rip)\n\t"
		"subq $128, %%rsp\n\t"
		"andq $-16, %%rsp\n\t"
		"pushq %%rbp\n\t"
		"pushq %%rbx\n\t"
		"pushq %%r12\n\t"
		"pushq %%r13\n\t"
		"pushq %%r14\n\t"
		"pushq %%r15\n\t"
		"movq $0x1111, %%rbx\n\t"
		"movq $0x2222, %%rbp\n\t"
		"movq $0x3333, %%r12\n\t"
		"movq $0x4444, %%r13\n\t"
		"movq $0x5555, %%r14\n\t"
		"movq $0x6666, %%r15\n\t"
		"leaq main_ctx(%%rip), %%rdi\n\t"
		"leaq other_ctx(%%rip), %%rsi\n\t"
		"call rt__switch\n\t"
		"xorl %%eax, %%eax\n\t"
		"cmpq $0x1111, %%rbx\n\t setne %%al\n\t movq %%rax, %%rcx\n\t"
		"cmpq $0x2222, %%rbp\n\t setne %%al\n\t shlq $1, %%rax\n\t orq %%rax, %%rcx\n\t xorl %%eax, %%eax\n\t"
		"cmpq $0x3333, %%r12\n\t setne %%al\n\t shlq $2, %%rax\n\t orq %%rax, %%rcx\n\t xorl %%eax, %%eax\n\t"
		"cmpq $0x4444, %%r13\n\t setne %%al\n\t shlq $3, %%rax\n\t orq %%rax, %%rcx\n\t xorl %%eax, %%eax\n\t"
		"cmpq $0x5555, %%r14\n\t setne %%al\n\t shlq $4, %%rax\n\t orq %%rax, %%rcx\n\t xorl %%eax, %%eax\n\t"
		"cmpq $0x6666, %%r15\n\t setne %%al\n\t shlq $5, %%rax\n\t orq %%rax, %%rcx\n\t"
		"popq %%r15\n\t"
		"popq %%r14\n\t"
		"popq %%r13\n\t"
		"popq %%r12\n\t"
		"popq %%rbx\n\t"
		"popq %%rbp\n\t"
		"movq rtt_saved_rsp(%%rip), %%rsp\n\t"
		"movq %%rcx, %0\n\t"
		: "=r" (bad)
		:
		: "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11",
		  "memory", "cc");
	return bad;
}

static void test_callee_saved(void **state)
{
	(void)state;
	make_other(scramble, NULL);
	for (int i = 0; i < 1000; i++)
		assert_int_equal(regs_round_trip(), 0);
}

/* ------------------------------------------------------------------
 * errno, the limit and libgcc's variables are per context.
 * ---------------------------------------------------------------- */
static int other_saw_errno;
static void *other_saw_limit, *other_saw_segments, *other_saw_cur;

/* Runs with fake libgcc state: it must call nothing that could split
 * (libc included: gold would make the call ask for a segment). */
static void inspect(void)
{
	for (;;) {
		other_saw_errno = RT_ERRNO;
		other_saw_limit = rt__split_limit();
		other_saw_segments = __morestack_segments;
		other_saw_cur = __morestack_current_segment;
		RT_ERRNO = 22;
		rt__switch(&other_ctx, &main_ctx);
	}
}

static void test_state_per_context(void **state)
{
	void *my_limit = rt__split_limit();
	void *my_segments = __morestack_segments;
	char *fake_guard;

	(void)state;
	make_other(inspect, NULL);
	fake_guard = other_stack + 4096;
	other_ctx.guard = fake_guard;
	other_ctx.segments = (void *)0x1234;
	other_ctx.cur_segment = (void *)0x5678;
	other_ctx.err = 7;

	errno = 11;
	rt__switch(&main_ctx, &other_ctx);
	assert_int_equal(errno, 11);
	assert_int_equal(other_saw_errno, 7);
	assert_ptr_equal(other_saw_limit, fake_guard);
	assert_ptr_equal(other_saw_segments, (void *)0x1234);
	assert_ptr_equal(other_saw_cur, (void *)0x5678);
	assert_ptr_equal(rt__split_limit(), my_limit);
	assert_ptr_equal(__morestack_segments, my_segments);
	assert_int_equal(other_ctx.err, 22);   /* saved at its switch */

	errno = 12;
	rt__switch(&main_ctx, &other_ctx);
	assert_int_equal(other_saw_errno, 22); /* its own, restored */
	assert_int_equal(errno, 12);
	/* Put the fake pointers out of libgcc's reach for good. */
	other_ctx.segments = other_ctx.cur_segment = NULL;
}

/* ------------------------------------------------------------------
 * rt__call_on_stack
 * ---------------------------------------------------------------- */
static char *fn_sp;
static void *fn_limit;

static void *on_other_stack(void *arg)
{
	__asm__ volatile ("movq %%rsp, %0" : "=r" (fn_sp));
	fn_limit = rt__split_limit();
	return (char *)arg + 1;
}

static void test_call_on_stack(void **state)
{
	char *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *limit = rt__split_limit(), *r;

	(void)state;
	assert_true(stack != MAP_FAILED);
	r = rt__call_on_stack(on_other_stack, (void *)100, stack + STACK);
	assert_ptr_equal(r, (void *)101);
	assert_true(fn_sp < stack + STACK && fn_sp > stack);
	assert_null(fn_limit);
	assert_ptr_equal(rt__split_limit(), limit);
	munmap(stack, STACK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_callee_saved),
		cmocka_unit_test(test_state_per_context),
		cmocka_unit_test(test_call_on_stack),
	};

	rtt_filter_from_env();
	return cmocka_run_group_tests_name("rt_switch", tests, NULL, NULL);
}
