/* test_dirsafety.c: the engine deletes only what it created. User files
 * beside and inside an index, in a leftover build directory, at the lock's
 * path, or appearing at the target while a build runs, survive every
 * build, overwrite, cleanup and failure (issue 12, items 2 and 3). */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "helpers.h"
#include "manifest.h"
#include "metaidx.h"

#define DIM 16
#define R 4

static float *random_docs(uint64_t seed, size_t n) {
  mx_test_rng rng = {seed};
  float *v = malloc(n * R * DIM * sizeof(float));
  cr_assert_not_null(v);
  mx_test_random_unit_vectors(&rng, v, n * R, DIM);
  return v;
}

static char *path_in(const char *dir, const char *name) {
  char *p = malloc(PATH_MAX);
  snprintf(p, PATH_MAX, "%s/%s", dir, name);
  return p;
}

static void put_file(const char *dir, const char *name, const char *text) {
  char *p = path_in(dir, name);
  mx_error err;
  cr_assert_eq(mx_write_file_atomic(p, text, strlen(text), &err), MX_OK, "%s", err.message);
  free(p);
}

/* The user's file is still there with its content. */
static void assert_survived(const char *dir, const char *name, const char *text) {
  char *p = path_in(dir, name);
  char *got = NULL;
  size_t len;
  mx_error err;
  cr_assert_eq(mx_read_file(p, 1 << 20, &got, &len, &err), MX_OK, "%s was deleted: %s", p,
               err.message);
  cr_assert_str_eq(got, text, "%s was changed", p);
  free(got);
  free(p);
}

static mx_status build_n(const char *dir, uint64_t seed, size_t n, int overwrite, mx_error *err) {
  float *docs = random_docs(seed, n);
  mx_build_options o;
  mx_build_options_init(&o);
  o.overwrite = overwrite;
  mx_builder *b = NULL;
  mx_status s = mx_builder_open(dir, DIM, R, &o, &b, err);
  if (s == MX_OK)
    s = mx_builder_add(b, n, NULL, NULL, NULL, docs, MX_DTYPE_F32, err);
  if (s == MX_OK) {
    s = mx_builder_finish(b, err);
    b = NULL;
  }
  mx_builder_abort(b);
  free(docs);
  return s;
}

static uint64_t n_docs_of(const char *dir) {
  mx_manifest m;
  mx_error err;
  cr_assert_eq(mx_manifest_read(dir, &m, &err), MX_OK, "%s", err.message);
  return m.n_docs;
}

Test(dirsafety, files_beside_an_index_survive_builds_and_overwrites) {
  char *tmp = mx_test_tmpdir("dirsafety_beside");
  char *ix = path_in(tmp, "ix");
  put_file(tmp, "ix.txt", "beside");
  put_file(tmp, "ix.building.txt", "beside too");
  mx_error err;
  cr_assert_eq(build_n(ix, 1, 30, 0, &err), MX_OK, "%s", err.message);
  cr_assert_eq(build_n(ix, 2, 20, 1, &err), MX_OK, "%s", err.message);
  cr_assert_eq(n_docs_of(ix), 20);
  assert_survived(tmp, "ix.txt", "beside");
  assert_survived(tmp, "ix.building.txt", "beside too");
  free(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(dirsafety, overwrite_refuses_an_index_holding_a_user_file) {
  char *tmp = mx_test_tmpdir("dirsafety_inside");
  char *ix = path_in(tmp, "ix");
  mx_error err;
  cr_assert_eq(build_n(ix, 1, 30, 0, &err), MX_OK, "%s", err.message);
  /* e.g. `build --overwrite --out idx idx/docs.npy`: its own input inside */
  put_file(ix, "docs.npy", "input");
  char *store = path_in(ix, "store");
  put_file(store, "notes.txt", "deep");
  cr_assert_eq(build_n(ix, 2, 20, 1, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "refusing to replace") && strstr(err.message, "did not create"),
            "%s", err.message);
  assert_survived(ix, "docs.npy", "input");
  assert_survived(store, "notes.txt", "deep");
  cr_assert_eq(n_docs_of(ix), 30, "the old index is untouched");
  char *building = path_in(tmp, "ix.building");
  cr_assert_not(mx_path_exists(building));
  free(building);
  free(store);
  free(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(dirsafety, a_foreign_build_directory_is_never_removed) {
  char *tmp = mx_test_tmpdir("dirsafety_stale");
  char *ix = path_in(tmp, "ix"), *building = path_in(tmp, "ix.building");
  mx_error err;
  /* not marked: someone's directory that happens to have the name */
  cr_assert_eq(mx_mkdir_p(building, &err), MX_OK);
  put_file(building, "thesis.txt", "years of work");
  cr_assert_eq(build_n(ix, 1, 30, 0, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "not a build directory of metaidx"), "%s", err.message);
  assert_survived(building, "thesis.txt", "years of work");
  cr_assert_not(mx_path_exists(ix));
  /* marked (a killed build), but with a user file inside: left whole */
  put_file(building, MX_OWNER_MARKER, "x");
  char *store = path_in(building, "store");
  cr_assert_eq(mx_mkdir_p(store, &err), MX_OK);
  put_file(store, "data.mdb", "engine-like");
  cr_assert_eq(build_n(ix, 1, 30, 0, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "thesis.txt") && strstr(err.message, "did not create"), "%s",
            err.message);
  assert_survived(building, "thesis.txt", "years of work");
  assert_survived(store, "data.mdb", "engine-like");
  /* only the engine's files: a killed build, cleaned up and rebuilt */
  char *thesis = path_in(building, "thesis.txt");
  cr_assert_eq(unlink(thesis), 0);
  put_file(building, "manifest.json.tmp.123", "{");
  cr_assert_eq(build_n(ix, 1, 30, 0, &err), MX_OK, "%s", err.message);
  cr_assert_eq(n_docs_of(ix), 30);
  cr_assert_not(mx_path_exists(building));
  free(thesis);
  free(store);
  free(building);
  free(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(dirsafety, a_user_file_at_the_lock_path_is_kept) {
  char *tmp = mx_test_tmpdir("dirsafety_lock");
  char *ix = path_in(tmp, "ix");
  put_file(tmp, "ix.building.lock", "my lock notes");
  mx_error err;
  cr_assert_eq(build_n(ix, 1, 30, 0, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "not a metaidx lock file"), "%s", err.message);
  assert_survived(tmp, "ix.building.lock", "my lock notes");
  free(ix);
  mx_test_tmpdir_remove(tmp);
}

/* A target that appears while the build runs (after open, before finish). */
static mx_status build_racing_mkdir(const char *ix, int overwrite, mx_error *err) {
  float *docs = random_docs(3, 30);
  mx_build_options o;
  mx_build_options_init(&o);
  o.overwrite = overwrite;
  mx_builder *b = NULL;
  cr_assert_eq(mx_builder_open(ix, DIM, R, &o, &b, err), MX_OK, "%s", err->message);
  cr_assert_eq(mx_builder_add(b, 30, NULL, NULL, NULL, docs, MX_DTYPE_F32, err), MX_OK);
  mx_error e2;
  cr_assert_eq(mx_mkdir_p(ix, &e2), MX_OK);
  put_file(ix, "thesis.txt", "appeared");
  free(docs);
  return mx_builder_finish(b, err);
}

Test(dirsafety, a_directory_appearing_at_the_target_survives) {
  char *tmp = mx_test_tmpdir("dirsafety_race");
  char *ix = path_in(tmp, "race"), *building = path_in(tmp, "race.building");
  mx_error err;
  cr_assert_eq(build_racing_mkdir(ix, 0, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "appeared while this build ran"), "%s", err.message);
  assert_survived(ix, "thesis.txt", "appeared");
  cr_assert_not(mx_path_exists(building), "the discarded build is cleaned up");
  char *again = path_in(tmp, "race2");
  cr_assert_eq(build_racing_mkdir(again, 1, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "not a metaidx index"), "%s", err.message);
  assert_survived(again, "thesis.txt", "appeared");
  free(again);
  free(building);
  free(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(dirsafety, a_user_file_dropped_into_a_failing_build_survives) {
  char *tmp = mx_test_tmpdir("dirsafety_fail");
  char *ix = path_in(tmp, "ix"), *building = path_in(tmp, "ix.building");
  float *docs = random_docs(4, 20);
  docs[5] = 7.0f; /* not unit norm: the add fails */
  mx_build_options o;
  mx_build_options_init(&o);
  mx_builder *b = NULL;
  mx_error err;
  cr_assert_eq(mx_builder_open(ix, DIM, R, &o, &b, &err), MX_OK, "%s", err.message);
  put_file(building, "keep.txt", "mine");
  cr_assert_eq(mx_builder_add(b, 20, NULL, NULL, NULL, docs, MX_DTYPE_F32, &err),
               MX_ERR_BAD_INPUT);
  mx_builder_abort(b);
  assert_survived(building, "keep.txt", "mine");
  char *store = path_in(building, "store");
  cr_assert_not(mx_path_exists(store), "the engine's own files are removed");
  cr_assert_not(mx_path_exists(ix));
  free(store);
  free(docs);
  free(building);
  free(ix);
  mx_test_tmpdir_remove(tmp);
}

Test(dirsafety, owned_tree_check_rejects_links_and_strangers) {
  char *tmp = mx_test_tmpdir("dirsafety_owned");
  char *d = path_in(tmp, "d");
  mx_error err;
  cr_assert_eq(mx_owned_dir_create(d, &err), MX_OK, "%s", err.message);
  cr_assert_eq(mx_owned_dir_create(d, &err), MX_ERR_EXISTS);
  cr_assert(mx_owned_dir_marked(d));
  static const mx_owned_entry layout[] = {{"a", 0}, {"sub", 1}, {"sub/*.x", 0}, {NULL, 0}};
  put_file(d, "a", "1");
  char *sub = path_in(d, "sub");
  cr_assert_eq(mx_mkdir_p(sub, &err), MX_OK);
  put_file(sub, "f.x", "2");
  cr_assert_eq(mx_owned_tree_check(d, layout, &err), MX_OK, "%s", err.message);
  /* a symbolic link named like an owned file is not owned */
  char *link = path_in(sub, "g.x"), *target = path_in(tmp, "target.txt");
  put_file(tmp, "target.txt", "outside");
  cr_assert_eq(symlink(target, link), 0);
  cr_assert_eq(mx_owned_tree_check(d, layout, &err), MX_ERR_EXISTS);
  cr_assert(strstr(err.message, "sub/g.x"), "%s", err.message);
  cr_assert_eq(mx_owned_tree_remove(d, layout, &err), MX_ERR_EXISTS);
  cr_assert(mx_path_exists(link), "the link is left");
  assert_survived(tmp, "target.txt", "outside");
  char *a = path_in(d, "a");
  cr_assert_not(mx_path_exists(a), "owned files were removed");
  free(a);
  cr_assert(mx_owned_dir_marked(d), "the marker stays while anything foreign is left");
  cr_assert_eq(unlink(link), 0);
  cr_assert_eq(mx_owned_tree_remove(d, layout, &err), MX_OK, "%s", err.message);
  cr_assert_not(mx_path_exists(d));
  free(link);
  free(target);
  free(sub);
  free(d);
  mx_test_tmpdir_remove(tmp);
}
