/* bench_main.c: the standalone `metaidx-bench` executable (see driver.h). */
#include "driver.h"

int main(int argc, char **argv) { return mx_bench_main(argc, argv); }
