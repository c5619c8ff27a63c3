/*
 * threadlab — the experiment's command-line driver.
 *
 *     threadlab [--help] COMMAND [FLAGS...]
 *     threadlab help [COMMAND]
 *     threadlab COMMAND --help
 *
 * This file only dispatches: it finds COMMAND in `commands` below and
 * calls its entry point with argv starting at the command's name. Each
 * command parses its own flags (getopt_long) and owns its help text, so
 * `threadlab help micro` and `threadlab micro --help` print the same.
 * A new subcommand (sink, send, compare, topo) is a file defining a
 * struct bench_cmd, declared in bench.h, plus one line in `commands`.
 *
 * Exit statuses: 0 success, 1 failure while running, 2 usage error (an
 * unknown command or flag, a bad value): the message names what was wrong.
 *
 * Shared state: none (main thread only).
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"

static const struct bench_cmd *const commands[] = {
	&bench_cmd_micro,
	&bench_cmd_topo,
	&bench_cmd_send,
	&bench_cmd_compare,
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct bench_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void usage(FILE *to)
{
	fputs("usage: threadlab [--help] COMMAND [FLAGS...]\n"
	      "\n"
	      "threadlab does the same concurrent work with kernel threads it makes\n"
	      "itself with clone(), with pthreads, and with goroutine-like tasks, and\n"
	      "measures them side by side. Results are printed in Go's benchmark\n"
	      "format.\n"
	      "\n"
	      "Commands:\n", to);
	for (size_t i = 0; i < N_COMMANDS; i++)
		fprintf(to, "  %-10s %s\n", commands[i]->name,
			commands[i]->summary);
	fprintf(to, "  %-10s %s\n", "help", "show the help of a command");
	fputs("\n"
	      "Run 'threadlab help COMMAND' or 'threadlab COMMAND --help' for a\n"
	      "command's flags. Exit status: 0 success, 1 a run failed, 2 usage error.\n",
	      to);
}

static int unknown_command(const char *name)
{
	fprintf(stderr, "threadlab: unknown command '%s'\n"
		"Run 'threadlab --help' for the list of commands.\n", name);
	return BENCH_EXIT_USAGE;
}

/* threadlab help [COMMAND] */
static int help_main(int argc, char **argv)
{
	const struct bench_cmd *cmd;

	if (argc < 2 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return BENCH_EXIT_OK;
	}
	if (argc > 2) {
		fprintf(stderr, "threadlab help: one command at a time "
			"(unexpected '%s')\n", argv[2]);
		return BENCH_EXIT_USAGE;
	}
	cmd = find_command(argv[1]);
	if (!cmd)
		return unknown_command(argv[1]);
	bench_cmd_usage(cmd, stdout);
	return BENCH_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const struct bench_cmd *cmd;
	int c;

	/* '+': stop at the command's name, whose flags are its own. ':':
	 * tell a missing value from an unknown flag. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", longopts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return BENCH_EXIT_OK;
		}
		return bench_flag_error(NULL, c, argv);
	}
	if (optind >= argc) {
		fputs("threadlab: no command given\n\n", stderr);
		usage(stderr);
		return BENCH_EXIT_USAGE;
	}
	argc -= optind;
	argv += optind;
	if (strcmp(argv[0], "help") == 0)
		return help_main(argc, argv);
	cmd = find_command(argv[0]);
	if (!cmd)
		return unknown_command(argv[0]);
	return cmd->run(argc, argv);
}
