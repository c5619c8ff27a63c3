/*
 * Raw system calls on x86-64 Linux, in inline assembly.
 *
 * The kernel's calling convention (arch/x86/entry/entry_64.S):
 *   %rax  system call number in, return value out
 *   %rdi  1st argument
 *   %rsi  2nd argument
 *   %rdx  3rd argument
 *   %r10  4th argument — not %rcx as in the C ABI, because the
 *         `syscall` instruction itself overwrites %rcx
 *   %r8   5th argument
 *   %r9   6th argument
 * `syscall` saves the user %rip in %rcx and %rflags in %r11, so both are
 * clobbered. Every other register is preserved. "memory" is clobbered
 * because the kernel may read or write any buffer we passed it.
 *
 * The return value is the kernel's own: -4095..-1 is -errno, anything else
 * is a result. Nothing here touches errno.
 */
#ifndef SYS_ARCH_X86_64_SYSCALL_ARCH_H
#define SYS_ARCH_X86_64_SYSCALL_ARCH_H

static inline long sys_syscall0(long n)
{
	long ret;
	__asm__ volatile ("syscall"
		: "=a" (ret)            /* %rax: result */
		: "a" (n)               /* %rax: number */
		: "rcx", "r11", "memory");
	return ret;
}

static inline long sys_syscall1(long n, long a1)
{
	long ret;
	__asm__ volatile ("syscall"
		: "=a" (ret)
		: "a" (n), "D" (a1)     /* %rdi: 1st */
		: "rcx", "r11", "memory");
	return ret;
}

static inline long sys_syscall2(long n, long a1, long a2)
{
	long ret;
	__asm__ volatile ("syscall"
		: "=a" (ret)
		: "a" (n), "D" (a1), "S" (a2)   /* %rsi: 2nd */
		: "rcx", "r11", "memory");
	return ret;
}

static inline long sys_syscall3(long n, long a1, long a2, long a3)
{
	long ret;
	__asm__ volatile ("syscall"
		: "=a" (ret)
		: "a" (n), "D" (a1), "S" (a2), "d" (a3) /* %rdx: 3rd */
		: "rcx", "r11", "memory");
	return ret;
}

static inline long sys_syscall4(long n, long a1, long a2, long a3, long a4)
{
	long ret;
	/* There is no constraint letter for %r10: bind a register variable. */
	register long r10 __asm__ ("r10") = a4;     /* %r10: 4th */
	__asm__ volatile ("syscall"
		: "=a" (ret)
		: "a" (n), "D" (a1), "S" (a2), "d" (a3), "r" (r10)
		: "rcx", "r11", "memory");
	return ret;
}

static inline long sys_syscall5(long n, long a1, long a2, long a3, long a4,
				long a5)
{
	long ret;
	register long r10 __asm__ ("r10") = a4;     /* %r10: 4th */
	register long r8 __asm__ ("r8") = a5;       /* %r8: 5th */
	__asm__ volatile ("syscall"
		: "=a" (ret)
		: "a" (n), "D" (a1), "S" (a2), "d" (a3), "r" (r10), "r" (r8)
		: "rcx", "r11", "memory");
	return ret;
}

static inline long sys_syscall6(long n, long a1, long a2, long a3, long a4,
				long a5, long a6)
{
	long ret;
	register long r10 __asm__ ("r10") = a4;     /* %r10: 4th */
	register long r8 __asm__ ("r8") = a5;       /* %r8: 5th */
	register long r9 __asm__ ("r9") = a6;       /* %r9: 6th */
	__asm__ volatile ("syscall"
		: "=a" (ret)
		: "a" (n), "D" (a1), "S" (a2), "d" (a3), "r" (r10), "r" (r8),
		  "r" (r9)
		: "rcx", "r11", "memory");
	return ret;
}

/* The thread pointer: %fs:0 holds its own address (the TCB's `tcb` field). */
static inline void *sys_arch_thread_pointer(void)
{
	void *tp;
	__asm__ ("mov %%fs:0, %0" : "=r" (tp));
	return tp;
}

/* A pause for spin loops: tells the CPU (and a hypervisor) we are spinning. */
static inline void sys_arch_relax(void)
{
	__asm__ volatile ("pause" ::: "memory");
}

#endif
