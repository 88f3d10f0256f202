/* seed_gen.c: writes the generated part of the fuzz seed corpora under the
 * directory given (tests/fuzz/corpus): manifests (valid ones from
 * mx_manifest_format and broken variants), records of every dtype made by
 * mx_record_encode (plus truncated, corrupted and malformed ones), and
 * whole .npy files. Deterministic; its output is committed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "manifest.h"
#include "npy.h"
#include "record.h"

static const char *root;

static void put(const char *dir, const char *name, const void *data, size_t len) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", root, dir);
  mx_error err;
  if (mx_mkdir_p(path, &err) != MX_OK) {
    fprintf(stderr, "%s\n", err.message);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/%s/%s", root, dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

static void check(mx_status s, const mx_error *err) {
  if (s != MX_OK) {
    fprintf(stderr, "seed_gen: %s\n", err->message);
    exit(1);
  }
}

/* text with the first occurrence of `from` replaced by `to` */
static char *replace(const char *text, const char *from, const char *to) {
  const char *at = strstr(text, from);
  if (!at) {
    fprintf(stderr, "seed_gen: '%s' not in manifest\n", from);
    exit(1);
  }
  size_t n = strlen(text) - strlen(from) + strlen(to);
  char *out = malloc(n + 1);
  size_t pre = (size_t)(at - text);
  memcpy(out, text, pre);
  strcpy(out + pre, to);
  strcat(out, at + strlen(from));
  return out;
}

static void manifests(void) {
  mx_manifest m;
  mx_manifest_init(&m);
  m.dim = 64;
  m.vectors_per_doc = 16;
  m.input_vectors_per_doc = 16;
  mx_budget b[] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}};
  m.n_budgets = 4;
  memcpy(m.budgets, b, sizeof b);
  m.n_docs = 1000;
  snprintf(m.coarse_factory, sizeof m.coarse_factory, "IVF32,Flat");
  m.coarse_nprobe = 8;
  m.train_sample = 1000;
  m.seed = 42;
  m.coarse_bytes = 123456;
  m.coarse_xxh3 = 0x9a3f00c2d1e4b577ull;
  snprintf(m.created, sizeof m.created, "2026-12-01T21:40:05Z");
  char *text;
  mx_error err;
  check(mx_manifest_format(&m, &text, &err), &err);
  put("manifest", "valid_ivf_f16", text, strlen(text));

  mx_manifest v = m;
  v.dtype = MX_DTYPE_INT8;
  v.id_kind = MX_IDS_STRING;
  snprintf(v.coarse_factory, sizeof v.coarse_factory, "HNSW32,Flat");
  v.coarse_nprobe = 0;
  v.coarse_ef_search = 64;
  v.vectors_per_doc = 8;
  v.input_vectors_per_doc = 64;
  v.n_budgets = 3;
  char *t2;
  check(mx_manifest_format(&v, &t2, &err), &err);
  put("manifest", "valid_hnsw_int8_strings", t2, strlen(t2));
  free(t2);

  v = m;
  v.dtype = MX_DTYPE_BF16;
  v.id_kind = MX_IDS_U64;
  v.n_docs = 9007199254740991ull;
  v.n_budgets = 1;
  v.budgets[0] = (mx_budget){16, 16};
  check(mx_manifest_format(&v, &t2, &err), &err);
  put("manifest", "valid_bf16_u64_max", t2, strlen(t2));
  free(t2);

  /* compact JSON, fields reordered, extra field: still valid */
  const char *compact =
      "{\"extra\":[1,{\"x\":null}],\"library_version\":\"0.1.0\",\"created\":\"x\","
      "\"coarse_xxh3\":\"ABCDEF0123456789\",\"coarse_bytes\":0,\"seed\":0,\"train_sample\":0,"
      "\"coarse_ef_search\":0,\"coarse_nprobe\":0,\"coarse_factory\":\"Flat\",\"id_kind\":\"row\","
      "\"n_docs\":0,\"budgets\":[[1,1]],\"metric\":\"ip\",\"dtype\":\"f32\","
      "\"input_vectors_per_doc\":1,\"vectors_per_doc\":1,\"dim\":1,\"format_minor\":7,"
      "\"format_major\":2,\"kind\":\"metaidx-index\",\"index_id\":"
      "\"00112233445566778899aabbccddeeff\",\"manifest_xxh3\":\"0000000000000000\"}";
  char *sealed = replace(compact, "", "");
  check(mx_manifest_seal(sealed, strlen(sealed), &err), &err);
  put("manifest", "valid_compact_f32", sealed, strlen(sealed));
  free(sealed);

  struct {
    const char *name, *from, *to;
  } broken[] = {
      {"bad_version3", "\"format_major\": 2", "\"format_major\": 3"},
      {"bad_version0", "\"format_major\": 2", "\"format_major\": 0"},
      {"old_version1", "\"format_major\": 2", "\"format_major\": 1"},
      {"bad_index_id", "\"index_id\": \"", "\"index_id\": \"x"},
      {"bad_not_sealed_last", "\"library_version\"", "\"manifest_xxh3\": 1, \"library_version\""},
      {"bad_kind", "metaidx-index", "metaidx-collection"},
      {"bad_missing_dim", "\"dim\": 64,", ""},
      {"bad_dim_string", "\"dim\": 64", "\"dim\": \"64\""},
      {"bad_dim_real", "\"dim\": 64", "\"dim\": 64.0"},
      {"bad_dim_zero", "\"dim\": 64", "\"dim\": 0"},
      {"bad_dim_big", "\"dim\": 64", "\"dim\": 65537"},
      {"bad_negative", "\"n_docs\": 1000", "\"n_docs\": -1"},
      {"bad_above_2_53", "\"n_docs\": 1000", "\"n_docs\": 9007199254740992"},
      {"bad_int_overflow", "\"n_docs\": 1000", "\"n_docs\": 99999999999999999999999"},
      {"bad_dtype", "\"f16\"", "\"f8\""},
      {"bad_metric", "\"ip\"", "\"l2\""},
      {"bad_budgets_empty", "\"budgets\": [", "\"budgets\": [], \"x\": ["},
      {"bad_budget_rc", "16\n    ]", "17\n    ]"},
      {"bad_budget_triple", "16\n    ]", "16, 1\n    ]"},
      {"bad_budgets_object", "\"budgets\": [", "\"budgets\": {\"a\": 1}, \"y\": ["},
      {"bad_idkind", "\"row\"", "\"uuid\""},
      {"bad_xxh3_short", "9a3f00c2d1e4b577", "9a3f00c2d1e4b57"},
      {"bad_xxh3_nonhex", "9a3f00c2d1e4b577", "9a3f00c2d1e4b57g"},
      {"bad_nul_string", "IVF32,Flat", "IVF32\\u0000Flat"},
      {"bad_empty_factory", "\"IVF32,Flat\"", "\"\""},
      {"bad_long_created", "2026-12-01T21:40:05Z", "2026-12-01T21:40:05Z-0123456789abcdef"},
      {"bad_duplicate", "\"dim\": 64,", "\"dim\": 64, \"dim\": 64,"},
      {"bad_input_vpd", "\"input_vectors_per_doc\": 16", "\"input_vectors_per_doc\": 15"},
      {"bad_utf8", "IVF32,Flat", "IVF32,\xc3\x28lat"},
  };
  for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++) {
    char *t = replace(text, broken[i].from, broken[i].to);
    /* resealed, so that the parser reaches the broken field */
    (void)mx_manifest_seal(t, strlen(t), NULL);
    put("manifest", broken[i].name, t, strlen(t));
    free(t);
  }
  size_t n = strlen(text);
  put("manifest", "bad_truncated_half", text, n / 2);
  put("manifest", "bad_truncated_last", text, n - 3);
  put("manifest", "bad_array_top", "[1, 2, 3]\n", 10);
  put("manifest", "bad_empty", "", 0);
  put("manifest", "bad_deep", "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 64);
  char withnul[64] = "{\"kind\": \"metaidx-index\"}";
  withnul[10] = '\0';
  put("manifest", "bad_raw_nul", withnul, 26);
  free(text);
}

static void records(void) {
  static float vec[64 * 16];
  for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
    vec[i] = (float)((int)(i * 7919 % 201) - 100) / 100.0f;
  static const char *dtypes[] = {"f32", "f16", "bf16", "int8"};
  static unsigned char rec[1 << 16];
  mx_error err;
  for (int dt = 0; dt < 4; dt++) {
    struct {
      uint32_t dim, n;
      mx_budget budgets[4];
      uint32_t nb;
    } shapes[] = {{8, 16, {{1, 1}, {2, 4}, {4, 8}, {8, 16}}, 4},
                  {3, 1, {{1, 1}}, 1},
                  {16, 5, {{1, 2}, {2, 4}}, 2}};
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
      mx_segments seg;
      check(mx_segments_from_budgets(shapes[si].budgets, shapes[si].nb, shapes[si].n, &seg, &err),
            &err);
      size_t len = mx_record_bytes((mx_dtype)dt, shapes[si].dim, shapes[si].n, seg.n);
      check(mx_record_encode(rec, sizeof rec, 0, vec, MX_DTYPE_F32, (mx_dtype)dt, shapes[si].dim,
                             shapes[si].n, &seg, &err),
            &err);
      char name[64];
      snprintf(name, sizeof name, "valid_%s_d%u_n%u", dtypes[dt], shapes[si].dim, shapes[si].n);
      put("record", name, rec, len);
      if (si != 0)
        continue;
      /* broken variants of the first shape */
      snprintf(name, sizeof name, "bad_%s_truncated", dtypes[dt]);
      put("record", name, rec, len - 1);
      snprintf(name, sizeof name, "bad_%s_header_only", dtypes[dt]);
      put("record", name, rec, mx_record_header_bytes(seg.n));
      snprintf(name, sizeof name, "bad_%s_trailing", dtypes[dt]);
      rec[len] = 0;
      put("record", name, rec, len + 1);
      size_t hdr = mx_record_header_bytes(seg.n);
      rec[len - 1] ^= 0x40; /* last segment's checksum fails */
      snprintf(name, sizeof name, "corrupt_%s_last_segment", dtypes[dt]);
      put("record", name, rec, len);
      rec[len - 1] ^= 0x40;
      rec[hdr] ^= 0x01; /* first segment */
      snprintf(name, sizeof name, "corrupt_%s_first_vector", dtypes[dt]);
      put("record", name, rec, len);
      rec[hdr] ^= 0x01;
    }
  }
  /* header-field variants of one f16 record */
  mx_segments seg;
  mx_budget b[] = {{1, 1}, {2, 4}};
  check(mx_segments_from_budgets(b, 2, 8, &seg, &err), &err);
  size_t len = mx_record_bytes(MX_DTYPE_F16, 4, 8, seg.n);
  check(mx_record_encode(rec, sizeof rec, 0, vec, MX_DTYPE_F32, MX_DTYPE_F16, 4, 8, &seg, &err), &err);
  put("record", "valid_f16_d4_n8", rec, len);
  struct {
    const char *name;
    size_t off;
    unsigned char value;
  } pokes[] = {{"bad_magic", 0, 'X'},         {"bad_version3", 4, 3}, {"bad_version0", 4, 0},
               {"old_version1", 4, 1},        {"bad_dtype", 5, 4},    {"bad_nvec0", 6, 0},
               {"bad_nvec_more", 6, 9},       {"bad_dim_more", 8, 5}, {"bad_dim0", 8, 0},
               {"bad_nseg0", 12, 0},          {"bad_nseg17", 12, 17}, {"bad_reserved", 14, 1},
               {"other_doc_id", 16, 9},       {"bad_seg_order", 24, 5}, {"bad_seg_zero", 24, 0},
               {"bad_seg_last", 28, 7},       {"bad_padding", 54, 1}};
  for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
    unsigned char save = rec[pokes[i].off];
    rec[pokes[i].off] = pokes[i].value;
    put("record", pokes[i].name, rec, len);
    rec[pokes[i].off] = save;
  }
  put("record", "bad_empty", rec, 0);
  put("record", "bad_short", rec, 15);
}

static void npy_files(void) {
  char dir[2048], path[4096];
  snprintf(dir, sizeof dir, "%s/npy_file", root);
  mx_error err;
  check(mx_mkdir_p(dir, &err), &err);
  static float f[2 * 3 * 4];
  for (int i = 0; i < 24; i++)
    f[i] = (float)i / 8.0f;
  uint64_t s3[] = {2, 3, 4};
  snprintf(path, sizeof path, "%s/valid_f4_2x3x4", dir);
  check(mx_npy_write(path, MX_NPY_F32, 3, s3, f, &err), &err);
  uint64_t s2[] = {3, 4};
  snprintf(path, sizeof path, "%s/valid_f2_3x4", dir);
  check(mx_npy_write(path, MX_NPY_F16, 2, s2, f, &err), &err);
  uint64_t s1[] = {3};
  snprintf(path, sizeof path, "%s/valid_u8_3", dir);
  check(mx_npy_write(path, MX_NPY_U64, 1, s1, f, &err), &err);
  uint64_t s0[] = {0, 4, 8};
  snprintf(path, sizeof path, "%s/valid_empty_0x4x8", dir);
  check(mx_npy_write(path, MX_NPY_F32, 3, s0, f, &err), &err);
  /* truncated and trailing variants of the f32 file */
  char *buf;
  size_t n;
  snprintf(path, sizeof path, "%s/valid_f4_2x3x4", dir);
  check(mx_read_file(path, 1 << 20, &buf, &n, &err), &err);
  put("npy_file", "bad_truncated", buf, n - 1);
  put("npy_file", "bad_header_only", buf, n - 96);
  char *more = malloc(n + 4);
  memcpy(more, buf, n);
  memset(more + n, 0, 4);
  put("npy_file", "bad_trailing", more, n + 4);
  /* data offset not a multiple of the element size: header padded by 2 */
  free(more);
  free(buf);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fuzz_seed_gen <corpus root>\n");
    return 2;
  }
  root = argv[1];
  manifests();
  records();
  npy_files();
  return 0;
}
