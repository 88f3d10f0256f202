/* metaidx.c: the metaidx command line over the public API only: command
 * dispatch, --version and --help. Each command lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "metaidx.h"

typedef struct command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} command;

static const command commands[] = {
    {"gen", cmd_gen, "write a synthetic MetaEmbed-shaped collection (docs, queries, qrels)"},
    {"build", cmd_build, "build an index from .npy document files"},
    {"search", cmd_search, "search an index with .npy queries; write a TREC or JSONL run"},
    {"exact", cmd_exact, "brute-force exact MaxSim search (ground truth)"},
    {"tune", cmd_tune, "calibrate search by recall: candidates per budget for a target recall"},
    {"eval", cmd_eval, "score a run against a truth run (recall) or qrels (MRR, nDCG)"},
    {"info", cmd_info, "print an index's manifest, counts and sizes as JSON"},
    {"verify", cmd_verify, "check every checksum and id map of an index"},
    {"bench", cmd_bench, "run metaidx-bench: latency, recall and cost per budget (bench/README.md)"},
};

static void usage(FILE *out) {
  fprintf(out, "usage: metaidx [--version] [--help] COMMAND [ARGS]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\nrun 'metaidx COMMAND --help' for a command's options.\n"
               "exit status: 0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_EXIT_USAGE;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("metaidx %s (simd: %s)\n", mx_version(), mx_simd_path());
    return CLI_EXIT_OK;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return CLI_EXIT_OK;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(argv[1], commands[i].name) == 0)
      return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "metaidx: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return CLI_EXIT_USAGE;
}
