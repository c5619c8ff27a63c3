/*
 * rt_switch.c — what a context switch costs, and what the split-stack
 * state adds to it (docs/tasks.md).
 *
 * Two contexts on one thread bounce between each other N times, first
 * with rt/'s rt__switch (callee-saved registers + %rsp + the split-stack
 * limit, libgcc's three thread variables and errno), then with a bare
 * swap of the callee-saved registers and %rsp written below, once ending
 * in ret and once, as rt__switch does, in a pop and an indirect jmp: the
 * difference between the two is the cost of a return that the CPU's
 * return stack mispredicts. Prints ns per switch for each, best of 5
 * rounds.
 *
 * Build (docs/code/rt-examples.sh does): gcc -D_GNU_SOURCE -I. -O2
 *   -fsplit-stack -fuse-ld=gold docs/code/rt_switch.c
 *   build/lib/libthreadlab.a -lnuma
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "rt/internal.h"

/* The bare switch: the same pushes and pops as rt__switch, nothing else
 * (it returns with ret; rt__switch jumps: see switch.S). */
__asm__(".text\n"
	".globl bare_switch\n"
	".type bare_switch,@function\n"
	"bare_switch:\n"
	"	pushq %rbp\n pushq %rbx\n pushq %r12\n"
	"	pushq %r13\n pushq %r14\n pushq %r15\n"
	"	movq %rsp, (%rdi)\n"            /* from->sp */
	"	movq (%rsi), %rsp\n"            /* to->sp */
	"	popq %r15\n popq %r14\n popq %r13\n"
	"	popq %r12\n popq %rbx\n popq %rbp\n"
	"	ret\n"
	".size bare_switch, .-bare_switch\n");
void bare_switch(void *from, void *to);

/* The same, ending as rt__switch ends: pop the return address and jump
 * to it, so that no ret is predicted from the return stack. */
__asm__(".text\n"
	".globl bare_switch_jmp\n"
	".type bare_switch_jmp,@function\n"
	"bare_switch_jmp:\n"
	"	pushq %rbp\n pushq %rbx\n pushq %r12\n"
	"	pushq %r13\n pushq %r14\n pushq %r15\n"
	"	movq %rsp, (%rdi)\n"            /* from->sp */
	"	movq (%rsi), %rsp\n"            /* to->sp */
	"	popq %r15\n popq %r14\n popq %r13\n"
	"	popq %r12\n popq %rbx\n popq %rbp\n"
	"	popq %rcx\n"                    /* caller-saved: free to use */
	"	jmp *%rcx\n"
	".size bare_switch_jmp, .-bare_switch_jmp\n");
void bare_switch_jmp(void *from, void *to);

static struct rt__ctx a, b, c, d, e, f;

static void entry_rt(void)
{
	for (;;)
		rt__switch(&b, &a);
}

static void entry_bare(void)
{
	for (;;)
		bare_switch(&d, &c);
}

static void entry_bare_jmp(void)
{
	for (;;)
		bare_switch_jmp(&f, &e);
}

/* A context that starts fn on a fresh 1 MiB stack (limit 0: no split). */
static void make(struct rt__ctx *x, void (*fn)(void))
{
	char *stk = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void **frame = (void **)(stk + (1 << 20)) - 8;

	for (int i = 0; i < 6; i++)
		frame[i] = NULL;
	frame[6] = (void *)fn;
	x->sp = frame;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000, i;
	double best_rt = 1e9, best_bare = 1e9, best_jmp = 1e9;

	make(&b, entry_rt);
	make(&d, entry_bare);
	make(&f, entry_bare_jmp);
	rt_errno_location();    /* sets errno's offset for rt__switch */
	for (int round = 0; round < 5; round++) {
		int64_t t0 = sys_now_ns(), t1, t2, t3;

		for (i = 0; i < n; i++)
			rt__switch(&a, &b);
		t1 = sys_now_ns();
		for (i = 0; i < n; i++)
			bare_switch(&c, &d);
		t2 = sys_now_ns();
		for (i = 0; i < n; i++)
			bare_switch_jmp(&e, &f);
		t3 = sys_now_ns();
		/* Each iteration is two switches: there and back. */
		if ((t1 - t0) / 2.0 / n < best_rt)
			best_rt = (t1 - t0) / 2.0 / n;
		if ((t2 - t1) / 2.0 / n < best_bare)
			best_bare = (t2 - t1) / 2.0 / n;
		if ((t3 - t2) / 2.0 / n < best_jmp)
			best_jmp = (t3 - t2) / 2.0 / n;
	}
	printf("rt__switch (registers, %%rsp, split-stack state, errno): "
	       "%.1f ns per switch\n", best_rt);
	printf("bare switch (registers, %%rsp), ending in ret:           "
	       "%.1f ns per switch\n", best_bare);
	printf("bare switch (registers, %%rsp), ending in jmp:           "
	       "%.1f ns per switch\n", best_jmp);
	return 0;
}
