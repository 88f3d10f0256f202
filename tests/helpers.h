/* helpers.h: shared test utilities: temporary directories under
 * $MX_TEST_TMP, deterministic random data, typed assertion helpers. */
#ifndef MX_TESTS_HELPERS_H
#define MX_TESTS_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "metaidx.h"

/* Creates a fresh empty directory for one test and returns its path
 * (static storage per call site is not needed: the string is malloc'd).
 * Removed by mx_test_tmpdir_remove. */
char *mx_test_tmpdir(const char *name);
void mx_test_tmpdir_remove(char *path);

/* splitmix64-based deterministic generator. */
typedef struct mx_test_rng {
  uint64_t state;
} mx_test_rng;
uint64_t mx_test_rng_next(mx_test_rng *r);
float mx_test_rng_float(mx_test_rng *r);    /* uniform in [-1, 1) */
uint64_t mx_test_rng_below(mx_test_rng *r, uint64_t n);
/* n vectors of dim floats, each L2-normalised. */
void mx_test_random_unit_vectors(mx_test_rng *r, float *out, size_t n, uint32_t dim);

/* Path of a file under the source tree (tests/data/...), malloc'd. */
char *mx_test_source_path(const char *relative);
/* Path of a built executable (e.g. "tools/metaidx"), malloc'd. */
char *mx_test_build_path(const char *relative);

/* Starts the built metaidx tool with the NULL-terminated arguments (not
 * counting argv[0]), stdout and stderr going to the given files. */
int mx_test_spawn_tool(const char *const *args, const char *out_path, const char *err_path);
/* Waits for pid: its exit code, or 128 + the signal that ended it. */
int mx_test_wait(int pid);

/* Where record `id` of an open store lies in its data file: the offset of
 * its first byte, found through the store's own map (searching the file for
 * the record's bytes can find a stale copy: LMDB leaves old versions of
 * pages in its free space). *len gets its length. -1 if there is no such
 * record. */
struct mx_store;
long mx_test_record_offset(struct mx_store *s, uint64_t id, size_t *len);

#endif
