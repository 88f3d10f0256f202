/* test_idsfile.c: text id files: line splitting (LF, CRLF, no final
 * newline), each error with its line number, the 511-byte limit, files,
 * the committed fuzz corpus. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "helpers.h"
#include "idsfile.h"

static mx_status parse(const char *buf, size_t len, mx_ids_text *ids, mx_error *err) {
  /* exact-size heap copy: ASan catches any read past len */
  char *copy = malloc(len ? len : 1);
  cr_assert_not_null(copy);
  memcpy(copy, buf, len);
  mx_status s = mx_ids_text_parse(copy, len, "ids.txt", ids, err);
  free(copy);
  return s;
}

static void expect_ids(const char *buf, size_t len, size_t count, const char *const *want) {
  mx_ids_text ids;
  mx_error err;
  cr_assert_eq(parse(buf, len, &ids, &err), MX_OK, "%s", err.message);
  cr_assert_eq(ids.count, count);
  for (size_t i = 0; i < count; i++) {
    cr_assert_str_eq(ids.ids[i], want[i], "id %zu", i);
    cr_assert_eq(ids.lengths[i], strlen(want[i]));
  }
  mx_ids_text_free(&ids);
}

static void expect_error(const char *buf, size_t len, const char *needle) {
  mx_ids_text ids;
  mx_error err;
  cr_assert_eq(parse(buf, len, &ids, &err), MX_ERR_BAD_INPUT, "expected an error for '%s'", needle);
  cr_assert(strstr(err.message, needle), "message '%s' lacks '%s'", err.message, needle);
  cr_assert(strstr(err.message, "ids.txt"), "message names the origin: %s", err.message);
  cr_assert_eq(ids.count, 0);
  cr_assert_null(ids.storage);
  mx_ids_text_free(&ids);
}

Test(idsfile, line_ends) {
  const char *abc[] = {"a", "bb", "c c"};
  expect_ids("a\nbb\nc c\n", 9, 3, abc);
  expect_ids("a\nbb\nc c", 8, 3, abc);
  expect_ids("a\r\nbb\r\nc c\r\n", 12, 3, abc);
  expect_ids("a\r\nbb\nc c", 9, 3, abc);
  const char *utf8[] = {"caf\xc3\xa9", "\xe6\x96\x87", "\t x \t"};
  expect_ids("caf\xc3\xa9\n\xe6\x96\x87\n\t x \t\n", 16, 3, utf8);
  expect_ids("", 0, 0, NULL);
}

Test(idsfile, errors_name_the_line) {
  expect_error("a\n\nb\n", 5, "line 2: empty id");
  expect_error("\n", 1, "line 1: empty id");
  expect_error("a\nb\n\n", 5, "line 3: empty id");
  expect_error("a\r\n\r\nb", 7, "line 2: empty id");
  expect_error("a\nb\nc\x00" "d\n", 8, "line 3: NUL byte at column 2");
  expect_error("ok\na\rb\n", 7, "line 2: carriage return");
  expect_error("x\ny\rz", 5, "line 2: carriage return");
}

Test(idsfile, length_limit_is_511_bytes) {
  char buf[2000];
  memset(buf, 'x', sizeof buf);
  buf[511] = '\n';
  mx_ids_text ids;
  mx_error err;
  cr_assert_eq(parse(buf, 512, &ids, &err), MX_OK, "%s", err.message);
  cr_assert_eq(ids.count, 1);
  cr_assert_eq(ids.lengths[0], 511);
  mx_ids_text_free(&ids);
  /* 511 bytes plus CRLF is still 511 */
  buf[511] = '\r';
  buf[512] = '\n';
  cr_assert_eq(parse(buf, 513, &ids, &err), MX_OK, "%s", err.message);
  cr_assert_eq(ids.lengths[0], 511);
  mx_ids_text_free(&ids);
  /* 512 bytes on line 3 */
  memcpy(buf, "a\nb\n", 4);
  memset(buf + 4, 'y', 512);
  buf[516] = '\n';
  expect_error(buf, 517, "line 3: id is 512 bytes, longer than 511");
  expect_error(buf, 516, "line 3: id is 512 bytes"); /* without the final newline */
}

Test(idsfile, many_ids_share_one_allocation) {
  size_t n = 10000;
  char *buf = malloc(n * 12);
  cr_assert_not_null(buf);
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += (size_t)sprintf(buf + len, "doc-%zu\n", i);
  mx_ids_text ids;
  mx_error err;
  cr_assert_eq(mx_ids_text_parse(buf, len, "big", &ids, &err), MX_OK, "%s", err.message);
  cr_assert_eq(ids.count, n);
  cr_assert_str_eq(ids.ids[9999], "doc-9999");
  cr_assert_eq(ids.lengths[123], 7);
  mx_ids_text_free(&ids);
  mx_ids_text_free(&ids); /* zeroed: no-op */
  mx_ids_text_free(NULL);
  free(buf);
}

Test(idsfile, read_from_files) {
  char *dir = mx_test_tmpdir("idsfile");
  char path[512];
  snprintf(path, sizeof path, "%s/ids.txt", dir);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  fputs("alpha\r\nbeta\ngamma", f);
  fclose(f);
  mx_ids_text ids;
  mx_error err;
  cr_assert_eq(mx_ids_text_read(path, &ids, &err), MX_OK, "%s", err.message);
  cr_assert_eq(ids.count, 3);
  cr_assert_str_eq(ids.ids[2], "gamma");
  mx_ids_text_free(&ids);
  f = fopen(path, "wb");
  fputs("alpha\n\n", f);
  fclose(f);
  cr_assert_eq(mx_ids_text_read(path, &ids, &err), MX_ERR_BAD_INPUT);
  cr_assert(strstr(err.message, path), "%s", err.message);
  cr_assert(strstr(err.message, "line 2"), "%s", err.message);
  f = fopen(path, "wb");
  fclose(f);
  cr_assert_eq(mx_ids_text_read(path, &ids, &err), MX_OK, "an empty file has no ids");
  cr_assert_eq(ids.count, 0);
  mx_ids_text_free(&ids);
  snprintf(path, sizeof path, "%s/missing.txt", dir);
  cr_assert_eq(mx_ids_text_read(path, &ids, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, path), "%s", err.message);
  mx_test_tmpdir_remove(dir);
}

Test(idsfile, fuzz_corpus_replays) {
  char *dir = mx_test_source_path("tests/fuzz/corpus/idsfile");
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "%s", dir);
  int files = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    char *buf;
    size_t len;
    mx_error err;
    cr_assert_eq(mx_read_file(path, 1 << 20, &buf, &len, &err), MX_OK, "%s", err.message);
    mx_ids_text ids;
    mx_status s = parse(buf, len, &ids, &err);
    /* hand-written seeds say what they expect; inputs merged in by the
     * fuzzer (hash names) only have to be parsed or refused cleanly */
    if (strncmp(e->d_name, "valid", 5) == 0 || strncmp(e->d_name, "bad", 3) == 0)
      cr_expect_eq(s == MX_OK, strncmp(e->d_name, "valid", 5) == 0, "%s: %s", e->d_name,
                   err.message);
    else
      cr_expect(s == MX_OK || s == MX_ERR_BAD_INPUT, "%s: %s", e->d_name, mx_status_name(s));
    mx_ids_text_free(&ids);
    free(buf);
    files++;
  }
  closedir(d);
  cr_assert_geq(files, 6);
  free(dir);
}
