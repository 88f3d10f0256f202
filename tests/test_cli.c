/* test_cli.c: the metaidx command line end to end, run as a program
 * (posix_spawn) in a temporary directory: gen -> build -> search -> exact
 * -> eval with recall thresholds, several input files equal one, --keep,
 * every bad input failing with a message naming the file/row/option and
 * leaving no index behind, and --help on every command. */
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
#include "npy.h"

/* The value of "key": NUMBER in a JSON text (the tool's compact output). */
static double json_number(const char *json, const char *key) {
  char pat[80];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(json, pat);
  if (!p) {
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    p = strstr(json, pat);
  }
  cr_assert_not_null(p, "no %s in %s", key, json);
  return strtod(p + strlen(pat), NULL);
}

/* Rewrites the element at flat index i of an f32 .npy file. */
static void poke_f32(const char *path, size_t i, float value) {
  mx_npy f;
  mx_error err;
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  size_t off = f.h.data_offset + i * 4;
  mx_npy_close(&f);
  FILE *fp = fopen(path, "r+b");
  cr_assert_not_null(fp);
  cr_assert_eq(fseek(fp, (long)off, SEEK_SET), 0);
  cr_assert_eq(fwrite(&value, 4, 1, fp), 1);
  fclose(fp);
}

/* A .npy file with a hand-written header (for dtypes and orders the writer
 * does not produce); the data is `bytes` zero bytes. */
static void write_raw_npy(const char *path, const char *dict, size_t bytes) {
  char header[128];
  memset(header, ' ', sizeof header);
  size_t dl = strlen(dict);
  cr_assert_lt(dl + 11, sizeof header);
  memcpy(header, "\x93NUMPY\x01\x00", 8);
  header[8] = (char)(sizeof header - 10);
  header[9] = 0;
  memcpy(header + 10, dict, dl);
  header[sizeof header - 1] = '\n';
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp);
  cr_assert_eq(fwrite(header, 1, sizeof header, fp), sizeof header);
  for (size_t i = 0; i < bytes; i++)
    fputc(0, fp);
  fclose(fp);
}

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  cr_assert_not_null(fp);
  fputs(text, fp);
  fclose(fp);
}

/* ---------------------------------------------------------------- tests */

Test(cli, help_on_every_command) {
  char *tmp = mx_test_tmpdir("cli_help");
  /* bench runs bench/'s metaidx-bench, found from the build tree */
  const char *cmds[] = {"gen", "build", "search", "exact", "eval", "info", "verify", "tune",
                        "bench"};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    result r = RUN(tmp, cmds[i], "--help");
    cr_assert_eq(r.status, 0, "%s --help: exit %d: %s", cmds[i], r.status, r.err);
    char want[64];
    snprintf(want, sizeof want, "usage: metaidx %s", cmds[i]);
    cr_assert(strstr(r.out, want), "%s --help: %s", cmds[i], r.out);
    cr_assert(strstr(r.out, "--help"));
    result_free(&r);
  }
  result r = RUN(tmp, "--help");
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, "verify"));
  result_free(&r);
  r = RUN(tmp, "--version");
  cr_assert_eq(r.status, 0);
  cr_assert(strstr(r.out, MX_VERSION_STRING), "%s", r.out);
  result_free(&r);
  r = RUN(tmp, "frobnicate");
  EXPECT_FAIL(r, 2, NULL, "frobnicate");
  r = RUN(tmp, "search", "--index", "x", "--queries", "q.npy", "--k", "ten");
  EXPECT_FAIL(r, 2, NULL, "--k", "ten");
  r = RUN(tmp, "search", "--index", "x", "--queries", "q.npy", "--cascade", "4x8");
  EXPECT_FAIL(r, 2, NULL, "--cascade", "4x8");
  r = RUN(tmp, "search", "--queries", "q.npy");
  EXPECT_FAIL(r, 2, NULL, "--index");
  paths_free();
  mx_test_tmpdir_remove(tmp);
}

Test(cli, gen_build_search_exact_eval_end_to_end, .timeout = 600) {
  char *tmp = mx_test_tmpdir("cli_e2e");
  char *data = path_in(tmp, "data"), *idx = path_in(tmp, "idx");
  char *docs = path_in(data, "docs.npy"), *queries = path_in(data, "queries.npy");
  char *qrels = path_in(data, "qrels"), *run = path_in(tmp, "run.trec");
  char *truth = path_in(tmp, "truth.trec"), *stats = path_in(tmp, "stats.jsonl");
  RUN_OK(tmp, "gen", "--out", data, "--n", "3000", "--queries", "60", "--d", "32", "--rc", "64",
         "--rq", "16", "--seed", "7");
  RUN_OK(tmp, "build", "--out", idx, "--dtype", "f16", docs);

  result r = RUN(tmp, "info", idx);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_eq(json_number(r.out, "n_docs"), 3000, "%s", r.out);
  cr_assert_eq(json_number(r.out, "dim"), 32);
  cr_assert_eq(json_number(r.out, "vectors_per_doc"), 64);
  cr_assert(strstr(r.out, "\"simd\""), "%s", r.out);
  result_free(&r);
  RUN_OK(tmp, "verify", idx);

  RUN_OK(tmp, "exact", "--index", idx, "--queries", queries, "--rq", "16", "--rc", "64", "--out",
         truth);
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--rq", "16", "--rc", "64",
          "--candidates", "300", "--out", run, "--stats", stats, "--tag", "e2e");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.err, "queries=60"), "%s", r.err);
  cr_assert(strstr(r.err, "p50_ms="), "%s", r.err);
  cr_assert(strstr(r.err, "mean_bytes="), "%s", r.err);
  result_free(&r);
  char *text = slurp(run);
  cr_assert_eq(strncmp(text, "0 Q0 ", 5), 0, "%s", text);
  cr_assert(strstr(text, " 1 "));
  cr_assert(strstr(text, " e2e\n"));
  size_t lines = 0;
  for (char *p = text; *p; p++)
    lines += *p == '\n';
  cr_assert_eq(lines, 600);
  free(text);
  text = slurp(stats);
  cr_assert(strstr(text, "\"bytes_touched\":"), "%s", text);
  free(text);

  r = RUN(tmp, "eval", "--run", run, "--truth", truth, "--qrels", qrels);
  cr_assert_eq(r.status, 0, "%s", r.err);
  double recall = json_number(r.out, "recall@10");
  cr_assert_geq(recall, 0.9, "recall@10 of (16,64) with 300 candidates: %s", r.out);
  cr_assert_eq(json_number(r.out, "truth_queries"), 60);
  cr_assert_eq(json_number(r.out, "truth_missing"), 0);
  cr_assert_geq(json_number(r.out, "ndcg@10"), 0.5, "%s", r.out);
  cr_assert_geq(json_number(r.out, "mrr@10"), 0.5, "%s", r.out);
  result_free(&r);

  /* The exact run scored against itself is perfect. */
  r = RUN(tmp, "eval", "--run", truth, "--truth", truth);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_float_eq(json_number(r.out, "recall@10"), 1.0, 1e-9);
  result_free(&r);

  /* A cascade and the jsonl format. */
  char *jrun = path_in(tmp, "run.jsonl");
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--candidates", "400", "--cascade",
          "4x8:100,16x64:20", "--format", "jsonl", "--out", jrun, "--no-prefetch");
  cr_assert_eq(r.status, 0, "%s", r.err);
  result_free(&r);
  text = slurp(jrun);
  cr_assert_eq(strncmp(text, "{\"qid\":0,\"hits\":[{\"id\":", 23), 0, "%s", text);
  free(text);

  /* A small budget is worse than the full one, and search at it agrees
   * with exact at it. */
  char *truth_small = path_in(tmp, "truth11.trec"), *run_small = path_in(tmp, "run11.trec");
  RUN_OK(tmp, "exact", "--index", idx, "--queries", queries, "--rq", "1", "--rc", "1", "--out",
         truth_small);
  RUN_OK(tmp, "search", "--index", idx, "--queries", queries, "--rq", "1", "--rc", "1",
         "--candidates", "300", "--out", run_small);
  r = RUN(tmp, "eval", "--run", run_small, "--truth", truth);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_lt(json_number(r.out, "recall@10"), recall, "%s", r.out);
  result_free(&r);

  /* A budget beyond what is stored fails. */
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--rc", "65");
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert(strncmp(r.err, "metaidx search: ", 16) == 0, "%s", r.err);
  result_free(&r);

  /* Rebuilding over an index needs --overwrite. */
  r = RUN(tmp, "build", "--out", idx, docs);
  cr_assert_eq(r.status, 1, "%s", r.err);
  cr_assert(strstr(r.err, "--overwrite"), "%s", r.err);
  result_free(&r);
  RUN_OK(tmp, "build", "--out", idx, "--overwrite", "--dtype", "int8", docs);

  paths_free();
  mx_test_tmpdir_remove(tmp);
}

Test(cli, several_inputs_equal_one_and_keep, .timeout = 600) {
  char *tmp = mx_test_tmpdir("cli_multi");
  char *all = path_in(tmp, "all.npy"), *a = path_in(tmp, "a.npy"), *b = path_in(tmp, "b.npy");
  char *c = path_in(tmp, "c.npy"), *q = path_in(tmp, "q.npy");
  const uint64_t n = 1200, na = 500, nb = 300;
  const uint32_t R = 16, d = 24;
  write_docs(all, n, R, d, 11);
  write_docs(q, 20, 8, d, 12);
  /* Split all.npy into three files in order. */
  mx_npy f;
  mx_error err;
  cr_assert_eq(mx_npy_open(all, &f, &err), MX_OK, "%s", err.message);
  const float *v = f.data;
  size_t per = (size_t)R * d;
  uint64_t sa[3] = {na, R, d}, sb[3] = {nb, R, d}, sc[3] = {n - na - nb, R, d};
  cr_assert_eq(mx_npy_write(a, MX_NPY_F32, 3, sa, v, &err), MX_OK);
  cr_assert_eq(mx_npy_write(b, MX_NPY_F32, 3, sb, v + na * per, &err), MX_OK);
  cr_assert_eq(mx_npy_write(c, MX_NPY_F32, 3, sc, v + (na + nb) * per, &err), MX_OK);
  mx_npy_close(&f);

  char *one = path_in(tmp, "one"), *three = path_in(tmp, "three"), *kept = path_in(tmp, "kept");
  RUN_OK(tmp, "build", "--out", one, "--dtype", "f32", all);
  RUN_OK(tmp, "build", "--out", three, "--dtype", "f32", a, b, c);
  RUN_OK(tmp, "build", "--out", kept, "--dtype", "f32", "--keep", "8", all);

  const char *modes[][6] = {
      {"search", "--rq", "8", "--rc", "16", "--candidates"},
      {"exact", "--rq", "8", "--rc", "16", "--k"},
  };
  for (int m = 0; m < 2; m++) {
    result r1 = RUN(tmp, modes[m][0], "--index", one, "--queries", q, modes[m][1], modes[m][2],
                    modes[m][3], modes[m][4], modes[m][5], "50");
    result r3 = RUN(tmp, modes[m][0], "--index", three, "--queries", q, modes[m][1],
                    modes[m][2], modes[m][3], modes[m][4], modes[m][5], "50");
    cr_assert_eq(r1.status, 0, "%s", r1.err);
    cr_assert_eq(r3.status, 0, "%s", r3.err);
    cr_assert_gt(strlen(r1.out), 0);
    cr_assert_str_eq(r1.out, r3.out, "%s: three files differ from one", modes[m][0]);
    result_free(&r1);
    result_free(&r3);
  }

  /* --keep 8: 8 vectors stored; budgets up to 8 agree with the full index. */
  result r = RUN(tmp, "info", kept);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_eq(json_number(r.out, "vectors_per_doc"), 8, "%s", r.out);
  result_free(&r);
  result rf = RUN(tmp, "exact", "--index", one, "--queries", q, "--rq", "4", "--rc", "8");
  result rk = RUN(tmp, "exact", "--index", kept, "--queries", q, "--rq", "4", "--rc", "8");
  cr_assert_eq(rf.status, 0, "%s", rf.err);
  cr_assert_eq(rk.status, 0, "%s", rk.err);
  cr_assert_str_eq(rf.out, rk.out);
  result_free(&rf);
  result_free(&rk);
  r = RUN(tmp, "exact", "--index", kept, "--queries", q, "--rq", "4", "--rc", "9");
  cr_assert_eq(r.status, 1, "%s", r.err);
  result_free(&r);
  r = RUN(tmp, "build", "--out", path_in(tmp, "toomany"), "--keep", "17", all);
  cr_assert_neq(r.status, 0);
  cr_assert(strstr(r.err, "--keep"), "%s", r.err);
  result_free(&r);

  paths_free();
  mx_test_tmpdir_remove(tmp);
}

Test(cli, bad_inputs_fail_clearly_and_create_nothing) {
  char *tmp = mx_test_tmpdir("cli_bad");
  char *idx = path_in(tmp, "idx");
  char *good = path_in(tmp, "good.npy"), *d16 = path_in(tmp, "d16.npy");
  char *nan = path_in(tmp, "nan.npy"), *zero = path_in(tmp, "zero.npy");
  char *fortran = path_in(tmp, "fortran.npy"), *f64 = path_in(tmp, "f64.npy");
  char *rank2 = path_in(tmp, "rank2.npy"), *unnorm = path_in(tmp, "unnorm.npy");
  char *ids_short = path_in(tmp, "short.txt"), *ids_dup = path_in(tmp, "dup.txt");
  char *ids_dup_npy = path_in(tmp, "dup.npy"), *ids_ok = path_in(tmp, "ids.txt");
  const uint32_t R = 4, d = 8;
  write_docs(good, 10, R, d, 1);
  write_docs(d16, 10, R, 16, 2);
  write_docs(nan, 10, R, d, 3);
  poke_f32(nan, (3 * R + 1) * d + 2, __builtin_nanf("")); /* row 3, vector 1 */
  write_docs(zero, 10, R, d, 4);
  for (uint32_t j = 0; j < d; j++)
    poke_f32(zero, (5 * R + 2) * d + j, 0.0f); /* row 5, vector 2 */
  write_docs(unnorm, 10, R, d, 5);
  poke_f32(unnorm, (7 * R + 0) * d + 0, 3.0f); /* row 7, vector 0 */
  write_raw_npy(fortran, "{'descr': '<f4', 'fortran_order': True, 'shape': (10, 4, 8), }",
                10 * R * d * 4);
  write_raw_npy(f64, "{'descr': '<f8', 'fortran_order': False, 'shape': (10, 4, 8), }",
                10 * R * d * 8);
  uint64_t s2[2] = {10, 32};
  float flat[320] = {0};
  mx_error err;
  cr_assert_eq(mx_npy_write(rank2, MX_NPY_F32, 2, s2, flat, &err), MX_OK);
  write_text(ids_short, "a\nb\nc\nd\ne\nf\ng\nh\ni\n");
  write_text(ids_dup, "a\nb\nc\nd\ne\nf\nb\nh\ni\nj\n");
  write_text(ids_ok, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n");
  uint64_t dup_ids[10] = {10, 11, 12, 13, 14, 15, 16, 17, 12, 19};
  uint64_t s1[1] = {10};
  cr_assert_eq(mx_npy_write(ids_dup_npy, MX_NPY_U64, 1, s1, dup_ids, &err), MX_OK);

  result r;
  r = RUN(tmp, "build", "--out", idx, good, d16);
  EXPECT_FAIL(r, 1, idx, "d16.npy", "good.npy", "metaidx build: ");
  r = RUN(tmp, "build", "--out", idx, good, nan);
  EXPECT_FAIL(r, 1, idx, "nan.npy", "row 3", "vector 1", "NaN");
  r = RUN(tmp, "build", "--out", idx, zero);
  EXPECT_FAIL(r, 1, idx, "zero.npy", "row 5", "vector 2", "zero");
  r = RUN(tmp, "build", "--out", idx, unnorm);
  EXPECT_FAIL(r, 1, idx, "unnorm.npy", "row 7", "norm", "--normalize");
  r = RUN(tmp, "build", "--out", idx, fortran);
  EXPECT_FAIL(r, 1, idx, "fortran.npy", "Fortran");
  r = RUN(tmp, "build", "--out", idx, f64);
  EXPECT_FAIL(r, 1, idx, "f64.npy", "<f8");
  r = RUN(tmp, "build", "--out", idx, rank2);
  EXPECT_FAIL(r, 1, idx, "rank2.npy", "[N, R, d]");
  r = RUN(tmp, "build", "--out", idx, path_in(tmp, "missing.npy"));
  EXPECT_FAIL(r, 1, idx, "missing.npy");
  r = RUN(tmp, "build", "--out", idx, "--ids", ids_short, good);
  EXPECT_FAIL(r, 1, idx, "short.txt", "9 ids", "10 documents");
  r = RUN(tmp, "build", "--out", idx, "--ids", ids_dup, good);
  EXPECT_FAIL(r, 1, idx, "dup.txt", "duplicate", "'b'", "lines 2 and 7");
  r = RUN(tmp, "build", "--out", idx, "--ids", ids_dup_npy, good);
  EXPECT_FAIL(r, 1, idx, "dup.npy", "duplicate", "12", "rows 2 and 8");
  r = RUN(tmp, "build", "--out", idx, "--budgets", "1x1,2x", good);
  EXPECT_FAIL(r, 2, idx, "--budgets", "2x");
  r = RUN(tmp, "build", "--out", idx, "--frobnicate", good);
  EXPECT_FAIL(r, 2, idx, "--frobnicate");
  r = RUN(tmp, "build", "--out", idx, "--dtype", "f64", good);
  EXPECT_FAIL(r, 2, idx, "--dtype", "f64");
  r = RUN(tmp, "build", "--out", idx);
  EXPECT_FAIL(r, 2, idx, "DOCS.npy");
  r = RUN(tmp, "build", good);
  EXPECT_FAIL(r, 2, idx, "--out");

  /* String ids work, and show in the run. --normalize accepts unnorm. */
  RUN_OK(tmp, "build", "--out", idx, "--ids", ids_ok, "--normalize", "--dtype", "f32", unnorm);
  r = RUN(tmp, "exact", "--index", idx, "--queries", good, "--k", "3");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strncmp(r.out, "0 Q0 ", 5) == 0 && r.out[5] >= 'a' && r.out[5] <= 'j', "%s", r.out);
  result_free(&r);
  /* u64 ids from a .npy file show in the run. */
  uint64_t big_ids[10];
  for (int i = 0; i < 10; i++)
    big_ids[i] = 18446744073709551000ull + (uint64_t)i;
  char *ids_u64 = path_in(tmp, "u64.npy"), *idx_u64 = path_in(tmp, "idx_u64");
  cr_assert_eq(mx_npy_write(ids_u64, MX_NPY_U64, 1, s1, big_ids, &err), MX_OK);
  RUN_OK(tmp, "build", "--out", idx_u64, "--ids", ids_u64, good);
  r = RUN(tmp, "exact", "--index", idx_u64, "--queries", good, "--k", "1");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "0 Q0 1844674407370955100"), "%s", r.out);
  result_free(&r);
  /* Queries of another dimension. */
  r = RUN(tmp, "search", "--index", idx, "--queries", d16);
  EXPECT_FAIL(r, 1, NULL, "d16.npy", "d = 16");
  r = RUN(tmp, "info", path_in(tmp, "nothing"));
  EXPECT_FAIL(r, 1, NULL, "metaidx info: ");

  paths_free();
  mx_test_tmpdir_remove(tmp);
}

Test(cli, eval_scores_and_errors) {
  char *tmp = mx_test_tmpdir("cli_eval");
  char *truth = path_in(tmp, "truth"), *run = path_in(tmp, "run"), *qrels = path_in(tmp, "qrels");
  char *bad = path_in(tmp, "bad");
  write_text(truth, "0 Q0 a 1 9 t\n0 Q0 b 2 8 t\n1 Q0 c 1 9 t\n1 Q0 d 2 8 t\n");
  /* query 0: one of two; query 1 missing from the run: 0 */
  write_text(run, "0 Q0 b 1 5.5 r\n0 Q0 x 2 5.0 r\n9 Q0 z 1 1 r\n");
  write_text(qrels, "0 0 b 1\n1 0 c 1\n2 0 q 0\n");
  result r = RUN(tmp, "eval", "--run", run, "--truth", truth, "--qrels", qrels, "--k", "2");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert_float_eq(json_number(r.out, "recall@2"), 0.25, 1e-9, "%s", r.out);
  cr_assert_eq(json_number(r.out, "truth_missing"), 1);
  cr_assert_float_eq(json_number(r.out, "mrr@2"), 0.5, 1e-9, "%s", r.out);
  cr_assert_float_eq(json_number(r.out, "ndcg@2"), 0.5, 1e-9, "%s", r.out);
  cr_assert_eq(json_number(r.out, "qrels_queries"), 2);
  result_free(&r);

  write_text(bad, "0 Q0 a 1 9 t\n\n0 Q0 b two 8 t\n");
  r = RUN(tmp, "eval", "--run", bad, "--truth", truth);
  EXPECT_FAIL(r, 1, NULL, "bad:3", "rank", "two");
  write_text(bad, "0 Q0 a 1 9\n");
  r = RUN(tmp, "eval", "--run", bad, "--truth", truth);
  EXPECT_FAIL(r, 1, NULL, "bad:1", "6 fields");
  write_text(bad, "0 0 a\n");
  r = RUN(tmp, "eval", "--run", run, "--qrels", bad);
  EXPECT_FAIL(r, 1, NULL, "bad:1", "4 fields");
  r = RUN(tmp, "eval", "--run", run);
  EXPECT_FAIL(r, 2, NULL, "--truth");
  r = RUN(tmp, "eval", "--run", path_in(tmp, "nope"), "--truth", truth);
  EXPECT_FAIL(r, 1, NULL, "nope");
  paths_free();
  mx_test_tmpdir_remove(tmp);
}

/* Flips one byte of path at offset (or, if needle is given, inside the
 * first occurrence of needle). */
static void flip_byte(const char *path, const void *needle, size_t needle_len, size_t offset) {
  char *buf = NULL;
  size_t len = 0;
  mx_error err;
  cr_assert_eq(mx_read_file(path, (size_t)1 << 30, &buf, &len, &err), MX_OK, "%s", err.message);
  size_t at = offset;
  if (needle) {
    const char *p = memmem(buf, len, needle, needle_len);
    cr_assert_not_null(p, "%s: pattern not found", path);
    at = (size_t)(p - buf) + offset;
  }
  cr_assert_lt(at, len);
  free(buf);
  FILE *fp = fopen(path, "r+b");
  cr_assert_not_null(fp);
  cr_assert_eq(fseek(fp, (long)at, SEEK_SET), 0);
  int c = fgetc(fp);
  cr_assert_eq(fseek(fp, (long)at, SEEK_SET), 0);
  fputc(c ^ 0x55, fp);
  fclose(fp);
}

Test(cli, verify_reports_each_problem_and_fails) {
  char *tmp = mx_test_tmpdir("cli_verify");
  char *docs = path_in(tmp, "docs.npy"), *idx = path_in(tmp, "idx");
  const uint32_t R = 4, d = 8;
  write_docs(docs, 200, R, d, 21);
  RUN_OK(tmp, "build", "--out", idx, "--dtype", "f32", docs);
  RUN_OK(tmp, "verify", idx);

  /* A stored vector (f32: the input's bytes) damaged in the store. */
  mx_npy f;
  mx_error err;
  cr_assert_eq(mx_npy_open(docs, &f, &err), MX_OK, "%s", err.message);
  float vec[8];
  memcpy(vec, (const float *)f.data + (size_t)100 * R * d, sizeof vec);
  mx_npy_close(&f);
  flip_byte(path_in(idx, "store/data.mdb"), vec, sizeof vec, 5);
  result r = RUN(tmp, "verify", idx);
  cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
  cr_assert_gt(strlen(r.out), 0, "no problem printed");
  cr_assert(strstr(r.err, "problems=1"), "%s", r.err);
  result_free(&r);

  /* And the coarse index, too: each problem is reported. */
  flip_byte(path_in(idx, "coarse.faiss"), NULL, 0, 100);
  r = RUN(tmp, "verify", idx);
  cr_assert_eq(r.status, 1, "exit %d: %s", r.status, r.err);
  cr_assert(strstr(r.out, "coarse.faiss"), "%s", r.out);
  cr_assert(strstr(r.err, "problems=2"), "%s", r.err);
  result_free(&r);
  r = RUN(tmp, "info", idx);
  EXPECT_FAIL(r, 1, NULL, "metaidx info: ", "coarse.faiss");
  paths_free();
  mx_test_tmpdir_remove(tmp);
}

Test(cli, search_by_recall_says_what_it_chose, .timeout = 600) {
  char *tmp = mx_test_tmpdir("cli_recall");
  char *data = path_in(tmp, "data"), *idx = path_in(tmp, "idx");
  char *docs = path_in(data, "docs.npy"), *queries = path_in(data, "queries.npy");
  char *stats = path_in(tmp, "stats.jsonl"), *run = path_in(tmp, "run.trec");
  RUN_OK(tmp, "gen", "--out", data, "--n", "1500", "--queries", "20", "--d", "32", "--rc", "16",
         "--rq", "4", "--seed", "3");
  RUN_OK(tmp, "build", "--out", idx, "--no-calibrate", docs);
  /* no table: the fallback, said when a recall is asked for */
  result r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--recall", "0.9", "--out",
                 run);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.err, "warning: k'=100 fallback"), "%s", r.err);
  cr_assert(strstr(r.err, "no calibration table"), "%s", r.err);
  result_free(&r);
  RUN_OK(tmp, "tune", "--index", idx, "--recall", "0.9", "--pseudo-queries", "30");
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--recall", "0.9", "--out", run,
          "--stats", stats);
  cr_assert_eq(r.status, 0, "%s", r.err);
  /* 4-vector queries search at 4x16, beyond the pseudo-queries' budgets:
   * the smallest larger measured one answers */
  cr_assert(strstr(r.err, "from the calibration table (budget 8x16, the smallest larger"), "%s",
            r.err);
  result_free(&r);
  char *text = slurp(stats);
  cr_assert(strstr(text, "\"candidates_source\":\"table\""), "%s", text);
  cr_assert(strstr(text, "\"table_budget\":\"8x16\""), "%s", text);
  cr_assert(strstr(text, "\"other_budget\""), "%s", text);
  free(text);
  /* tuned on the queries themselves (4 vectors): 4x16 gets its own entry */
  RUN_OK(tmp, "tune", "--index", idx, "--recall", "0.9", "--queries", queries);
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--recall", "0.9", "--out", run,
          "--stats", stats);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.err, "from the calibration table (budget 4x16): measured recall"), "%s",
            r.err);
  result_free(&r);
  /* a build calibrates when asked (the suite turns the default off) */
  char *idx2 = path_in(tmp, "idx2");
  r = RUN(tmp, "build", "--out", idx2, "--calibrate-time", "20", docs);
  cr_assert_eq(r.status, 0, "%s", r.err);
  result_free(&r);
  r = RUN(tmp, "tune", "--index", idx2, "--show");
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.out, "pseudo queries"), "%s", r.out);
  cr_assert(strstr(r.out, "8x16     met"), "%s", r.out);
  result_free(&r);
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--candidates", "50", "--recall",
          "0.9", "--out", run, "--stats", stats);
  cr_assert_eq(r.status, 0, "%s", r.err);
  cr_assert(strstr(r.err, "k'=50 given"), "%s", r.err);
  result_free(&r);
  text = slurp(stats);
  cr_assert(strstr(text, "\"candidates_source\":\"explicit\""), "%s", text);
  free(text);
  const char *bad[] = {"0", "1.5", "-0.2", "nan"};
  for (int i = 0; i < 4; i++) {
    r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--recall", bad[i], "--out", run);
    cr_assert_eq(r.status, 2, "--recall %s: exit %d %s", bad[i], r.status, r.err);
    cr_assert(strstr(r.err, "--recall"), "%s", r.err);
    result_free(&r);
  }
  r = RUN(tmp, "search", "--index", idx, "--queries", queries, "--candidates", "0", "--out", run);
  cr_assert_eq(r.status, 2, "%s", r.err);
  result_free(&r);
  paths_free();
  mx_test_tmpdir_remove(tmp);
}
