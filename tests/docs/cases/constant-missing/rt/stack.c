/* first segment */
#define RT_STACK_FIRST 12800
