/* test_status.c: status names/messages from the X-macro list, mx_error
 * helpers, the one errno mapping, dtype names, mx_hash_file's status. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "hash.h"
#include "helpers.h"
#include "metaidx.h"
#include "status.h"

Test(status, every_code_has_distinct_name_and_message) {
  static const mx_status all[] = {
#define X_(name, value, message) name,
      MX_STATUS_LIST(X_)
#undef X_
  };
  size_t n = sizeof all / sizeof all[0];
  cr_assert_geq(n, 10);
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq((int)all[i], (int)i, "codes are dense and in order: %zu", i);
    cr_assert_str_neq(mx_status_str(all[i]), "unknown status");
    cr_assert_eq(strncmp(mx_status_name(all[i]), "MX_", 3), 0);
    for (size_t j = 0; j < i; j++)
      cr_assert_str_neq(mx_status_name(all[i]), mx_status_name(all[j]));
  }
  cr_assert_str_eq(mx_status_name(MX_ERR_CORRUPT), "MX_ERR_CORRUPT");
  cr_assert_str_eq(mx_status_name((mx_status)999), "MX_ERR_UNKNOWN");
  cr_assert_str_eq(mx_status_str((mx_status)-1), "unknown status");
}

Test(status, fail_fills_error_and_returns_status) {
  mx_error err;
  mx_error_clear(&err);
  cr_assert_eq(err.status, MX_OK);
  cr_assert_str_eq(err.message, "");
  mx_status s = mx_fail(&err, MX_ERR_FORMAT, "%s: row %d", "docs.npy", 17);
  cr_assert_eq(s, MX_ERR_FORMAT);
  cr_assert_eq(err.status, MX_ERR_FORMAT);
  cr_assert_str_eq(err.message, "docs.npy: row 17");
  cr_assert_eq(mx_fail(NULL, MX_ERR_IO, "ignored"), MX_ERR_IO);
}

Test(status, context_prefixes_existing_message) {
  mx_error err;
  mx_error_clear(&err);
  mx_fail(&err, MX_ERR_CORRUPT, "segment 2 checksum mismatch");
  cr_assert_eq(mx_fail_context(&err, MX_ERR_IO, "doc %u", 5u), MX_ERR_CORRUPT);
  cr_assert_str_eq(err.message, "doc 5: segment 2 checksum mismatch");
  mx_error_clear(&err);
  cr_assert_eq(mx_fail_context(&err, MX_ERR_IO, "x"), MX_ERR_IO);
  cr_assert_str_eq(err.message, "x: input/output error");
}

Test(status, fail_as_changes_the_status_and_keeps_the_message) {
  mx_error err;
  mx_fail(&err, MX_ERR_NOT_FOUND, "key 7 missing");
  cr_assert_eq(mx_fail_as(&err, MX_ERR_CORRUPT, "doc %u", 7u), MX_ERR_CORRUPT);
  cr_assert_eq(err.status, MX_ERR_CORRUPT);
  cr_assert_str_eq(err.message, "doc 7: key 7 missing");
  mx_error_clear(&err);
  cr_assert_eq(mx_fail_as(&err, MX_ERR_IO, "x"), MX_ERR_IO);
  cr_assert_eq(err.status, MX_ERR_IO);
  cr_assert_eq(mx_fail_as(NULL, MX_ERR_BUSY, "x"), MX_ERR_BUSY);
}

Test(status, long_messages_are_truncated_not_overflowed) {
  mx_error err;
  char big[2000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  mx_fail(&err, MX_ERR_INVALID_ARGUMENT, "%s", big);
  cr_assert_eq(strlen(err.message), MX_ERROR_MESSAGE_MAX - 1);
}

Test(status, errno_mapping) {
  cr_assert_eq(mx_status_from_errno(ENOSPC), MX_ERR_DISK_FULL);
  cr_assert_eq(mx_status_from_errno(EDQUOT), MX_ERR_DISK_FULL);
  cr_assert_eq(mx_status_from_errno(EFBIG), MX_ERR_DISK_FULL);
  cr_assert_eq(mx_status_from_errno(ENOENT), MX_ERR_NOT_FOUND);
  cr_assert_eq(mx_status_from_errno(ENOMEM), MX_ERR_NO_MEMORY);
  cr_assert_eq(mx_status_from_errno(EIO), MX_ERR_IO);
}

Test(status, dtype_names_round_trip) {
  mx_dtype all[] = {MX_DTYPE_F32, MX_DTYPE_F16, MX_DTYPE_BF16, MX_DTYPE_INT8};
  for (size_t i = 0; i < 4; i++) {
    mx_dtype back;
    cr_assert_eq(mx_dtype_parse(mx_dtype_name(all[i]), &back, NULL), MX_OK);
    cr_assert_eq(back, all[i]);
  }
  mx_error err;
  cr_assert_eq(mx_dtype_parse("f64", &(mx_dtype){0}, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(err.message, "f64") != NULL, "message names the bad value: %s", err.message);
  cr_assert_null(mx_dtype_name((mx_dtype)42));
}

Test(status, version_matches_header) {
  cr_assert_str_eq(mx_version(), MX_VERSION_STRING);
  const char *simd = mx_simd_path();
  cr_assert(strcmp(simd, "avx2") == 0 || strcmp(simd, "scalar") == 0);
}

/* mx_hash_file returns an mx_status naming the path, and hashes as mx_hash64. */
Test(status, hash_file_status_and_value) {
  char *dir = mx_test_tmpdir("status_hash");
  char path[4096];
  snprintf(path, sizeof path, "%s/f.bin", dir);
  unsigned char data[3000];
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (unsigned char)(i * 7 + 1);
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, sizeof data, f), sizeof data);
  fclose(f);
  uint64_t h = 0;
  mx_error err = {0};
  cr_assert_eq(mx_hash_file(path, &h, &err), MX_OK);
  cr_assert_eq(h, mx_hash64(data, sizeof data));
  snprintf(path, sizeof path, "%s/missing.bin", dir);
  cr_assert_eq(mx_hash_file(path, &h, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, "missing.bin"), "%s", err.message);
  cr_assert_eq(mx_hash_file(dir, &h, &err), MX_ERR_IO, "a directory: %s", err.message);
  mx_test_tmpdir_remove(dir);
}
