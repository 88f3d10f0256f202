/* cli.h: the command line's shared pieces: a table-driven long-option
 * parser (--name VALUE and --name=VALUE, typed values, generated --help),
 * error reporting with the tool's exit codes. Budget lists and cascades
 * are parsed by common/budget.h, as in the library and the benchmarks. */
#ifndef MX_TOOLS_CLI_H
#define MX_TOOLS_CLI_H

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>

#include "metaidx.h"

/* Exit codes of every command. */
enum { CLI_EXIT_OK = 0, CLI_EXIT_FAIL = 1, CLI_EXIT_USAGE = 2, CLI_CONTINUE = -1 };

typedef enum cli_type {
  CLI_FLAG,   /* int: set to 1 when present; takes no value */
  CLI_U32,    /* uint32_t */
  CLI_U64,    /* uint64_t */
  CLI_DOUBLE, /* double */
  CLI_STRING  /* const char *, pointing into argv */
} cli_type;

typedef struct cli_opt {
  const char *name;    /* without the leading "--" */
  cli_type type;
  void *dest;          /* typed as above; keeps its value when absent */
  const char *metavar; /* shown in --help; NULL for flags */
  const char *help;    /* one line; the default is part of it */
  int required;
  int seen;            /* set by cli_parse */
} cli_opt;

typedef struct cli_command {
  const char *name;     /* "build" */
  const char *args;     /* positional arguments for the usage line, or "" */
  const char *summary;  /* one line */
  cli_opt *opts;        /* terminated by an entry with name == NULL */
  uint32_t min_pos, max_pos; /* positional arguments accepted */
} cli_command;

/* Parses argv[1..argc) (argv[0] is the command name) against cmd->opts.
 * Positional arguments are stored in order into pos (room for pos_cap
 * entries), their number in *n_pos. "--" ends the options. Returns
 * CLI_CONTINUE (negative) to go on, or the exit code to return at once:
 * 0 after printing --help to stdout, 2 after printing a usage error
 * (naming the option) to stderr. */
int cli_parse(const cli_command *cmd, int argc, char **argv, char **pos, uint32_t pos_cap,
              uint32_t *n_pos);

/* 1 if the option named `name` was given in the last cli_parse. */
int cli_seen(const cli_opt *opts, const char *name);

/* Writes the generated help of a command. */
void cli_help(const cli_command *cmd, FILE *out);

/* Prints "metaidx CMD: message" to stderr; returns CLI_EXIT_FAIL. */
int cli_fail(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Same, with the message of a failed library call. */
int cli_fail_err(const char *cmd, const mx_error *err);
/* Prints "metaidx CMD: message" plus a hint to run --help; returns
 * CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* 0, or a usage error (CLI_EXIT_USAGE) for --threads above MX_MAX_THREADS. */
int cli_check_threads(const char *cmd, uint32_t threads);

/* Opens path for writing ("-" is stdout); NULL with a message on failure. */
FILE *cli_open_out(const char *cmd, const char *path);
/* Flushes and closes (not stdout, only flushed); 0 or CLI_EXIT_FAIL with a
 * message naming the path. */
int cli_close_out(const char *cmd, const char *path, FILE *f);

/* Writes o as one line (json_dumps with `flags`) to out; 0, or
 * CLI_EXIT_FAIL with a message when it cannot be serialised. */
int cli_print_json(const char *cmd, FILE *out, const json_t *o, size_t flags);

/* Commands, one function each: argv[0] is the command's name. */
int cmd_gen(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_exact(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_bench(int argc, char **argv); /* runs metaidx-bench (cmd_bench.c) */

#endif
