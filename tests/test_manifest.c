/* test_manifest.c: manifest.json round trip, strict parsing (every field
 * missing, wrong types, out-of-range values, newer major version, broken
 * JSON) and the atomic write. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsutil.h"
#include "helpers.h"
#include "manifest.h"

static mx_manifest sample(void) {
  mx_manifest m;
  mx_manifest_init(&m);
  m.dim = 3584;
  m.vectors_per_doc = 16;
  m.input_vectors_per_doc = 64;
  m.dtype = MX_DTYPE_BF16;
  const mx_budget b[] = {{1, 1}, {2, 4}, {4, 8}, {8, 16}};
  m.n_budgets = 4;
  memcpy(m.budgets, b, sizeof b);
  m.n_docs = 123456789012ull;
  m.id_kind = MX_IDS_STRING;
  snprintf(m.coarse_factory, sizeof m.coarse_factory, "IVF4096,PQ64x8");
  m.coarse_nprobe = 32;
  m.coarse_ef_search = 0;
  m.train_sample = 200000;
  m.seed = 42;
  m.coarse_bytes = 987654321;
  m.coarse_xxh3 = 0xfedcba9876543210ull; /* beyond 2^63: must survive */
  for (int i = 0; i < MX_INDEX_ID_BYTES; i++)
    m.index_id[i] = (unsigned char)(0xf1 - 17 * i);
  snprintf(m.created, sizeof m.created, "2026-12-01T21:40:05Z");
  m.first_stage = MX_FIRST_STAGE_MULTI;
  m.first_stage_vectors = 4;
  m.first_stage_query_vectors = 3;
  snprintf(m.first_stage_trial, sizeof m.first_stage_trial, "2000 docs: leading 900 multi-4 300");
  return m;
}

static void assert_same(const mx_manifest *a, const mx_manifest *b) {
  cr_assert_eq(a->format_major, b->format_major);
  cr_assert_eq(a->format_minor, b->format_minor);
  cr_assert_eq(memcmp(a->index_id, b->index_id, sizeof a->index_id), 0);
  cr_assert_eq(a->dim, b->dim);
  cr_assert_eq(a->vectors_per_doc, b->vectors_per_doc);
  cr_assert_eq(a->input_vectors_per_doc, b->input_vectors_per_doc);
  cr_assert_eq(a->dtype, b->dtype);
  cr_assert_str_eq(a->metric, b->metric);
  cr_assert_eq(a->n_budgets, b->n_budgets);
  for (uint32_t i = 0; i < a->n_budgets; i++) {
    cr_assert_eq(a->budgets[i].r_q, b->budgets[i].r_q);
    cr_assert_eq(a->budgets[i].r_c, b->budgets[i].r_c);
  }
  cr_assert_eq(a->n_docs, b->n_docs);
  cr_assert_eq(a->id_kind, b->id_kind);
  cr_assert_str_eq(a->coarse_factory, b->coarse_factory);
  cr_assert_eq(a->coarse_nprobe, b->coarse_nprobe);
  cr_assert_eq(a->coarse_ef_search, b->coarse_ef_search);
  cr_assert_eq(a->train_sample, b->train_sample);
  cr_assert_eq(a->seed, b->seed);
  cr_assert_eq(a->coarse_bytes, b->coarse_bytes);
  cr_assert_eq(a->coarse_xxh3, b->coarse_xxh3);
  cr_assert_str_eq(a->created, b->created);
  cr_assert_str_eq(a->library_version, b->library_version);
  cr_assert_eq(a->first_stage, b->first_stage);
  cr_assert_eq(a->first_stage_vectors, b->first_stage_vectors);
  cr_assert_eq(a->first_stage_query_vectors, b->first_stage_query_vectors);
  cr_assert_str_eq(a->first_stage_trial, b->first_stage_trial);
}

static char *formatted(const mx_manifest *m) {
  char *text = NULL;
  mx_error err;
  cr_assert_eq(mx_manifest_format(m, &text, &err), MX_OK, "%s", err.message);
  return text;
}

/* The sample as a jansson object, to break one field at a time. */
static json_t *sample_json(void) {
  mx_manifest m = sample();
  char *text = formatted(&m);
  json_t *root = json_loads(text, 0, NULL);
  cr_assert_not_null(root);
  free(text);
  return root;
}

/* Serialises root as a writer would: manifest_xxh3 (when a string) moved
 * last and sealed, so that only the field a test broke is wrong. */
static mx_status parse_json(json_t *root, mx_error *err) {
  json_t *seal = json_object_get(root, "manifest_xxh3");
  if (json_is_string(seal)) {
    json_incref(seal);
    json_object_del(root, "manifest_xxh3");
    json_object_set_new(root, "manifest_xxh3", seal);
  }
  char *text = json_dumps(root, 0);
  cr_assert_not_null(text);
  (void)mx_manifest_seal(text, strlen(text), NULL);
  mx_manifest m;
  mx_status s = mx_manifest_parse(text, strlen(text), &m, err);
  free(text);
  return s;
}

Test(manifest, round_trip) {
  mx_manifest m = sample(), back;
  char *text = formatted(&m);
  cr_assert_not_null(strstr(text, "\"coarse_xxh3\": \"fedcba9876543210\""), "%s", text);
  cr_assert_not_null(strstr(text, "\"dtype\": \"bf16\""));
  cr_assert_not_null(strstr(text, "\"id_kind\": \"string\""));
  mx_error err;
  cr_assert_eq(mx_manifest_parse(text, strlen(text), &back, &err), MX_OK, "%s", err.message);
  assert_same(&m, &back);
  free(text);
  for (int k = 0; k < 3; k++) {
    m.id_kind = (mx_id_kind)k;
    m.dtype = (mx_dtype)k;
    text = formatted(&m);
    cr_assert_eq(mx_manifest_parse(text, strlen(text), &back, &err), MX_OK, "%s", err.message);
    assert_same(&m, &back);
    free(text);
  }
}

static const char *const all_fields[] = {
    "kind",          "format_major",     "format_minor",
    "dim",           "vectors_per_doc",  "input_vectors_per_doc",
    "dtype",         "metric",           "budgets",
    "n_docs",        "id_kind",          "coarse_factory",
    "coarse_nprobe", "coarse_ef_search", "train_sample",
    "seed",          "coarse_bytes",     "coarse_xxh3",
    "created",       "library_version",  "index_id",
    "first_stage",   "first_stage_vectors", "first_stage_query_vectors",
    "first_stage_trial", "manifest_xxh3"};
#define N_FIELDS (sizeof all_fields / sizeof all_fields[0])

Test(manifest, every_field_is_written) {
  json_t *root = sample_json();
  cr_assert_eq(json_object_size(root), N_FIELDS);
  for (size_t i = 0; i < N_FIELDS; i++)
    cr_assert_not_null(json_object_get(root, all_fields[i]), "%s", all_fields[i]);
  json_decref(root);
}

Test(manifest, each_missing_field_is_named) {
  for (size_t i = 0; i < N_FIELDS; i++) {
    json_t *root = sample_json();
    cr_assert_eq(json_object_del(root, all_fields[i]), 0);
    mx_error err;
    cr_assert_eq(parse_json(root, &err), MX_ERR_FORMAT, "without %s", all_fields[i]);
    char want[64];
    snprintf(want, sizeof want, "missing field '%s'", all_fields[i]);
    cr_assert_not_null(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
    json_decref(root);
  }
}

Test(manifest, each_wrong_type_is_named) {
  for (size_t i = 0; i < N_FIELDS; i++) {
    json_t *bad[] = {json_true(),   json_real(1.5),   json_null(),
                     json_object(), json_string("7"), json_integer(3)};
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
      json_t *root = sample_json();
      json_t *orig = json_object_get(root, all_fields[i]);
      if (json_typeof(orig) == json_typeof(bad[b])) {
        json_decref(root);
        continue;
      }
      cr_assert_eq(json_object_set(root, all_fields[i], bad[b]), 0);
      mx_error err;
      cr_assert_eq(parse_json(root, &err), MX_ERR_FORMAT, "%s as type %d", all_fields[i], (int)b);
      char want[64];
      snprintf(want, sizeof want, "'%s", all_fields[i]);
      cr_assert_not_null(strstr(err.message, want), "'%s' lacks '%s'", err.message, want);
      json_decref(root);
    }
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++)
      json_decref(bad[b]);
  }
}

static void expect_bad(const char *field, json_t *value, mx_status want, const char *needle) {
  json_t *root = sample_json();
  cr_assert_eq(json_object_set_new(root, field, value), 0);
  mx_error err;
  mx_status s = parse_json(root, &err);
  cr_assert_eq(s, want, "%s: %s: %s", field, mx_status_name(s), err.message);
  cr_assert_not_null(strstr(err.message, needle), "'%s' lacks '%s'", err.message, needle);
  json_decref(root);
}

Test(manifest, out_of_range_values) {
  expect_bad("dim", json_integer(0), MX_ERR_FORMAT, "'dim'");
  expect_bad("dim", json_integer(-3), MX_ERR_FORMAT, "'dim'");
  expect_bad("dim", json_integer(1 << 20), MX_ERR_FORMAT, "'dim'");
  expect_bad("vectors_per_doc", json_integer(0), MX_ERR_FORMAT, "'vectors_per_doc'");
  expect_bad("input_vectors_per_doc", json_integer(8), MX_ERR_FORMAT, "'input_vectors_per_doc'");
  expect_bad("dtype", json_string("f64"), MX_ERR_FORMAT, "'dtype'");
  expect_bad("metric", json_string("l2"), MX_ERR_FORMAT, "'metric'");
  expect_bad("id_kind", json_string("uuid"), MX_ERR_FORMAT, "'id_kind'");
  expect_bad("kind", json_string("metaidx-collection"), MX_ERR_FORMAT, "'kind'");
  expect_bad("format_major", json_integer(0), MX_ERR_FORMAT, "'format_major'");
  expect_bad("n_docs", json_integer(-1), MX_ERR_FORMAT, "'n_docs'");
  expect_bad("seed", json_integer(9007199254740992ll), MX_ERR_FORMAT, "'seed'");
  expect_bad("coarse_xxh3", json_string("fedcba987654321"), MX_ERR_FORMAT, "'coarse_xxh3'");
  expect_bad("coarse_xxh3", json_string("fedcba987654321g"), MX_ERR_FORMAT, "'coarse_xxh3'");
  expect_bad("coarse_xxh3", json_string("0xfedcba98765432"), MX_ERR_FORMAT, "'coarse_xxh3'");
  expect_bad("coarse_factory", json_string(""), MX_ERR_FORMAT, "'coarse_factory'");
  char longs[300];
  memset(longs, 'a', sizeof longs - 1);
  longs[sizeof longs - 1] = 0;
  expect_bad("coarse_factory", json_string(longs), MX_ERR_FORMAT, "'coarse_factory'");
  /* jansson refuses \u0000 in input outright (no JSON_ALLOW_NUL) */
  expect_bad("created", json_stringn("a\0b", 3), MX_ERR_FORMAT, "invalid JSON");
  expect_bad("budgets", json_array(), MX_ERR_FORMAT, "'budgets'");
  expect_bad("budgets", json_loads("[[1,1],[2]]", 0, NULL), MX_ERR_FORMAT, "'budgets[1]'");
  expect_bad("budgets", json_loads("[[1,1],[2,4,8]]", 0, NULL), MX_ERR_FORMAT, "'budgets[1]'");
  expect_bad("budgets", json_loads("[[1,1],[0,4]]", 0, NULL), MX_ERR_FORMAT, "'budgets[1].r_q'");
  expect_bad("budgets", json_loads("[[1,1],[2,17]]", 0, NULL), MX_ERR_FORMAT, "'budgets[1].r_c'");
  expect_bad("budgets", json_loads("[[1,1],[2,\"4\"]]", 0, NULL), MX_ERR_FORMAT,
             "'budgets[1].r_c'");
  expect_bad("budgets", json_loads("[[1,1],{}]", 0, NULL), MX_ERR_FORMAT, "'budgets[1]'");
  expect_bad("first_stage", json_string("auto"), MX_ERR_FORMAT, "'first_stage'");
  expect_bad("first_stage", json_string("colbert"), MX_ERR_FORMAT, "'first_stage'");
  expect_bad("first_stage_vectors", json_integer(0), MX_ERR_FORMAT, "'first_stage_vectors'");
  expect_bad("first_stage_vectors", json_integer(17), MX_ERR_FORMAT, "'first_stage_vectors'");
  json_t *many = json_array();
  for (int i = 0; i < MX_MAX_BUDGETS + 1; i++)
    json_array_append_new(many, json_pack("[ii]", 1, 1));
  expect_bad("budgets", many, MX_ERR_FORMAT, "'budgets'");
}

/* 2.0 had no first-stage fields: its coarse index holds leading vectors. */
Test(manifest, format_2_0_reads_as_the_leading_vector) {
  json_t *root = sample_json();
  json_object_set_new(root, "format_minor", json_integer(0));
  json_object_del(root, "first_stage");
  json_object_del(root, "first_stage_vectors");
  json_object_del(root, "first_stage_query_vectors");
  json_object_del(root, "first_stage_trial");
  json_t *seal = json_object_get(root, "manifest_xxh3");
  json_incref(seal);
  json_object_del(root, "manifest_xxh3");
  json_object_set_new(root, "manifest_xxh3", seal);
  char *text = json_dumps(root, 0);
  cr_assert_eq(mx_manifest_seal(text, strlen(text), NULL), MX_OK);
  mx_manifest m;
  mx_error err;
  cr_assert_eq(mx_manifest_parse(text, strlen(text), &m, &err), MX_OK, "%s", err.message);
  cr_assert_eq(m.first_stage, MX_FIRST_STAGE_LEADING);
  cr_assert_eq(m.first_stage_vectors, 1);
  cr_assert_eq(m.first_stage_query_vectors, 0);
  cr_assert_str_eq(m.first_stage_trial, "");
  free(text);
  json_decref(root);
  /* A leading first stage has exactly one vector. */
  root = sample_json();
  json_object_set_new(root, "first_stage", json_string("leading"));
  cr_assert_eq(parse_json(root, &err), MX_ERR_FORMAT);
  cr_assert_not_null(strstr(err.message, "'first_stage_vectors'"), "%s", err.message);
  json_decref(root);
}

Test(manifest, newer_major_version_refused) {
  json_t *root = sample_json();
  json_object_set_new(root, "format_major", json_integer(MX_FORMAT_MAJOR + 1));
  json_object_del(root, "dim"); /* a newer major may change anything else */
  mx_error err;
  cr_assert_eq(parse_json(root, &err), MX_ERR_VERSION);
  char want[64];
  snprintf(want, sizeof want, "format version %d is newer than this library reads (%d.%d)",
           MX_FORMAT_MAJOR + 1, MX_FORMAT_MAJOR, MX_FORMAT_MINOR);
  cr_assert_not_null(strstr(err.message, want), "%s", err.message);
  json_decref(root);
}

Test(manifest, newer_minor_and_unknown_fields_accepted) {
  json_t *root = sample_json();
  json_object_set_new(root, "format_minor", json_integer(MX_FORMAT_MINOR + 7));
  json_object_set_new(root, "some_future_field", json_pack("{s:[i]}", "x", 1));
  mx_error err;
  cr_assert_eq(parse_json(root, &err), MX_OK, "%s", err.message);
  json_decref(root);
}

/* The manifest's own checksum: any change to a byte before the
 * manifest_xxh3 field is refused (MX_ERR_FORMAT if it breaks the JSON,
 * else MX_ERR_CORRUPT), never read as another valid manifest (issue 12
 * item 4: a changed count or dtype used to be trusted). */
Test(manifest, every_changed_byte_is_refused) {
  mx_manifest m = sample(), back;
  char *text = formatted(&m);
  size_t len = strlen(text);
  const char *key = strstr(text, "\"manifest_xxh3\"");
  cr_assert_not_null(key, "%s", text);
  size_t covered = (size_t)(key - text);
  mx_error err;
  int corrupt = 0;
  for (size_t i = 0; i < len; i++) {
    for (unsigned mask = 1; mask < 256; mask <<= 3) {
      text[i] ^= (char)mask;
      mx_status st = mx_manifest_parse(text, len, &back, &err);
      text[i] ^= (char)mask;
      if (i < covered)
        cr_assert(st == MX_ERR_FORMAT || st == MX_ERR_CORRUPT || st == MX_ERR_VERSION,
                  "byte %zu ^ %u read as %s", i, mask, mx_status_name(st));
      else if (text[i] != '\n' && text[i] != ' ')
        cr_assert_neq(st, MX_OK, "byte %zu (in the seal) ^ %u accepted", i, mask);
      corrupt += st == MX_ERR_CORRUPT;
    }
  }
  cr_assert_gt(corrupt, (int)covered, "most changes keep the JSON valid: the checksum finds them");
  /* a changed value resealed is accepted: the seal is a checksum, not a signature */
  char *at = strstr(text, "\"seed\": 42");
  cr_assert_not_null(at);
  at[9] = '7';
  cr_assert_eq(mx_manifest_parse(text, len, &back, &err), MX_ERR_CORRUPT);
  cr_assert(strstr(err.message, "manifest_xxh3"), "%s", err.message);
  cr_assert_eq(mx_manifest_seal(text, len, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_manifest_parse(text, len, &back, &err), MX_OK, "%s", err.message);
  cr_assert_eq(back.seed, 47);
  free(text);
}

/* Indexes of format 1 (no identity, no manifest checksum, records without
 * their id) are refused with a message saying to rebuild. */
Test(manifest, format_1_refused_with_rebuild_advice) {
  json_t *root = sample_json();
  json_object_set_new(root, "format_major", json_integer(1));
  json_object_del(root, "index_id");
  json_object_del(root, "manifest_xxh3");
  mx_error err;
  cr_assert_eq(parse_json(root, &err), MX_ERR_VERSION, "%s", err.message);
  cr_assert(strstr(err.message, "format version 1") && strstr(err.message, "rebuild the index"),
            "%s", err.message);
  json_decref(root);
}

Test(manifest, corrupt_json) {
  mx_manifest m = sample(), back;
  char *text = formatted(&m);
  size_t n = strlen(text);
  mx_error err;
  for (size_t cut = 0; cut < n - 2; cut += 7) /* every truncation is broken JSON */
    cr_assert_eq(mx_manifest_parse(text, cut, &back, &err), MX_ERR_FORMAT, "cut at %zu", cut);
  free(text);
  const char *bad[] = {"",
                       "{",
                       "[]",
                       "42",
                       "null",
                       "{\"kind\": \"metaidx-index\",}",
                       "{\"dim\": 1, \"dim\": 2}",
                       "\xff\xfe{}",
                       "{\"kind\": \"metaidx-index\"}"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(mx_manifest_parse(bad[i], strlen(bad[i]), &back, &err), MX_ERR_FORMAT, "%zu", i);
    cr_assert_neq(err.message[0], 0);
  }
  cr_assert_eq(mx_manifest_parse(NULL, 0, &back, &err), MX_ERR_INVALID_ARGUMENT);
}

Test(manifest, format_refuses_what_parse_would_refuse) {
  mx_manifest m = sample();
  char *text = NULL;
  mx_error err;
  m.seed = 1ull << 60;
  cr_assert_eq(mx_manifest_format(&m, &text, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_not_null(strstr(err.message, "'seed'"), "%s", err.message);
  m = sample();
  m.budgets[0].r_c = 99;
  cr_assert_eq(mx_manifest_format(&m, &text, &err), MX_ERR_INVALID_ARGUMENT);
  m = sample();
  memset(m.created, 'x', sizeof m.created); /* unterminated */
  cr_assert_eq(mx_manifest_format(&m, &text, &err), MX_ERR_INVALID_ARGUMENT);
  m = sample();
  m.format_major = MX_FORMAT_MAJOR + 1;
  cr_assert_eq(mx_manifest_format(&m, &text, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_null(text);
}

Test(manifest, write_read_atomic) {
  char *dir = mx_test_tmpdir("manifest_write");
  mx_manifest m = sample(), back;
  mx_error err;
  cr_assert_eq(mx_manifest_read(dir, &back, &err), MX_ERR_NOT_FOUND);
  cr_assert_eq(mx_manifest_write(dir, &m, &err), MX_OK, "%s", err.message);
  m.n_docs = 7; /* overwrite */
  cr_assert_eq(mx_manifest_write(dir, &m, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_manifest_read(dir, &back, &err), MX_OK, "%s", err.message);
  assert_same(&m, &back);
  DIR *d = opendir(dir);
  cr_assert_not_null(d);
  struct dirent *e;
  int files = 0;
  while ((e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    files++;
    cr_assert_str_eq(e->d_name, MX_MANIFEST_NAME, "left behind: %s", e->d_name);
  }
  closedir(d);
  cr_assert_eq(files, 1);
  /* a failed write (invalid manifest) leaves the old file */
  m.dim = 0;
  cr_assert_eq(mx_manifest_write(dir, &m, &err), MX_ERR_INVALID_ARGUMENT);
  cr_assert_eq(mx_manifest_read(dir, &back, &err), MX_OK);
  cr_assert_eq(back.n_docs, 7);
  /* a broken file: error names the path */
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, MX_MANIFEST_NAME);
  cr_assert_eq(mx_write_file_atomic(path, "{\"kind\": 1}", 11, &err), MX_OK);
  cr_assert_eq(mx_manifest_read(dir, &back, &err), MX_ERR_FORMAT);
  cr_assert_not_null(strstr(err.message, path), "%s", err.message);
  cr_assert_not_null(strstr(err.message, "'kind'"), "%s", err.message);
  mx_test_tmpdir_remove(dir);
}
