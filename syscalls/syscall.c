/*
 * Thin wrappers over the raw system calls of arch/<arch>/syscall_arch.h.
 *
 * Each returns the kernel's value untouched: a result or -errno. None of
 * them reads or writes errno — this layer's code runs where errno may
 * belong to another thread (rt/ tasks migrate between workers).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sys.h"

long sys_write(int fd, const void *buf, size_t len)
{
	return sys_syscall3(SYS_write, fd, (long)buf, (long)len);
}

long sys_read(int fd, void *buf, size_t len)
{
	return sys_syscall3(SYS_read, fd, (long)buf, (long)len);
}

int sys_close(int fd)
{
	return (int)sys_syscall1(SYS_close, fd);
}

int sys_gettid(void)
{
	return (int)sys_syscall0(SYS_gettid);
}

int sys_getpid(void)
{
	return (int)sys_syscall0(SYS_getpid);
}

int sys_getcpu(void)
{
	unsigned cpu = 0;
	long r = sys_syscall3(SYS_getcpu, (long)&cpu, 0, 0);

	return r < 0 ? (int)r : (int)cpu;
}

int sys_sched_yield(void)
{
	return (int)sys_syscall0(SYS_sched_yield);
}

void *sys_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
	return (void *)sys_syscall6(SYS_mmap, (long)addr, (long)len, prot,
				    flags, fd, off);
}

int sys_munmap(void *addr, size_t len)
{
	return (int)sys_syscall2(SYS_munmap, (long)addr, (long)len);
}

int sys_mprotect(void *addr, size_t len, int prot)
{
	return (int)sys_syscall3(SYS_mprotect, (long)addr, (long)len, prot);
}

int sys_madvise(void *addr, size_t len, int advice)
{
	return (int)sys_syscall3(SYS_madvise, (long)addr, (long)len, advice);
}

int sys_sched_setaffinity(int tid, const cpu_set_t *set)
{
	return (int)sys_syscall3(SYS_sched_setaffinity, tid, sizeof(*set),
				 (long)set);
}

int sys_sched_getaffinity(int tid, cpu_set_t *set)
{
	/* The kernel returns the number of bytes it wrote; the rest of the
	 * set must read as zero, so clear it first. */
	CPU_ZERO(set);
	long r = sys_syscall3(SYS_sched_getaffinity, tid, sizeof(*set),
			      (long)set);
	return r < 0 ? (int)r : 0;
}

int64_t sys_now_ns(void)
{
	struct timespec ts;

	/* glibc answers CLOCK_MONOTONIC from the vDSO, without a system call
	 * and without touching errno on success (it cannot fail here). */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int sys_nanosleep(int64_t ns)
{
	struct timespec ts = {
		.tv_sec = ns / 1000000000,
		.tv_nsec = ns % 1000000000,
	};

	if (ns <= 0)
		return 0;
	return (int)sys_syscall2(SYS_nanosleep, (long)&ts, 0);
}

void sys_panic(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "threadlab: ");

	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	/* A raw write: stdio may be what is broken. */
	sys_write(2, buf, n);
	abort();
}

int sys_online_cpus(cpu_set_t *set)
{
	char buf[256];
	long fd, n;

	CPU_ZERO(set);
	fd = sys_syscall4(SYS_openat, -100 /* AT_FDCWD */,
			  (long)"/sys/devices/system/cpu/online",
			  00 /* O_RDONLY */ | 02000000 /* O_CLOEXEC */, 0);
	if (fd < 0)
		return sys_sched_getaffinity(0, set);
	n = sys_read((int)fd, buf, sizeof(buf) - 1);
	sys_close((int)fd);
	if (n <= 0)
		return sys_sched_getaffinity(0, set);
	buf[n] = '\0';

	/* "0-3,5,7-8\n" */
	for (char *p = buf; *p && *p != '\n';) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (end == p)
			return -EINVAL;
		if (*end == '-') {
			p = end + 1;
			hi = strtoul(p, &end, 10);
			if (end == p || hi < lo)
				return -EINVAL;
		}
		for (unsigned long c = lo; c <= hi && c < CPU_SETSIZE; c++)
			CPU_SET(c, set);
		p = *end == ',' ? end + 1 : end;
	}
	return CPU_COUNT(set) > 0 ? 0 : -ENOENT;
}
