/*
 * threadlab — the experiment's command-line driver (placeholder).
 *
 * Only here so that `make all` links build/bin/threadlab while the real
 * driver (subcommands micro, help, ...) is being written.
 */
#include <stdio.h>

int main(int argc, char **argv)
{
	fprintf(stderr, "threadlab: no subcommands yet\n");
	return 2;
}
