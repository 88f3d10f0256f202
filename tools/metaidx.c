/* metaidx.c: the metaidx command line, over the public API only. */
#include <stdio.h>
#include <string.h>

#include "metaidx.h"

static void usage(FILE *out) {
  fprintf(out,
          "usage: metaidx [--version] [--help] COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  (none yet)\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("metaidx %s (simd: %s)\n", mx_version(), mx_simd_path());
    return 0;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  fprintf(stderr, "metaidx: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
