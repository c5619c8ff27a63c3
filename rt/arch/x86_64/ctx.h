/*
 * Byte offsets into struct rt__ctx (rt/internal.h), shared by the C code
 * and switch.S. rt/sched.c checks each against offsetof() at compile time.
 */
#ifndef RT_ARCH_X86_64_CTX_H
#define RT_ARCH_X86_64_CTX_H

#define RT_CTX_SP          0   /* saved %rsp: callee-saved regs are on top */
#define RT_CTX_GUARD       8   /* the split-stack limit, %fs:0x70 */
#define RT_CTX_SEGMENTS   16   /* libgcc's __morestack_segments */
#define RT_CTX_CURSEG     24   /* libgcc's __morestack_current_segment */
#define RT_CTX_INITIAL_SP 32   /* libgcc's __morestack_initial_sp.sp */
#define RT_CTX_INITIAL_LEN 40  /* libgcc's __morestack_initial_sp.len */
#define RT_CTX_ERRNO      48   /* the task's errno while it is switched out */
#define RT_CTX_SIZE       56

/* Where gcc's x86-64 split-stack code keeps the stack limit: a field of
 * glibc's TCB reserved for it (tcbhead_t.__private_ss). */
#define RT_TCB_SPLIT_LIMIT 0x70

#endif
