/*
 * rt/ context switch for x86-64 (System V ABI, Linux).
 *
 * Three routines, none of them with a split-stack prologue:
 *
 *   void rt__switch(struct rt__ctx *from, struct rt__ctx *to)
 *       Save the running context into *from and resume *to. Returns (in
 *       the *from context) only when somebody later switches back to it.
 *   rt__task_entry
 *       Not called: the first "return address" of every new task's stack,
 *       so the first switch to a task "returns" here.
 *   void *rt__call_on_stack(void *(*fn)(void *), void *arg, void *sp)
 *       Call fn(arg) on another stack (the worker's own), with the
 *       split-stack limit off while it runs; return what fn returned.
 *
 * What a context is (struct rt__ctx, offsets in ctx.h):
 *
 *   - The callee-saved registers of the ABI: %rbx, %rbp, %r12-%r15. They
 *     are pushed on the outgoing stack, so a context costs its record
 *     only the stack pointer. The caller-saved registers (%rax, %rcx,
 *     %rdx, %rsi, %rdi, %r8-%r11, every %xmm) need no saving: the C
 *     code that calls rt__switch already assumes a call clobbers them.
 *   - %rsp itself, in ctx->sp.
 *   - The split-stack state. gcc's -fsplit-stack prologues compare %rsp
 *     with the limit at %fs:0x70; libgcc's __morestack keeps the task's
 *     chain of extra segments in three thread variables:
 *     __morestack_segments, __morestack_current_segment and
 *     __morestack_initial_sp (.sp and .len, the first segment's top and
 *     usable length, from which it recomputes the limit when a call
 *     returns to the first segment). All of it belongs to the task, not to
 *     the thread, so it is saved and restored here, inline — libgcc's
 *     __splitstack_getcontext/setcontext would do the same in two calls
 *     that cost more than the rest of the switch. (The fourth variable
 *     field libgcc reads, dont_block_signals, is set once per worker and
 *     is the same for every context on it.)
 *   - errno. glibc's errno is per thread, and tasks move between worker
 *     threads; saving it here gives each task its own errno across
 *     switches. (Code must still not keep errno's *address* across a
 *     switch: see rt/rt.h.)
 *
 * What is deliberately not switched:
 *   - %fs (the thread pointer): a task's thread-local storage is that of
 *     whichever worker runs it now. That is why no TLS address may stay
 *     live across a switch in rt/ or in task code.
 *   - MXCSR and the x87 control word (rounding modes, exception masks):
 *     callee-saved "control bits" in the ABI, but saving them costs more
 *     than the rest of the switch (ldmxcsr serialises); like Go, rt/
 *     assumes every task runs with the default floating-point
 *     environment. A task that changes it must restore it before it
 *     yields or blocks.
 *   - The direction flag: clear at every call by the ABI.
 *
 * The %fs-relative addresses of libgcc's thread variables come from the
 * GOT (initial-exec TLS: they live in the program's static TLS block);
 * errno's offset from the thread pointer is computed once at start-up by
 * rt/sched.c (rt__errno_tpoff), because errno belongs to libc.so.
 *
 * This object carries .note.GNU-split-stack (at the end): without it, gold
 * and lld would take every call into it from split-stack code for a call
 * into non-split code and make the caller ask for a 1 MiB segment first.
 * It also carries .note.GNU-no-split-stack, which tells them that its
 * functions have no split-stack prologue on purpose.
 */
#include "ctx.h"

	.text

/* void rt__switch(struct rt__ctx *from, struct rt__ctx *to) */
	.globl	rt__switch
	.hidden	rt__switch
	.type	rt__switch, @function
	.p2align 4
rt__switch:
	.cfi_startproc
	/* %rdi = from, %rsi = to (1st and 2nd arguments). */
	pushq	%rbp			/* callee-saved: frame pointer */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12			/* callee-saved (holds the task at entry) */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15			/* callee-saved */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	movq	%rsp, RT_CTX_SP(%rdi)	/* from->sp: where the six are */

	/* %fs-relative offsets of the per-thread variables (scratch
	 * registers, caller-saved, free to use). */
	movq	__morestack_segments@gottpoff(%rip), %r8
	movq	__morestack_current_segment@gottpoff(%rip), %r9
	movq	__morestack_initial_sp@gottpoff(%rip), %r10
	movq	rt__errno_tpoff(%rip), %r11

	/* Save the outgoing split-stack state and errno (%rax, %rcx, %rdx
	 * scratch). */
	movq	%fs:RT_TCB_SPLIT_LIMIT, %rax	/* the stack limit */
	movq	%fs:(%r8), %rcx			/* segment list */
	movq	%fs:(%r9), %rdx			/* current segment */
	movq	%rax, RT_CTX_GUARD(%rdi)
	movq	%rcx, RT_CTX_SEGMENTS(%rdi)
	movq	%rdx, RT_CTX_CURSEG(%rdi)
	movq	%fs:(%r10), %rax		/* initial_sp.sp */
	movq	%fs:8(%r10), %rcx		/* initial_sp.len */
	movl	%fs:(%r11), %edx		/* errno */
	movq	%rax, RT_CTX_INITIAL_SP(%rdi)
	movq	%rcx, RT_CTX_INITIAL_LEN(%rdi)
	movl	%edx, RT_CTX_ERRNO(%rdi)

	/* Load the incoming ones. Nothing between here and the ret runs a
	 * split-stack prologue, so the limit may change before %rsp does. */
	movq	RT_CTX_GUARD(%rsi), %rax
	movq	RT_CTX_SEGMENTS(%rsi), %rcx
	movq	RT_CTX_CURSEG(%rsi), %rdx
	movq	%rax, %fs:RT_TCB_SPLIT_LIMIT
	movq	%rcx, %fs:(%r8)
	movq	%rdx, %fs:(%r9)
	movq	RT_CTX_INITIAL_SP(%rsi), %rax
	movq	RT_CTX_INITIAL_LEN(%rsi), %rcx
	movl	RT_CTX_ERRNO(%rsi), %edx
	movq	%rax, %fs:(%r10)
	movq	%rcx, %fs:8(%r10)
	movl	%edx, %fs:(%r11)

	movq	RT_CTX_SP(%rsi), %rsp	/* now on the incoming stack */
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	/* Into the incoming context: pop its return address and jump,
	 * rather than ret. A ret is predicted from the CPU's return stack,
	 * which holds *our* caller — always wrong here; an indirect jmp is
	 * predicted from where this jmp went before, which a scheduler
	 * switching between the same call sites often gets right. Measured
	 * by docs/code/rt_switch.c: 14.2 ns per switch with ret, 5.0 with
	 * jmp; spawn+run+exit 50 -> 29 ns. (The return stack is left one
	 * entry out of step; the next ret up the stack pays for it.) */
	popq	%rcx			/* caller-saved: free to use */
	.cfi_adjust_cfa_offset -8
	.cfi_register %rip, %rcx
	jmp	*%rcx
	.cfi_endproc
	.size	rt__switch, . - rt__switch

/*
 * rt__task_entry: where a new task starts. rt/stack.c builds the first
 * frame so that rt__switch pops %r12 = the task and "returns" here with
 * %rsp at the top of the task's stack, 16-byte aligned.
 */
	.globl	rt__task_entry
	.hidden	rt__task_entry
	.type	rt__task_entry, @function
	.p2align 4
rt__task_entry:
	.cfi_startproc
	.cfi_undefined %rip		/* outermost frame: unwinders stop */
	xorl	%ebp, %ebp		/* and so do frame-pointer walks */
	movq	%r12, %rdi		/* 1st argument: struct rt_task * */
	call	rt__task_main		/* runs the task; never returns */
	ud2
	.cfi_endproc
	.size	rt__task_entry, . - rt__task_entry

/*
 * void *rt__call_on_stack(void *(*fn)(void *), void *arg, void *sp)
 * %rdi = fn, %rsi = arg, %rdx = the new stack pointer (16-byte aligned;
 * the caller leaves room below anything live on that stack).
 *
 * %fs:0x70 = 0 while fn runs: split-stack code in fn then never asks
 * for a segment (the stack is a big one), and calls into non-split code
 * (libc) never ask for the 1 MiB segment either. libgcc's segment
 * variables are left alone: with the limit at 0 nothing reads them.
 */
	.globl	rt__call_on_stack
	.hidden	rt__call_on_stack
	.type	rt__call_on_stack, @function
	.p2align 4
rt__call_on_stack:
	.cfi_startproc
	pushq	%rbp			/* callee-saved; becomes our frame */
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	movq	%rsp, %rbp		/* %rbp = the old stack, for the way back */
	.cfi_def_cfa_register %rbp	/* unwinders follow %rbp, not %rsp */
	pushq	%rbx			/* callee-saved: holds the old limit */
	.cfi_rel_offset %rbx, -8
	movq	%fs:RT_TCB_SPLIT_LIMIT, %rbx
	movq	$0, %fs:RT_TCB_SPLIT_LIMIT
	movq	%rdx, %rsp		/* onto the other stack */
	movq	%rdi, %rax		/* fn */
	movq	%rsi, %rdi		/* fn's 1st argument: arg */
	call	*%rax			/* %rax = fn's result, kept for our caller */
	movq	%rbx, %fs:RT_TCB_SPLIT_LIMIT
	leaq	-8(%rbp), %rsp		/* back on the old stack, at %rbx */
	popq	%rbx
	.cfi_restore %rbx
	popq	%rbp
	.cfi_restore %rbp
	.cfi_def_cfa %rsp, 8
	ret
	.cfi_endproc
	.size	rt__call_on_stack, . - rt__call_on_stack

/*
 * The address of libgcc's __morestack, for rt/stack.c to check the code
 * it relies on. Taken here, in data, because gold redirects every
 * reference to __morestack made from a split-stack function that calls
 * non-split code to __morestack_non_split.
 */
	.section .data.rel.ro,"aw"
	.p2align 3
	.globl	rt__morestack_addr
	.hidden	rt__morestack_addr
	.type	rt__morestack_addr, @object
rt__morestack_addr:
	.quad	__morestack
	.size	rt__morestack_addr, 8

	.section .note.GNU-split-stack,"",@progbits
	.section .note.GNU-no-split-stack,"",@progbits
	.section .note.GNU-stack,"",@progbits
