/* test_damage.c: the file-damage matrix of issue 12 (items 4, 9, 10). Small
 * indexes built by the tool get their files damaged as a disk, a careless
 * copy or a user would: store/, coarse.faiss and manifest.json swapped
 * between two indexes of the same size; data.mdb truncated at every page
 * boundary; each page of data.mdb zeroed in turn. Every command (info,
 * verify, search, exact) must then exit with a failure status and a
 * message, not die of a signal, and never print a wrong answer with exit 0:
 * a command that succeeds must print exactly what it prints for the
 * undamaged index. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "fsutil.h"
#include "helpers.h"

#define N 24
#define R 16
#define D 128 /* f16 records of 4144 bytes: each spans overflow pages */
#define N_PAGES_DOCS 6 /* the page matrix's index: about 20 pages */
#define PAGE 4096

static const char *const parts[] = {"manifest.json", "coarse.faiss", "store/data.mdb"};

static void write_bytes(const char *path, const void *data, size_t len) {
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(data, 1, len, f), len, "%s", path);
  cr_assert_eq(fclose(f), 0);
}

static unsigned char *read_bytes(const char *path, size_t *len) {
  char *buf = NULL;
  mx_error err;
  cr_assert_eq(mx_read_file(path, (size_t)64 << 20, &buf, len, &err), MX_OK, "%s", err.message);
  return (unsigned char *)buf;
}

/* dst/<part> = src/<part>, for each part (dst's store/ created). */
static void copy_part(const char *src, const char *dst, const char *part) {
  char from[1024], to[1024];
  snprintf(from, sizeof from, "%s/%s", src, part);
  snprintf(to, sizeof to, "%s/store", dst);
  mx_error err;
  cr_assert_eq(mx_mkdir_p(to, &err), MX_OK, "%s", err.message);
  snprintf(to, sizeof to, "%s/%s", dst, part);
  size_t len;
  unsigned char *data = read_bytes(from, &len);
  write_bytes(to, data, len);
  free(data);
}

/* A fresh copy at dst: each part from a or, where from_b[i], from b. */
static void assemble(const char *a, const char *b, const int from_b[3], const char *dst) {
  mx_error err;
  cr_assert_eq(mx_remove_tree(dst, &err), MX_OK, "%s", err.message);
  for (int i = 0; i < 3; i++)
    copy_part(from_b[i] ? b : a, dst, parts[i]);
}

typedef struct baseline {
  char *search, *exact;
} baseline;

enum { CMD_INFO, CMD_VERIFY, CMD_SEARCH, CMD_EXACT, N_CMD };
static const char *const cmd_names[N_CMD] = {"info", "verify", "search", "exact"};

static result run_cmd(const char *tmp, int cmd, const char *idx, const char *queries,
                      const char *n) {
  switch (cmd) {
  case CMD_INFO:
    return RUN(tmp, "info", idx);
  case CMD_VERIFY:
    return RUN(tmp, "verify", idx);
  case CMD_SEARCH:
    return RUN(tmp, "search", "--index", idx, "--queries", queries, "--k", n, "--candidates", n,
               "--threads", "1");
  default:
    return RUN(tmp, "exact", "--index", idx, "--queries", queries, "--k", n, "--threads", "1");
  }
}

/* What one command did with a damaged index: 1 failed cleanly, 0 gave the
 * undamaged answer; a signal, a failure without a message or a different
 * answer with exit 0 fails the test. */
static int judge(const char *what, int cmd, result *r, const baseline *base) {
  cr_assert(r->status >= 0 && r->status < 128, "%s: %s died of signal %d\nstderr: %s", what,
            cmd_names[cmd], r->status - 128, r->err);
  if (r->status != 0) {
    cr_assert_eq(r->status, 1, "%s: %s exit %d\nstderr: %s", what, cmd_names[cmd], r->status,
                 r->err);
    cr_assert(strlen(r->err) + strlen(r->out) > 0, "%s: %s failed without a message", what,
              cmd_names[cmd]);
    return 1;
  }
  if (cmd == CMD_SEARCH)
    cr_assert_str_eq(r->out, base->search, "%s: search exit 0 with another answer", what);
  if (cmd == CMD_EXACT)
    cr_assert_str_eq(r->out, base->exact, "%s: exact exit 0 with another answer", what);
  return 0;
}

typedef struct fixture {
  char *tmp, *a, *b, *queries;
  char n[16];
  baseline base;
} fixture;

static void fixture_make(fixture *f, const char *name, uint64_t n, uint32_t rc, uint32_t d) {
  f->tmp = mx_test_tmpdir(name);
  f->a = path_in(f->tmp, "a");
  f->b = path_in(f->tmp, "b");
  f->queries = path_in(f->tmp, "q.npy");
  snprintf(f->n, sizeof f->n, "%llu", (unsigned long long)n);
  char *da = path_in(f->tmp, "a.npy"), *db = path_in(f->tmp, "b.npy");
  write_docs(da, n, rc, d, 1);
  write_docs(db, n, rc, d, 2);
  write_docs(f->queries, 2, rc < 4 ? rc : 4, d, 3);
  RUN_OK(f->tmp, "build", "--out", f->a, "--seed", "7", da);
  RUN_OK(f->tmp, "build", "--out", f->b, "--seed", "7", db);
  result r = run_cmd(f->tmp, CMD_SEARCH, f->a, f->queries, f->n);
  cr_assert_eq(r.status, 0, "%s", r.err);
  f->base.search = r.out;
  r.out = NULL;
  result_free(&r);
  r = run_cmd(f->tmp, CMD_EXACT, f->a, f->queries, f->n);
  cr_assert_eq(r.status, 0, "%s", r.err);
  f->base.exact = r.out;
  r.out = NULL;
  result_free(&r);
}

static void fixture_free(fixture *f) {
  free(f->base.search);
  free(f->base.exact);
  mx_test_tmpdir_remove(f->tmp);
  paths_free();
}

/* Item 4: the parts of two indexes with the same N, d and R, mixed in every
 * way. Each mix is refused by every command, with a message saying which
 * part does not belong (it used to open, verify with 0 problems and search
 * with recall 0.045). */
Test(damage, parts_swapped_between_indexes_are_refused, .timeout = 600) {
  fixture f;
  fixture_make(&f, "damage_swap", N, R, D);
  char *mix = path_in(f.tmp, "mix");
  static const struct {
    int from_b[3];
    const char *needle; /* in the open error */
  } mixes[] = {
      {{0, 0, 1}, "another index"}, /* B's store */
      {{0, 1, 0}, "coarse.faiss"},  /* B's coarse index */
      {{1, 0, 0}, "another index"}, /* B's manifest */
      {{1, 1, 0}, "another index"}, /* A's store under B's manifest and coarse */
      {{0, 1, 1}, "another index"}, /* A's manifest over B's coarse and store */
  };
  for (size_t m = 0; m < sizeof mixes / sizeof mixes[0]; m++) {
    assemble(f.a, f.b, mixes[m].from_b, mix);
    char what[64];
    snprintf(what, sizeof what, "mix %zu", m);
    for (int c = 0; c < N_CMD; c++) {
      result r = run_cmd(f.tmp, c, mix, f.queries, f.n);
      cr_assert_eq(judge(what, c, &r, &f.base), 1, "%s: %s succeeded on mixed parts: %s", what,
                   cmd_names[c], r.out);
      const char *text = c == CMD_VERIFY ? r.out : r.err;
      cr_assert(strstr(text, mixes[m].needle), "%s: %s: '%s' lacks '%s'", what, cmd_names[c], text,
                mixes[m].needle);
      result_free(&r);
    }
  }
  fixture_free(&f);
}

/* The damaged copy at f->tmp/dmg: a's files with data.mdb replaced by
 * `data` (len bytes). */
static char *damaged_copy(fixture *f, const unsigned char *data, size_t len) {
  char *dmg = path_in(f->tmp, "dmg");
  static const int from_a[3] = {0, 0, 0};
  assemble(f->a, f->b, from_a, dmg);
  char path[1024];
  snprintf(path, sizeof path, "%s/store/data.mdb", dmg);
  write_bytes(path, data, len);
  return dmg;
}

typedef struct tally {
  int cases, refused[N_CMD];
} tally;

/* Every command on the damaged copy, judged. verify must fail whenever
 * search or exact did: what a search trips over, verify finds. */
static void run_all(fixture *f, const char *what, tally *t) {
  char *dmg = path_in(f->tmp, "dmg");
  int failed[N_CMD];
  for (int c = 0; c < N_CMD; c++) {
    result r = run_cmd(f->tmp, c, dmg, f->queries, f->n);
    failed[c] = judge(what, c, &r, &f->base);
    t->refused[c] += failed[c];
    result_free(&r);
  }
  cr_assert(failed[CMD_VERIFY] || (!failed[CMD_SEARCH] && !failed[CMD_EXACT]),
            "%s: verify passed an index that search (%d) or exact (%d) refused", what,
            failed[CMD_SEARCH], failed[CMD_EXACT]);
  t->cases++;
}

static void print_tally(const char *what, const tally *t) {
  fprintf(stderr, "%s: %d cases; refused by info %d, verify %d, search %d, exact %d\n", what,
          t->cases, t->refused[CMD_INFO], t->refused[CMD_VERIFY], t->refused[CMD_SEARCH],
          t->refused[CMD_EXACT]);
}

/* Items 9 and the matrix: data.mdb cut at every page boundary. A file
 * shorter than its meta page says is refused by every command before any
 * page is touched (it used to die of SIGBUS, verify and info included). */
Test(damage, truncated_at_every_page_boundary, .timeout = 600) {
  fixture f;
  fixture_make(&f, "damage_trunc", N_PAGES_DOCS, R, D);
  char path[1024];
  snprintf(path, sizeof path, "%s/store/data.mdb", f.a);
  size_t len;
  unsigned char *data = read_bytes(path, &len);
  cr_assert_gt(len, 8 * PAGE, "%zu bytes", len);
  tally t = {0};
  for (size_t cut = 0; cut < len; cut += PAGE) {
    damaged_copy(&f, data, cut);
    char what[64];
    snprintf(what, sizeof what, "cut at %zu of %zu", cut, len);
    run_all(&f, what, &t);
  }
  /* half a page short, too */
  damaged_copy(&f, data, len - PAGE / 2);
  run_all(&f, "cut half a page short", &t);
  print_tally("truncation", &t);
  for (int c = 0; c < N_CMD; c++)
    cr_assert_eq(t.refused[c], t.cases, "%s accepted a truncated store", cmd_names[c]);
  free(data);
  fixture_free(&f);
}

/* Items 10 and the matrix: each page of data.mdb zeroed in turn, then
 * filled with random bytes. Nothing dies of a signal or LMDB's assertion;
 * a command that succeeds prints the undamaged answer; verify finds every
 * damage a search or exact search trips over. */
static void page_matrix(const char *name, int random_fill, uint64_t n, uint32_t r, uint32_t d,
                        int min_refused) {
  fixture f;
  fixture_make(&f, name, n, r, d);
  char path[1024];
  snprintf(path, sizeof path, "%s/store/data.mdb", f.a);
  size_t len;
  unsigned char *data = read_bytes(path, &len);
  unsigned char *copy = malloc(len);
  cr_assert_not_null(copy);
  mx_test_rng rng = {random_fill ? 99 : 98};
  tally t = {0};
  for (size_t page = 0; page * PAGE < len; page++) {
    memcpy(copy, data, len);
    for (size_t i = page * PAGE; i < (page + 1) * PAGE && i < len; i++)
      copy[i] = random_fill ? (unsigned char)mx_test_rng_next(&rng) : 0;
    damaged_copy(&f, copy, len);
    char what[64];
    snprintf(what, sizeof what, "page %zu %s", page, random_fill ? "random" : "zeroed");
    run_all(&f, what, &t);
  }
  print_tally(name, &t);
  cr_assert_geq(t.refused[CMD_VERIFY], min_refused, "verify found too little");
  free(copy);
  free(data);
  fixture_free(&f);
}

/* Records of two overflow pages each: the meta pages and every record's
 * pages are refused, at the least. */
Test(damage, every_page_zeroed, .timeout = 600) {
  page_matrix("damage_zero", 0, N_PAGES_DOCS, R, D, 2 * N_PAGES_DOCS + 2);
}
Test(damage, every_page_random, .timeout = 600) {
  page_matrix("damage_random", 1, N_PAGES_DOCS, R, D, 2 * N_PAGES_DOCS + 2);
}
/* Small records inline in the leaves of a tree of several leaf pages: a
 * cursor stepping from one leaf onto a damaged sibling tripped LMDB's
 * assertion IS_LEAF(mp) and verify aborted (item 10). */
Test(damage, every_page_zeroed_many_leaves, .timeout = 600) {
  page_matrix("damage_zero_leaves", 0, 300, 2, 8, 8);
}
Test(damage, every_page_random_many_leaves, .timeout = 600) {
  page_matrix("damage_random_leaves", 1, 300, 2, 8, 8);
}

/* Item 11: the input .npy truncated while the build reads it: once inside
 * a page (the tail of that page then reads as zeros, with no signal) and
 * once at a page boundary (the next page read raised SIGBUS), each while
 * the documents load. The build fails with a message naming the file, by
 * status, and leaves neither an index nor its build directory. A cut
 * before the build maps the file is refused at open. */
static void truncate_while_building(const char *tmp, off_t cut, int when_loading) {
  char *src = path_in(tmp, "src.npy"), *in = path_in(tmp, "in.npy");
  char *out = path_in(tmp, "o"), *building = path_in(tmp, "o.building");
  char *outp = path_in(tmp, "out.txt"), *errp = path_in(tmp, "err.txt");
  size_t len;
  unsigned char *data = read_bytes(src, &len);
  write_bytes(in, data, len);
  free(data);
  const char *args[] = {"build", "--out", out, in, NULL};
  int pid = mx_test_spawn_tool(args, outp, errp);
  if (when_loading) /* the build directory appears when loading starts */
    for (int i = 0; i < 60000 && access(building, F_OK) != 0 && kill(pid, 0) == 0; i++)
      usleep(500);
  kill(pid, SIGSTOP);
  cr_assert_eq(truncate(in, cut), 0);
  kill(pid, SIGCONT);
  int st = mx_test_wait(pid);
  char *err = slurp(errp);
  cr_assert(st < 128, "cut at %lld: the build died of signal %d: %s", (long long)cut, st - 128,
            err);
  cr_assert_eq(st, 1, "cut at %lld: exit %d: %s", (long long)cut, st, err);
  cr_assert(strstr(err, "in.npy"), "cut at %lld: %s", (long long)cut, err);
  if (when_loading)
    cr_assert(strstr(err, "shrank while it was being read"), "cut at %lld: %s", (long long)cut,
              err);
  cr_assert_neq(access(out, F_OK), 0, "cut at %lld: an index was published", (long long)cut);
  cr_assert_neq(access(building, F_OK), 0, "cut at %lld: o.building is left", (long long)cut);
  free(err);
}

Test(damage, input_truncated_while_building, .timeout = 600) {
  char *tmp = mx_test_tmpdir("damage_input");
  write_docs(path_in(tmp, "src.npy"), 3000, 16, 64, 5); /* 12 MB of f32 */
  truncate_while_building(tmp, 4000000, 1);      /* inside a page */
  truncate_while_building(tmp, 4096 * 900, 1);   /* at a page boundary */
  truncate_while_building(tmp, 4096 * 900, 0);   /* as it starts */
  mx_test_tmpdir_remove(tmp);
  paths_free();
}

/* Item 14: under an address-space limit (ulimit -v 100000) every command
 * used to print its answer or error and then hang at exit (an OpenBLAS
 * thread retrying its buffer allocation forever, exit waiting for it).
 * AddressSanitizer cannot run under such a limit, so only the release
 * build checks this. */
#if !defined(__SANITIZE_ADDRESS__)
static int run_limited(const char *tmp, const char *const *args, int *status) {
  char *tool = mx_test_build_path("tools/metaidx");
  char *outp = path_in(tmp, "lim.out"), *errp = path_in(tmp, "lim.err");
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    struct rlimit rl = {(rlim_t)100000 * 1024, (rlim_t)100000 * 1024};
    if (!freopen(outp, "w", stdout) || !freopen(errp, "w", stderr) ||
        setrlimit(RLIMIT_AS, &rl) != 0)
      _exit(99);
    const char *argv[16] = {tool};
    for (int i = 0; args[i] && i < 14; i++)
      argv[i + 1] = args[i];
    execv(tool, (char *const *)argv);
    _exit(98);
  }
  for (int i = 0; i < 600; i++) { /* 30 s */
    int ws;
    if (waitpid(pid, &ws, WNOHANG) == pid) {
      *status = WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
      free(tool);
      return 1;
    }
    usleep(50000);
  }
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  free(tool);
  return 0;
}
#endif

Test(damage, commands_exit_under_an_address_space_limit, .timeout = 300) {
#if defined(__SANITIZE_ADDRESS__)
  cr_skip_test("AddressSanitizer cannot run under ulimit -v");
#else
  fixture f;
  fixture_make(&f, "damage_ulimit", N_PAGES_DOCS, R, D);
  char *docs = path_in(f.tmp, "a.npy"), *out = path_in(f.tmp, "limited");
  const char *const info[] = {"info", f.a, NULL};
  const char *const search[] = {"search", "--index", f.a, "--queries", f.queries, NULL};
  const char *const build[] = {"build", "--out", out, docs, NULL};
  const char *const *cmds[] = {info, search, build};
  for (size_t i = 0; i < 3; i++) {
    int st = -1;
    cr_assert(run_limited(f.tmp, cmds[i], &st), "%s under ulimit -v 100000 did not exit in 30 s",
              cmds[i][0]);
    cr_assert(st == 0 || st == 1, "%s under ulimit -v 100000: exit %d", cmds[i][0], st);
  }
  fixture_free(&f);
#endif
}
