/* metaidx.c: the metaidx command line over the public API only: command
 * dispatch, --version and --help. Each command lives in its own cmd_*.c. */
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

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

/* OpenBLAS (under FAISS) starts a worker thread when the library loads,
 * before main, and that thread retries its 128 MB buffer allocation
 * forever when the address space is limited (ulimit -v): every command
 * then printed its result or error and never exited (exit waits for the
 * thread). With a finite address-space limit the tool runs itself again
 * with OPENBLAS_NUM_THREADS=1, so that no such thread exists. The tool's
 * own threads and FAISS's OpenMP are unaffected. */
static void single_blas_thread_if_limited(char **argv) {
  struct rlimit rl;
  if (getenv("OPENBLAS_NUM_THREADS") || getrlimit(RLIMIT_AS, &rl) != 0 ||
      rl.rlim_cur == RLIM_INFINITY)
    return;
  if (setenv("OPENBLAS_NUM_THREADS", "1", 1) != 0)
    return;
  execv("/proc/self/exe", argv);
  /* no /proc: carry on as before */
}

int main(int argc, char **argv) {
  single_blas_thread_if_limited(argv);
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
