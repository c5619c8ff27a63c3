/*
 * long sys__clone(unsigned long flags, void *stack, int *ptid, int *ctid,
 *                 void *tls, int (*fn)(void *), void *arg);
 *
 * Make a kernel thread with the clone system call and run fn(arg) on it.
 * The parent gets the child's thread id (or -errno) back, like clone(2).
 * The child never returns from here: when fn returns, it calls exit (the
 * thread's exit, not exit_group) with fn's result.
 *
 * Why assembly: after the system call the child runs on a brand-new stack
 * that holds nothing, so no C code may run between `syscall` and the call
 * of fn — a C function would return to a frame that is not there. We put
 * fn and arg on the child's stack *before* the system call, where the
 * child can pop them.
 *
 * C calling convention on entry (System V AMD64):
 *   %rdi flags   %rsi stack   %rdx ptid   %rcx ctid   %r8 tls   %r9 fn
 *   8(%rsp) arg  (the 7th argument is passed on the stack)
 * Kernel convention for clone on x86-64:
 *   %rax 56 (SYS_clone)   %rdi flags   %rsi new stack pointer
 *   %rdx parent_tid       %r10 child_tid   %r8 tls
 */
	.text
	.globl	sys__clone
	.hidden	sys__clone
	.type	sys__clone, @function
	.p2align 4
sys__clone:
	.cfi_startproc
	movq	8(%rsp), %rax		/* %rax = arg (7th argument, from our stack) */
	andq	$-16, %rsi		/* align the child's stack down to 16 bytes */
	subq	$16, %rsi		/* room for two words below the top */
	movq	%r9, 0(%rsi)		/* child stack[0] = fn */
	movq	%rax, 8(%rsi)		/* child stack[1] = arg */
	movq	%rcx, %r10		/* 4th syscall argument goes in %r10 */
	movl	$56, %eax		/* SYS_clone */
	syscall				/* parent: %rax = tid or -errno; child: 0 */
	testq	%rax, %rax
	jz	1f			/* 0: we are the child */
	ret				/* parent (or failure): back to C */
1:
	/* Child. %rsp = the stack we prepared; no caller frame exists. */
	.cfi_undefined rip		/* tell unwinders: this is the outermost frame */
	xorl	%ebp, %ebp		/* %rbp = 0 ends frame-pointer walks too */
	popq	%rax			/* %rax = fn */
	popq	%rdi			/* %rdi = arg, fn's first argument */
	/* %rsp is 16-byte aligned here; `call` pushes the return address,
	 * so fn starts with %rsp ≡ 8 (mod 16), as the ABI requires. */
	call	*%rax
	movl	%eax, %edi		/* exit status = fn's return value */
	movl	$60, %eax		/* SYS_exit: this thread only */
	syscall
	hlt				/* not reached: exit does not return */
	.cfi_endproc
	.size	sys__clone, .-sys__clone

	/* No executable stack for this object. */
	.section .note.GNU-stack,"",@progbits
