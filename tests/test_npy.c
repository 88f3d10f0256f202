/* test_npy.c: .npy header parser (valid forms, every malformed input class,
 * every truncation, random mutations, the committed fuzz corpus), files
 * written by numpy itself, mx_npy_open size checks, the writer. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fsutil.h"
#include "helpers.h"
#include "npy.h"
#include "status.h"

/* --------------------------------------------------------------- helpers */

/* magic + version + little-endian header length + dict (as given, no
 * padding) + extra data bytes (zeros). */
static unsigned char *make_npy(int major, const char *dict, size_t data_bytes, size_t *len) {
  size_t pre = major == 1 ? 10 : 12, n = strlen(dict);
  *len = pre + n + data_bytes;
  unsigned char *b = calloc(1, *len + 1);
  cr_assert_not_null(b);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  b[8] = (unsigned char)(n & 0xff);
  b[9] = (unsigned char)(n >> 8 & 0xff);
  if (pre == 12) {
    b[10] = (unsigned char)(n >> 16 & 0xff);
    b[11] = (unsigned char)(n >> 24 & 0xff);
  }
  memcpy(b + pre, dict, n);
  return b;
}

static mx_status parse_dict(const char *dict, mx_npy_header *h, mx_error *err) {
  size_t len;
  unsigned char *b = make_npy(1, dict, 0, &len);
  mx_status s = mx_npy_parse_header(b, len, h, err);
  free(b);
  return s;
}

static void write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  cr_assert_eq(fclose(f), 0);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  cr_assert_not_null(p);
  snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* A python3 that has numpy ($MX_PYTHON, python3, /usr/bin/python3), or NULL. */
static const char *python_with_numpy(void) {
  static const char *candidates[] = {NULL, "python3", "/usr/bin/python3"};
  candidates[0] = getenv("MX_PYTHON");
  for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++) {
    if (!candidates[i] || !*candidates[i])
      continue;
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s -c 'import numpy' >/dev/null 2>&1", candidates[i]);
    if (system(cmd) == 0)
      return candidates[i];
  }
  return NULL;
}

/* Runs python code (with numpy imported as np and `d` the directory). */
static int run_python(const char *python, const char *dir, const char *code) {
  char *script = join(dir, "script.py");
  FILE *f = fopen(script, "w");
  cr_assert_not_null(f);
  fprintf(f, "import numpy as np, sys\nd = sys.argv[1]\n%s\n", code);
  fclose(f);
  size_t n = strlen(python) + strlen(script) + strlen(dir) + 16;
  char *cmd = malloc(n);
  cr_assert_not_null(cmd);
  snprintf(cmd, n, "%s %s %s", python, script, dir);
  int rc = system(cmd);
  free(cmd);
  free(script);
  return rc;
}

/* ------------------------------------------------------- valid headers */

Test(npy_parse, numpy_style_header) {
  mx_npy_header h;
  mx_error err;
  cr_assert_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (5, 16, 64), }"
                          "          \n",
                          &h, &err),
               MX_OK, "%s", err.message);
  cr_assert_eq(h.type, MX_NPY_F32);
  cr_assert_eq(h.ndim, 3);
  cr_assert_eq(h.shape[0], 5);
  cr_assert_eq(h.shape[1], 16);
  cr_assert_eq(h.shape[2], 64);
  cr_assert_eq(h.n_elements, 5 * 16 * 64);
  cr_assert_eq(h.data_offset, 10 + 75);
}

Test(npy_parse, key_order_quotes_whitespace_and_commas) {
  mx_npy_header h;
  mx_error err;
  const char *ok[] = {
      "{'shape': (3,), 'fortran_order': False, 'descr': '<u8'}",
      "{\"descr\":\"<u8\",\"fortran_order\":False,\"shape\":(3,)}",
      "  {  'fortran_order' :False ,\n 'shape' : ( 3 , ) ,'descr':'<u8' , }  \n",
      "{'descr': '<u8', 'fortran_order': False, 'shape': (3L,), }",
      "{'descr': 'u8', 'fortran_order': False, 'shape': (3,), }",
      "{'descr': '|u8', 'fortran_order': False, 'shape': (3,), }",
      "{'descr': '=u8', 'fortran_order': False, 'shape': (3,), }",
  };
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    cr_assert_eq(parse_dict(ok[i], &h, &err), MX_OK, "[%zu] %s: %s", i, ok[i], err.message);
    cr_assert_eq(h.type, MX_NPY_U64, "[%zu]", i);
    cr_assert_eq(h.ndim, 1, "[%zu]", i);
    cr_assert_eq(h.shape[0], 3, "[%zu]", i);
    cr_assert_eq(h.n_elements, 3, "[%zu]", i);
  }
}

Test(npy_parse, scalar_empty_and_every_dtype) {
  mx_npy_header h;
  mx_error err;
  cr_assert_eq(parse_dict("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", &h, &err),
               MX_OK, "%s", err.message);
  cr_assert_eq(h.ndim, 0);
  cr_assert_eq(h.n_elements, 1, "a 0-d array holds one element");
  cr_assert_eq(parse_dict("{'descr': '<f2', 'fortran_order': False, 'shape': (0, 4, 8), }", &h,
                          &err),
               MX_OK, "%s", err.message);
  cr_assert_eq(h.n_elements, 0);
  cr_assert_eq(h.shape[2], 8);
  static const struct {
    const char *descr;
    mx_npy_type type;
    size_t size;
  } all[] = {{"<f4", MX_NPY_F32, 4}, {"<f2", MX_NPY_F16, 2}, {"<u8", MX_NPY_U64, 8},
             {"<i8", MX_NPY_I64, 8}, {"<i4", MX_NPY_I32, 4}, {"<u4", MX_NPY_U32, 4}};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    char dict[128];
    snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }",
             all[i].descr);
    cr_assert_eq(parse_dict(dict, &h, &err), MX_OK, "%s", err.message);
    cr_assert_eq(h.type, all[i].type);
    cr_assert_eq(mx_npy_type_size(all[i].type), all[i].size);
    cr_assert_str_eq(mx_npy_type_descr(all[i].type), all[i].descr);
  }
}

Test(npy_parse, any_rank_up_to_eight) {
  mx_npy_header h;
  mx_error err;
  cr_assert_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &h,
                          &err),
               MX_OK, "rank 2 is the caller's problem, not the parser's");
  cr_assert_eq(h.ndim, 2);
  cr_assert_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (1, 2, 1, 2, 1, 2, 1, 2), }",
                          &h, &err),
               MX_OK, "%s", err.message);
  cr_assert_eq(h.ndim, 8);
  cr_assert_eq(h.n_elements, 16);
  cr_assert_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (1, 2, 1, 2, 1, 2, 1, 2, 1), }",
                          &h, &err),
               MX_ERR_UNSUPPORTED);
  cr_assert(strstr(err.message, "dimensions"), "%s", err.message);
}

Test(npy_parse, version_2_and_3) {
  const char *dict = "{'descr': '<i8', 'fortran_order': False, 'shape': (4, 2), }\n";
  for (int v = 2; v <= 3; v++) {
    size_t len;
    unsigned char *b = make_npy(v, dict, 0, &len);
    mx_npy_header h;
    mx_error err;
    cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_OK, "%s", err.message);
    cr_assert_eq(h.data_offset, 12 + strlen(dict));
    cr_assert_eq(h.n_elements, 8);
    free(b);
  }
}

/* ----------------------------------------------------- invalid headers */

static void expect_dict_error(const char *dict, mx_status want, const char *needle) {
  mx_npy_header h;
  mx_error err;
  mx_error_clear(&err);
  mx_status s = parse_dict(dict, &h, &err);
  cr_expect_eq(s, want, "%s -> %s (%s)", dict, mx_status_name(s), err.message);
  if (needle)
    cr_expect(strstr(err.message, needle), "%s: message '%s' lacks '%s'", dict, err.message,
              needle);
}

Test(npy_parse, unsupported_dtypes_and_order) {
  expect_dict_error("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }",
                    MX_ERR_UNSUPPORTED, "Fortran order");
  expect_dict_error("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "big-endian");
  expect_dict_error("{'descr': '>u8', 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "'>u8'");
  expect_dict_error("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "'<f8'");
  expect_dict_error("{'descr': '|O', 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "'|O'");
  expect_dict_error("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "'|u1'");
  expect_dict_error("{'descr': '<U10', 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "'<U10'");
  expect_dict_error("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                    MX_ERR_UNSUPPORTED, "structured");
}

Test(npy_parse, malformed_dictionaries) {
  static const char *bad[] = {
      "",
      "'descr': '<f4', 'fortran_order': False, 'shape': (2,)",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }}",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), } x",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': [3], }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (03,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3 4), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (18446744073709551616,), }",
      "{'descr': '<f4', 'fortran_order': Falsey, 'shape': (3,), }",
      "{'descr': '<f4', 'fortran_order': 0, 'shape': (3,), }",
      "{'descr': '<f4', 'fortran_order': False, }",
      "{'descr': '<f4', 'shape': (3,), }",
      "{'fortran_order': False, 'shape': (3,), }",
      "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1, }",
      "{'descr': '<f4' 'fortran_order': False, 'shape': (3,), }",
      "{'descr' '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{'descr': '<f4\", 'fortran_order': False, 'shape': (3,), }",
      "{'descr': <f4, 'fortran_order': False, 'shape': (3,), }",
      "{'de\\scr': '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{, 'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
      "{'descr': '<f4',, 'fortran_order': False, 'shape': (3,), }",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    expect_dict_error(bad[i], MX_ERR_FORMAT, NULL);
}

Test(npy_parse, shape_overflow) {
  /* 2^32 * 2^32 = 2^64 elements: overflows uint64 */
  expect_dict_error("{'descr': '<f4', 'fortran_order': False, "
                    "'shape': (4294967296, 4294967296), }",
                    MX_ERR_FORMAT, "overflows");
  /* 2^62 elements fit, but 2^62 * 4 bytes do not */
  expect_dict_error("{'descr': '<f4', 'fortran_order': False, "
                    "'shape': (4611686018427387904,), }",
                    MX_ERR_FORMAT, "overflows");
  /* a zero anywhere keeps the product at 0 without overflow */
  mx_npy_header h;
  mx_error err;
  cr_assert_eq(parse_dict("{'descr': '<f4', 'fortran_order': False, "
                          "'shape': (0, 18446744073709551615, 18446744073709551615), }",
                          &h, &err),
               MX_OK, "%s", err.message);
  cr_assert_eq(h.n_elements, 0);
}

Test(npy_parse, magic_version_and_length) {
  mx_npy_header h;
  mx_error err;
  size_t len;
  unsigned char *b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 0,
                              &len);
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_OK, "%s", err.message);
  b[1] = 'n';
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "magic"), "%s", err.message);
  b[1] = 'N';
  b[6] = 4;
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "version 4.0"), "%s", err.message);
  b[6] = 1;
  b[7] = 1;
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_ERR_FORMAT);
  b[7] = 0;
  b[8] = (unsigned char)(b[8] + 1); /* one byte past the end */
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "past the end"), "%s", err.message);
  b[8] = 0xff;
  b[9] = 0xff;
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_ERR_FORMAT);
  free(b);
  /* version 2 with a 4 GiB header length */
  b = make_npy(2, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 0, &len);
  memset(b + 8, 0xff, 4);
  cr_assert_eq(mx_npy_parse_header(b, len, &h, &err), MX_ERR_FORMAT);
  free(b);
  cr_assert_eq(mx_npy_parse_header("", 0, &h, &err), MX_ERR_FORMAT);
  cr_assert_eq(mx_npy_parse_header("PK\x03\x04", 4, &h, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "magic"), "%s", err.message);
}

Test(npy_parse, every_truncation_of_a_valid_header_fails_cleanly) {
  for (int v = 1; v <= 2; v++) {
    size_t len;
    unsigned char *full =
        make_npy(v, "{'descr': '<f2', 'fortran_order': False, 'shape': (7, 3, 5), }   \n", 0,
                 &len);
    mx_npy_header h;
    mx_error err;
    cr_assert_eq(mx_npy_parse_header(full, len, &h, &err), MX_OK, "%s", err.message);
    for (size_t cut = 0; cut < len; cut++) {
      /* an exact-size heap copy, so ASan catches any read past cut */
      unsigned char *b = malloc(cut ? cut : 1);
      cr_assert_not_null(b);
      memcpy(b, full, cut);
      cr_expect_eq(mx_npy_parse_header(b, cut, &h, &err), MX_ERR_FORMAT, "v%d cut %zu", v, cut);
      /* the same prefix, with the length field rewritten to match: the
       * dictionary itself is cut */
      size_t pre = v == 1 ? 10 : 12;
      if (cut > pre) {
        b[8] = (unsigned char)((cut - pre) & 0xff);
        b[9] = (unsigned char)((cut - pre) >> 8);
        mx_status s = mx_npy_parse_header(b, cut, &h, &err);
        /* cutting only the padding leaves a valid header */
        size_t dict_end = pre + strlen("{'descr': '<f2', 'fortran_order': False, "
                                       "'shape': (7, 3, 5), }");
        cr_expect_eq(s, cut >= dict_end ? MX_OK : MX_ERR_FORMAT, "v%d dict cut %zu: %s", v, cut,
                     err.message);
      }
      free(b);
    }
    free(full);
  }
}

Test(npy_parse, random_mutations_never_crash) {
  size_t len;
  unsigned char *valid =
      make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 4), }     \n", 0, &len);
  mx_test_rng rng = {12345};
  unsigned char *b = malloc(len);
  cr_assert_not_null(b);
  int ok = 0;
  for (int iter = 0; iter < 20000; iter++) {
    memcpy(b, valid, len);
    int flips = 1 + (int)mx_test_rng_below(&rng, 4);
    for (int f = 0; f < flips; f++) {
      size_t at = mx_test_rng_below(&rng, len);
      static const char interesting[] = "{}()[],:'\" 0123456789TF<>|=fiu\n\\L";
      b[at] = mx_test_rng_below(&rng, 2) ? (unsigned char)mx_test_rng_next(&rng)
                                         : (unsigned char)interesting[mx_test_rng_below(
                                               &rng, sizeof interesting - 1)];
    }
    size_t cut = mx_test_rng_below(&rng, 8) == 0 ? mx_test_rng_below(&rng, len + 1) : len;
    mx_npy_header h;
    mx_error err;
    mx_status s = mx_npy_parse_header(b, cut, &h, &err);
    if (s == MX_OK) {
      ok++;
      cr_assert_leq(h.ndim, MX_NPY_MAX_DIMS);
      cr_assert_leq(h.data_offset, cut);
    } else {
      cr_assert(s == MX_ERR_FORMAT || s == MX_ERR_UNSUPPORTED, "%s", mx_status_name(s));
      cr_assert_neq(err.message[0], '\0');
    }
  }
  cr_assert_gt(ok, 0, "some mutations (in padding) stay valid");
  free(b);
  free(valid);
}

Test(npy_parse, fuzz_corpus_replays) {
  char *dir = mx_test_source_path("tests/fuzz/corpus/npy_header");
  DIR *d = opendir(dir);
  cr_assert_not_null(d, "%s", dir);
  int files = 0, valid = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.')
      continue;
    char *path = join(dir, e->d_name);
    char *buf;
    size_t len;
    mx_error err;
    cr_assert_eq(mx_read_file(path, 1 << 20, &buf, &len, &err), MX_OK, "%s", err.message);
    /* exact-size copy so ASan sees reads past len */
    unsigned char *exact = malloc(len ? len : 1);
    cr_assert_not_null(exact);
    memcpy(exact, buf, len);
    mx_npy_header h;
    mx_status s = mx_npy_parse_header(exact, len, &h, &err);
    int expect_ok = strncmp(e->d_name, "valid", 5) == 0;
    /* hand-written seeds say what they expect; inputs merged in by the
     * fuzzer (hash names) only have to be parsed or refused cleanly */
    if (expect_ok || strncmp(e->d_name, "bad", 3) == 0)
      cr_expect_eq(s == MX_OK, expect_ok, "%s: %s", e->d_name, err.message);
    else
      cr_expect(s == MX_OK || s == MX_ERR_FORMAT || s == MX_ERR_UNSUPPORTED, "%s: %s",
                e->d_name, mx_status_name(s));
    valid += s == MX_OK;
    files++;
    free(exact);
    free(buf);
    free(path);
  }
  closedir(d);
  cr_assert_geq(files, 8);
  cr_assert_geq(valid, 3);
  free(dir);
}

/* ------------------------------------------------------- files by numpy */

Test(npy_file, reads_what_numpy_writes) {
  const char *py = python_with_numpy();
  if (!py)
    cr_skip_test("python3 with numpy not found");
  char *dir = mx_test_tmpdir("npy_numpy");
  const char *code =
      "import numpy.lib.format as F\n"
      "for t in ['<f4', '<f2', '<u8', '<i8', '<i4', '<u4']:\n"
      "  a = (np.arange(2*3*5) * 3 + 1).astype(t).reshape(2, 3, 5)\n"
      "  for v in [(1, 0), (2, 0), (3, 0)]:\n"
      "    with open('%s/%s_v%d.npy' % (d, t[1:], v[0]), 'wb') as f:\n"
      "      F.write_array(f, a, version=v)\n"
      "np.save(d + '/scalar.npy', np.array(7, dtype='<i8'))\n"
      "np.save(d + '/vec.npy', np.arange(9, dtype='<u8'))\n"
      "np.save(d + '/empty.npy', np.zeros((0, 4, 8), dtype='<f4'))\n"
      "np.save(d + '/fortran.npy', np.asfortranarray(np.ones((3, 4), dtype='<f4')))\n"
      "np.save(d + '/big.npy', np.ones((3,), dtype='>f4'))\n"
      "np.save(d + '/f8.npy', np.ones((3,), dtype='<f8'))\n"
      "np.save(d + '/obj.npy', np.array([{}, 1], dtype=object), allow_pickle=True)\n"
      "np.save(d + '/rec.npy', np.zeros(2, dtype=[('a', '<f4'), ('b', '<i4')]))\n";
  cr_assert_eq(run_python(py, dir, code), 0);
  static const struct {
    const char *name;
    mx_npy_type type;
  } types[] = {{"f4", MX_NPY_F32}, {"f2", MX_NPY_F16}, {"u8", MX_NPY_U64},
               {"i8", MX_NPY_I64}, {"i4", MX_NPY_I32}, {"u4", MX_NPY_U32}};
  for (size_t t = 0; t < 6; t++) {
    for (int v = 1; v <= 3; v++) {
      char name[64];
      snprintf(name, sizeof name, "%s_v%d.npy", types[t].name, v);
      char *path = join(dir, name);
      mx_npy f;
      mx_error err;
      cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s: %s", name, err.message);
      cr_assert_eq(f.h.type, types[t].type, "%s", name);
      cr_assert_eq(f.h.ndim, 3);
      cr_assert_eq(f.h.shape[0], 2);
      cr_assert_eq(f.h.shape[1], 3);
      cr_assert_eq(f.h.shape[2], 5);
      cr_assert_eq(f.data_bytes, 30 * mx_npy_type_size(types[t].type));
      cr_assert_eq(f.h.data_offset % 16, 0, "numpy aligns the data");
      for (uint64_t i = 0; i < 30; i++) {
        double want = (double)(i * 3 + 1), got;
        switch (types[t].type) {
        case MX_NPY_F32:
          got = ((const float *)f.data)[i];
          break;
        case MX_NPY_F16: {
          uint16_t hbits = ((const uint16_t *)f.data)[i];
          /* small integers are exact in f16: rebuild from bits */
          int e = (hbits >> 10) & 31, m = hbits & 1023;
          got = e ? (1.0 + m / 1024.0) * (double)(1u << e) / 32768.0 : m / 16777216.0;
          break;
        }
        case MX_NPY_U64:
          got = (double)((const uint64_t *)f.data)[i];
          break;
        case MX_NPY_I64:
          got = (double)((const int64_t *)f.data)[i];
          break;
        case MX_NPY_I32:
          got = ((const int32_t *)f.data)[i];
          break;
        default:
          got = ((const uint32_t *)f.data)[i];
          break;
        }
        cr_assert_eq(got, want, "%s[%llu]", name, (unsigned long long)i);
      }
      mx_npy_close(&f);
      free(path);
    }
  }
  mx_npy f;
  mx_error err;
  char *p = join(dir, "scalar.npy");
  cr_assert_eq(mx_npy_open(p, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.ndim, 0);
  cr_assert_eq(f.h.n_elements, 1);
  cr_assert_eq(*(const int64_t *)f.data, 7);
  mx_npy_close(&f);
  free(p);
  p = join(dir, "vec.npy");
  cr_assert_eq(mx_npy_open(p, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.ndim, 1);
  cr_assert_eq(f.h.shape[0], 9);
  cr_assert_eq(((const uint64_t *)f.data)[8], 8);
  mx_npy_close(&f);
  free(p);
  p = join(dir, "empty.npy");
  cr_assert_eq(mx_npy_open(p, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.n_elements, 0);
  cr_assert_eq(f.data_bytes, 0);
  cr_assert_eq(f.h.shape[1], 4);
  mx_npy_close(&f);
  mx_npy_close(&f); /* closing twice (zeroed) is a no-op */
  mx_npy_close(NULL);
  free(p);
  static const struct {
    const char *name;
    const char *needle;
  } refused[] = {{"fortran.npy", "Fortran order"}, {"big.npy", "'>f4'"},
                 {"f8.npy", "'<f8'"},              {"obj.npy", "'|O'"},
                 {"rec.npy", "structured"}};
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    p = join(dir, refused[i].name);
    mx_error_clear(&err);
    cr_expect_eq(mx_npy_open(p, &f, &err), MX_ERR_UNSUPPORTED, "%s: %s", refused[i].name,
                 err.message);
    cr_expect(strstr(err.message, refused[i].needle), "%s", err.message);
    cr_expect(strstr(err.message, p), "message names the path: %s", err.message);
    free(p);
  }
  mx_test_tmpdir_remove(dir);
}

/* ------------------------------------------------------ open size checks */

Test(npy_file, truncated_trailing_and_lying_files) {
  char *dir = mx_test_tmpdir("npy_sizes");
  char *path = join(dir, "x.npy");
  /* 128-byte header declaring (4, 2) f4 = 32 data bytes */
  char dict[128];
  snprintf(dict, sizeof dict, "%-117s\n",
           "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2), }");
  size_t len;
  unsigned char *b = make_npy(1, dict, 32, &len);
  cr_assert_eq(len, 128 + 32);
  mx_npy f;
  mx_error err;
  write_bytes(path, b, len);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.data_offset, 128);
  mx_npy_close(&f);
  write_bytes(path, b, len - 1);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "truncated"), "%s", err.message);
  cr_assert(strstr(err.message, "160 bytes expected"), "%s", err.message);
  cr_assert(strstr(err.message, "has 159 bytes"), "%s", err.message);
  cr_assert(strstr(err.message, path), "%s", err.message);
  cr_assert_null(f.map, "a failed open leaves the struct zeroed");
  write_bytes(path, b, 128); /* header only */
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "truncated"), "%s", err.message);
  unsigned char *longer = calloc(1, len + 4);
  cr_assert_not_null(longer);
  memcpy(longer, b, len);
  write_bytes(path, longer, len + 4);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "trailing"), "%s", err.message);
  cr_assert(strstr(err.message, "has 164 bytes"), "%s", err.message);
  free(longer);
  /* a header that lies: claims (4, 3) over the same 32 data bytes */
  memcpy(strstr((char *)b + 10, "(4, 2)"), "(4, 3)", 6);
  write_bytes(path, b, len);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, "(4, 3)"), "%s", err.message);
  cr_assert(strstr(err.message, "176 bytes expected"), "%s", err.message);
  free(b);
  /* an empty file, a missing file, a directory */
  write_bytes(path, "", 0);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_ERR_FORMAT);
  cr_assert(strstr(err.message, path), "%s", err.message);
  char *missing = join(dir, "missing.npy");
  cr_assert_eq(mx_npy_open(missing, &f, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, missing), "%s", err.message);
  free(missing);
  cr_assert_eq(mx_npy_open(dir, &f, &err), MX_ERR_INVALID_ARGUMENT);
  /* an unaligned data offset (10 + 57 = 67, not a multiple of 4) */
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", 4, &len);
  write_bytes(path, b, len);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_ERR_UNSUPPORTED);
  cr_assert(strstr(err.message, "not a multiple"), "%s", err.message);
  free(b);
  free(path);
  mx_test_tmpdir_remove(dir);
}

/* ---------------------------------------------------------------- writer */

Test(npy_writer, round_trip_streaming_and_alignment) {
  char *dir = mx_test_tmpdir("npy_writer");
  char *path = join(dir, "w.npy");
  uint64_t shape[3] = {5, 3, 7};
  float data[5 * 3 * 7];
  for (size_t i = 0; i < 105; i++)
    data[i] = (float)i * 0.25f - 3.0f;
  mx_npy_writer *w;
  mx_error err;
  cr_assert_eq(mx_npy_writer_open(path, MX_NPY_F32, 3, shape, &w, &err), MX_OK, "%s",
               err.message);
  /* odd-sized pieces, including empty ones */
  size_t bytes = sizeof data, pos = 0, step = 1;
  while (pos < bytes) {
    size_t n = step < bytes - pos ? step : bytes - pos;
    cr_assert_eq(mx_npy_writer_write(w, (const char *)data + pos, n, &err), MX_OK, "%s",
                 err.message);
    cr_assert_eq(mx_npy_writer_write(w, data, 0, &err), MX_OK);
    pos += n;
    step = step * 3 + 1;
  }
  cr_assert_eq(mx_npy_writer_write(w, data, 1, &err), MX_ERR_INVALID_ARGUMENT,
               "writing past the declared size");
  cr_assert(strstr(err.message, "exceed"), "%s", err.message);
  cr_assert_eq(mx_npy_writer_close(w, &err), MX_OK, "%s", err.message);
  mx_npy f;
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.data_offset % 64, 0);
  cr_assert_eq(f.h.data_offset, 128, "v1.0 header padded to 128 bytes");
  cr_assert_eq(((const unsigned char *)f.map)[6], 1);
  cr_assert_eq(((const char *)f.map)[f.h.data_offset - 1], '\n');
  cr_assert_eq(f.h.ndim, 3);
  cr_assert_eq(memcmp(f.data, data, sizeof data), 0);
  mx_npy_close(&f);

  /* every type and rank 0..2, through the whole-array helper */
  uint64_t u[4] = {1, 2, 3, UINT64_MAX};
  uint64_t s1[1] = {4};
  cr_assert_eq(mx_npy_write(path, MX_NPY_U64, 1, s1, u, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.type, MX_NPY_U64);
  cr_assert_eq(((const uint64_t *)f.data)[3], UINT64_MAX);
  mx_npy_close(&f);
  int32_t one = -5;
  cr_assert_eq(mx_npy_write(path, MX_NPY_I32, 0, NULL, &one, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.ndim, 0);
  cr_assert_eq(*(const int32_t *)f.data, -5);
  mx_npy_close(&f);
  uint64_t s0[2] = {0, 64};
  cr_assert_eq(mx_npy_write(path, MX_NPY_F16, 2, s0, NULL, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.n_elements, 0);
  cr_assert_eq(f.h.shape[1], 64);
  mx_npy_close(&f);

  /* numpy reads what we write */
  const char *py = python_with_numpy();
  if (py) {
    cr_assert_eq(mx_npy_write(path, MX_NPY_F32, 3, shape, data, &err), MX_OK);
    char code[512];
    snprintf(code, sizeof code,
             "a = np.load(d + '/w.npy')\n"
             "assert a.shape == (5, 3, 7) and a.dtype == np.float32, (a.shape, a.dtype)\n"
             "assert (a.ravel() == np.arange(105, dtype=np.float32) * 0.25 - 3).all()\n");
    cr_assert_eq(run_python(py, dir, code), 0);
  }
  free(path);
  mx_test_tmpdir_remove(dir);
}

Test(npy_writer, short_close_and_abort_remove_the_file) {
  char *dir = mx_test_tmpdir("npy_writer_bad");
  char *path = join(dir, "w.npy");
  uint64_t shape[2] = {2, 2};
  mx_npy_writer *w;
  mx_error err;
  cr_assert_eq(mx_npy_writer_open(path, MX_NPY_I64, 2, shape, &w, &err), MX_OK);
  int64_t v[3] = {1, 2, 3};
  cr_assert_eq(mx_npy_writer_write(w, v, sizeof v, &err), MX_OK);
  cr_assert_eq(mx_npy_writer_close(w, &err), MX_ERR_STATE);
  cr_assert(strstr(err.message, "24 of the 32"), "%s", err.message);
  cr_assert_eq(mx_path_exists(path), 0, "an incomplete file is removed");
  cr_assert_eq(mx_npy_writer_open(path, MX_NPY_I64, 2, shape, &w, &err), MX_OK);
  cr_assert_eq(mx_path_exists(path), 1);
  mx_npy_writer_abort(w);
  cr_assert_eq(mx_path_exists(path), 0);
  mx_npy_writer_abort(NULL);
  cr_assert_eq(mx_npy_writer_close(NULL, &err), MX_OK);
  /* invalid arguments */
  uint64_t big[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  cr_assert_eq(mx_npy_writer_open(path, MX_NPY_F32, 9, big, &w, &err), MX_ERR_INVALID_ARGUMENT);
  uint64_t huge[2] = {UINT64_MAX, 2};
  cr_assert_eq(mx_npy_writer_open(path, MX_NPY_F32, 2, huge, &w, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_npy_writer_open(path, (mx_npy_type)99, 1, shape, &w, &err),
               MX_ERR_INVALID_ARGUMENT);
  char *nodir = join(dir, "no/such/dir.npy");
  cr_assert_eq(mx_npy_writer_open(nodir, MX_NPY_F32, 1, shape, &w, &err), MX_ERR_NOT_FOUND);
  cr_assert(strstr(err.message, nodir), "%s", err.message);
  free(nodir);
  free(path);
  mx_test_tmpdir_remove(dir);
}

Test(npy_writer, a_failed_write_fails_the_close) {
  /* a symbolic link to /dev/full: writes fail with ENOSPC, and removing the
   * "file" removes only the link */
  if (access("/dev/full", W_OK) != 0)
    cr_skip_test("no /dev/full");
  char *dir = mx_test_tmpdir("npy_writer_full");
  char *path = join(dir, "full.npy");
  cr_assert_eq(symlink("/dev/full", path), 0);
  uint64_t shape[1] = {1u << 20};
  mx_npy_writer *w;
  mx_error err;
  cr_assert_eq(mx_npy_writer_open(path, MX_NPY_F32, 1, shape, &w, &err), MX_OK, "%s",
               err.message);
  float *chunk = calloc(1u << 18, sizeof *chunk); /* 1 MiB: bypasses the buffer */
  cr_assert_not_null(chunk);
  cr_assert_eq(mx_npy_writer_write(w, chunk, 1u << 20, &err), MX_ERR_DISK_FULL, "%s",
               err.message);
  cr_assert(strstr(err.message, path), "%s", err.message);
  cr_assert_eq(mx_npy_writer_write(w, chunk, 16, &err), MX_ERR_DISK_FULL);
  cr_assert_eq(mx_npy_writer_close(w, &err), MX_ERR_DISK_FULL);
  cr_assert(strstr(err.message, "earlier write failed"), "%s", err.message);
  cr_assert_eq(access("/dev/full", F_OK), 0);
  free(chunk);
  free(path);
  mx_test_tmpdir_remove(dir);
}

Test(npy_writer, eight_dims_of_huge_numbers_fit_a_v1_header) {
  char *dir = mx_test_tmpdir("npy_writer_dims");
  char *path = join(dir, "w.npy");
  uint64_t shape[8] = {0, UINT64_MAX, UINT64_MAX, UINT64_MAX,
                       UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX};
  mx_error err;
  cr_assert_eq(mx_npy_write(path, MX_NPY_U32, 8, shape, NULL, &err), MX_OK, "%s", err.message);
  mx_npy f;
  cr_assert_eq(mx_npy_open(path, &f, &err), MX_OK, "%s", err.message);
  cr_assert_eq(f.h.ndim, 8);
  cr_assert_eq(f.h.shape[7], UINT64_MAX);
  cr_assert_eq(f.h.data_offset % 64, 0);
  mx_npy_close(&f);
  free(path);
  mx_test_tmpdir_remove(dir);
}
