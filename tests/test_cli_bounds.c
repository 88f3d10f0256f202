/* test_cli_bounds.c: the tool's numeric options at and beyond their bounds,
 * and FIFOs where files are expected (issue 12 items 5, 8, 12, 13, 19).
 * Apart from test_cli.c because Criterion's runner leaks 48 bytes (its own
 * allocation, reported by LSan) once one executable holds more than eight
 * of these tests. */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_run.h"
#include "fsutil.h"
#include "helpers.h"
#include "manifest.h"
#include "npy.h"

/* Every numeric option of every command, given what is not a number in its
 * range, is a usage error (exit 2) naming the option, before any work. */
Test(cli, numeric_options_reject_what_is_out_of_range) {
  char *tmp = mx_test_tmpdir("cli_bounds");
  static const struct {
    const char *cmd, *opt;
    int u32;
  } opts[] = {
      {"build", "keep", 1},      {"build", "nprobe", 1},    {"build", "train-sample", 0},
      {"build", "threads", 1},   {"build", "seed", 0},      {"build", "batch", 1},
      {"eval", "k", 1},          {"gen", "n", 0},           {"gen", "queries", 0},
      {"gen", "rc", 1},          {"gen", "rq", 1},          {"gen", "d", 1},
      {"gen", "seed", 0},        {"gen", "topics", 1},      {"search", "k", 1},
      {"search", "rq", 1},       {"search", "rc", 1},       {"search", "candidates", 1},
      {"search", "nprobe", 1},   {"search", "ef-search", 1}, {"search", "threads", 1},
      {"exact", "k", 1},         {"exact", "rq", 1},        {"exact", "rc", 1},
      {"exact", "threads", 1},
  };
  const char *bad[] = {"-1", "abc", "", "12x", "18446744073709551616", "1e999", "4294967296"};
  for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
    for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
      if (!opts[i].u32 && j == 6)
        continue; /* 2^32 fits a 64-bit option */
      char flag[64];
      snprintf(flag, sizeof flag, "--%s", opts[i].opt);
      result r = RUN(tmp, opts[i].cmd, flag, bad[j]);
      cr_assert_eq(r.status, 2, "%s %s '%s': exit %d: %s", opts[i].cmd, flag, bad[j], r.status,
                   r.err);
      cr_assert(strstr(r.err, flag), "%s %s '%s': %s", opts[i].cmd, flag, bad[j], r.err);
      result_free(&r);
    }
  }
  mx_test_tmpdir_remove(tmp);
  paths_free();
}

/* Values that parse but do not fit: clear errors, or capped where a cap is
 * the meaning (issue 12: items 5, 8, 12). */
Test(cli, numeric_options_beyond_their_bounds, .timeout = 300) {
  char *tmp = mx_test_tmpdir("cli_bounds2");
  char *docs = path_in(tmp, "docs.npy"), *queries = path_in(tmp, "q.npy");
  char *idx = path_in(tmp, "idx"), *idx2 = path_in(tmp, "idx2");
  write_docs(docs, 300, 4, 16, 1);
  write_docs(queries, 3, 4, 16, 2);
  result r = RUN(tmp, "build", "--out", idx, "--threads", "100000", docs);
  EXPECT_FAIL(r, 2, NULL, "--threads", "1024");
  cr_assert_not(mx_path_exists(idx));
  /* a training sample beyond N is N, not a wrapped allocation */
  RUN_OK(tmp, "build", "--out", idx, "--train-sample", "4611686018427387904", docs);
  RUN_OK(tmp, "build", "--out", idx2, "--train-sample", "18446744073709551615", "--coarse",
         "IVF4,Flat", docs);
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--threads", "100000");
  EXPECT_FAIL(r, 2, NULL, "--threads", "1024");
  r = RUN(tmp, "exact", "--index", idx, "--queries", queries, "--threads", "4294967295");
  EXPECT_FAIL(r, 2, NULL, "--threads", "1024");
  /* a budget's r_q above the manifest's bound is refused before the build */
  r = RUN(tmp, "build", "--out", idx2, "--overwrite", "--budgets", "70000x1", docs);
  EXPECT_FAIL(r, 1, NULL, "70000x1");
  /* --k beyond N is N */
  char *runk = path_in(tmp, "runk.txt");
  RUN_OK(tmp, "search", "--index", idx, "--queries", queries, "--k", "4294967295", "--candidates",
         "300", "--out", runk);
  RUN_OK(tmp, "exact", "--index", idx, "--queries", queries, "--k", "4294967295");
  char *tk = slurp(runk);
  size_t lines = 0;
  for (const char *c = tk; *c; c++)
    lines += *c == '\n';
  cr_assert_eq(lines, 3 * 300, "every document once per query");
  free(tk);
  /* nine stages before the final budget do not fit the eight slots */
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--rq", "4", "--rc", "4",
          "--cascade", "1x1:90,1x1:80,1x1:70,1x1:60,1x1:50,1x1:40,1x1:30,1x1:20,1x1:10");
  EXPECT_FAIL(r, 2, NULL, "--cascade", "at most 8");
  /* eight do, and so does a ninth that is the final budget itself: the
   * same search as eight stages and the budget given apart (a ninth slot
   * used to land on the options after the array: coarse_only, skip_corrupt) */
  char *run9 = path_in(tmp, "run9.txt"), *run8 = path_in(tmp, "run8.txt");
  RUN_OK(tmp, "search", "--index", idx, "--queries", queries, "--out", run9, "--cascade",
         "1x1:90,1x1:80,1x1:70,1x1:60,1x1:50,1x1:40,1x1:30,1x1:20,4x4:10");
  RUN_OK(tmp, "search", "--index", idx, "--queries", queries, "--out", run8, "--rq", "4", "--rc",
         "4", "--k", "10", "--cascade",
         "1x1:90,1x1:80,1x1:70,1x1:60,1x1:50,1x1:40,1x1:30,1x1:20");
  char *t9 = slurp(run9), *t8 = slurp(run8);
  cr_assert_str_eq(t9, t8, "a ninth stage at the final budget changed the search");
  free(t9);
  free(t8);
  mx_test_tmpdir_remove(tmp);
  paths_free();
}

/* FIFOs where files are expected are refused, never waited on (issue 12
 * item 13); gen does not overwrite what is there (item 19). */
Test(cli, fifos_are_refused_and_gen_keeps_files, .timeout = 300) {
  char *tmp = mx_test_tmpdir("cli_fifo");
  char *docs = path_in(tmp, "docs.npy"), *queries = path_in(tmp, "q.npy");
  char *idx = path_in(tmp, "idx"), *fifo = path_in(tmp, "fifo"), *qrels = path_in(tmp, "qrels");
  write_docs(docs, 200, 4, 16, 1);
  write_docs(queries, 3, 4, 16, 2);
  cr_assert_eq(mkfifo(fifo, 0644), 0);
  result r = RUN(tmp, "build", "--out", idx, fifo);
  EXPECT_FAIL(r, 1, idx, "not a regular file");
  r = RUN(tmp, "build", "--out", idx, "--ids", fifo, docs);
  EXPECT_FAIL(r, 1, idx, "not a regular file");
  RUN_OK(tmp, "build", "--out", idx, docs);
  r = RUN(tmp, "search", "--index", idx, "--queries", fifo);
  EXPECT_FAIL(r, 1, NULL, "not a regular file");
  r = RUN(tmp, "eval", "--run", fifo, "--qrels", fifo);
  EXPECT_FAIL(r, 1, NULL, "not a regular file");
  const char *parts[] = {"manifest.json", "coarse.faiss"};
  for (int i = 0; i < 2; i++) {
    char *part = path_in(idx, parts[i]), *saved = path_in(tmp, "saved");
    cr_assert_eq(rename(part, saved), 0);
    cr_assert_eq(mkfifo(part, 0644), 0);
    r = RUN(tmp, "search", "--index", idx, "--queries", queries);
    EXPECT_FAIL(r, 1, NULL, "not a regular file");
    r = RUN(tmp, "info", idx);
    EXPECT_FAIL(r, 1, NULL, "not a regular file");
    cr_assert_eq(unlink(part), 0);
    cr_assert_eq(rename(saved, part), 0);
  }
  char *gen_dir = path_in(tmp, "gen");
  RUN_OK(tmp, "gen", "--out", gen_dir, "--n", "20", "--queries", "2", "--d", "8");
  r = RUN(tmp, "gen", "--out", gen_dir, "--n", "30", "--queries", "2", "--d", "8");
  EXPECT_FAIL(r, 1, NULL, "already exists", "--overwrite");
  RUN_OK(tmp, "gen", "--out", gen_dir, "--n", "30", "--queries", "2", "--d", "8", "--overwrite");
  (void)qrels;
  mx_test_tmpdir_remove(tmp);
  paths_free();
}

/* eval on an empty run: an answer, not undefined behaviour (item 19). */
Test(cli, eval_of_an_empty_run) {
  char *tmp = mx_test_tmpdir("cli_empty_run");
  char *run = path_in(tmp, "run.txt"), *qrels = path_in(tmp, "qrels");
  FILE *f = fopen(run, "w");
  cr_assert_not_null(f);
  fclose(f);
  f = fopen(qrels, "w");
  cr_assert_not_null(f);
  fputs("0 0 d1 1\n", f);
  fclose(f);
  result r = RUN(tmp, "eval", "--run", run, "--qrels", qrels);
  cr_assert(r.status == 0 || r.status == 1, "exit %d: %s", r.status, r.err);
  result_free(&r);
  r = RUN(tmp, "eval", "--run", run, "--truth", run);
  cr_assert(r.status == 0 || r.status == 1, "exit %d: %s", r.status, r.err);
  result_free(&r);
  mx_test_tmpdir_remove(tmp);
  paths_free();
}

/* exact checks each record's dtype against the manifest's, as search does,
 * instead of scoring f16 bytes as f32 (item 7). */
Test(cli, exact_refuses_records_of_another_dtype) {
  char *tmp = mx_test_tmpdir("cli_exact_dtype");
  char *docs = path_in(tmp, "docs.npy"), *queries = path_in(tmp, "q.npy");
  char *idx = path_in(tmp, "idx"), *manifest = path_in(idx, "manifest.json");
  write_docs(docs, 100, 4, 16, 1);
  write_docs(queries, 2, 4, 16, 2);
  RUN_OK(tmp, "build", "--out", idx, "--dtype", "f16", docs);
  char *text = slurp(manifest);
  char *at = strstr(text, "\"dtype\": \"f16\"");
  cr_assert_not_null(at, "%s", text);
  memcpy(at + 10, "f32", 3);
  mx_error serr;
  cr_assert_eq(mx_manifest_seal(text, strlen(text), &serr), MX_OK, "%s", serr.message);
  FILE *f = fopen(manifest, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
  free(text);
  result r = RUN(tmp, "exact", "--index", idx, "--queries", queries);
  cr_assert_neq(r.status, 0, "exact scored f16 records as f32: %s", r.out);
  cr_assert_lt(r.status, 128, "killed by a signal: %d", r.status);
  cr_assert(strstr(r.err, "record has dtype f16"), "%s", r.err);
  result_free(&r);
  mx_test_tmpdir_remove(tmp);
  paths_free();
}
