/* cmd_eval.c: `metaidx eval`, retrieval quality of a TREC run: recall@k
 * against a truth run (e.g. from `metaidx exact`) and MRR@k / nDCG@k
 * against TREC qrels, via common/metrics.h. Queries of the truth or qrels
 * that the run lacks count as 0. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "fsutil.h"
#include "metrics.h"

/* One line of a run ("qid Q0 docid rank score tag") or qrels
 * ("qid iter docid rel"). */
typedef struct entry {
  char *qid, *doc;
  long long rank; /* run: rank; qrels: relevance */
  double score;
  uint64_t line;
  uint64_t doc_id; /* docid interned as an integer */
} entry;

typedef struct group {
  const char *qid;
  size_t start, count;
} group;

typedef struct table {
  const char *path;
  entry *e;
  size_t n, cap;
  group *g;
  size_t n_groups;
} table;

static void table_free(table *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->e[i].qid);
    free(t->e[i].doc);
  }
  free(t->e);
  free(t->g);
}

static int parse_ll(const char *s, long long *out) {
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || errno)
    return -1;
  *out = v;
  return 0;
}

/* Reads a run (qrels == 0) or a qrels file, naming file and line in errors. */
static int table_read(table *t, int qrels) {
  mx_error err = {0};
  int fd;
  if (mx_open_regular(t->path, &fd, &err) != MX_OK)
    return cli_fail_err("eval", &err);
  FILE *f = fdopen(fd, "r");
  if (!f) {
    close(fd);
    return cli_fail("eval", "%s: cannot open: %s", t->path, strerror(errno));
  }
  char *line = NULL;
  size_t cap = 0;
  uint64_t lineno = 0;
  int rc = 0;
  const char *want = qrels ? "4 fields 'qid iter docid relevance'"
                           : "6 fields 'qid Q0 docid rank score tag'";
  int n_want = qrels ? 4 : 6;
  while (!rc && getline(&line, &cap, f) >= 0) {
    lineno++;
    char *fields[7];
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
      if (n < 7)
        fields[n] = tok;
      n++;
    }
    if (n == 0)
      continue; /* blank line */
    if (n != n_want) {
      rc = cli_fail("eval", "%s:%llu: expected %s, found %d field%s", t->path,
                    (unsigned long long)lineno, want, n, n == 1 ? "" : "s");
      break;
    }
    entry e = {.line = lineno};
    if (parse_ll(fields[3], &e.rank) != 0) {
      rc = cli_fail("eval", "%s:%llu: %s '%s' is not an integer", t->path,
                    (unsigned long long)lineno, qrels ? "relevance" : "rank", fields[3]);
      break;
    }
    if (!qrels) {
      char *end;
      e.score = strtod(fields[4], &end);
      if (*end || !isfinite(e.score)) {
        rc = cli_fail("eval", "%s:%llu: score '%s' is not a finite number", t->path,
                      (unsigned long long)lineno, fields[4]);
        break;
      }
    }
    if (t->n == t->cap) {
      size_t nc = t->cap ? 2 * t->cap : 1024;
      entry *ne = realloc(t->e, nc * sizeof *ne);
      if (!ne) {
        rc = cli_fail("eval", "%s: out of memory", t->path);
        break;
      }
      t->e = ne;
      t->cap = nc;
    }
    e.qid = strdup(fields[0]);
    e.doc = strdup(fields[2]);
    t->e[t->n++] = e;
    if (!e.qid || !e.doc)
      rc = cli_fail("eval", "%s: out of memory", t->path);
  }
  if (!rc && ferror(f))
    rc = cli_fail("eval", "%s: read error: %s", t->path, strerror(errno));
  free(line);
  fclose(f);
  return rc;
}

/* Run order: by qid, then rank, then score (descending), then file order. */
static int cmp_entry(const void *a, const void *b) {
  const entry *x = a, *y = b;
  int c = strcmp(x->qid, y->qid);
  if (c)
    return c;
  if (x->rank != y->rank)
    return x->rank < y->rank ? -1 : 1;
  if (x->score != y->score)
    return x->score > y->score ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

static int table_group(table *t) {
  if (t->n) /* qsort's array must not be NULL, even empty */
    qsort(t->e, t->n, sizeof *t->e, cmp_entry);
  t->g = malloc((t->n ? t->n : 1) * sizeof *t->g);
  if (!t->g)
    return cli_fail("eval", "out of memory");
  for (size_t i = 0; i < t->n; i++) {
    if (i == 0 || strcmp(t->e[i].qid, t->e[i - 1].qid) != 0)
      t->g[t->n_groups++] = (group){t->e[i].qid, i, 0};
    t->g[t->n_groups - 1].count++;
  }
  return 0;
}

static const group *find_group(const table *t, const char *qid) {
  size_t lo = 0, hi = t->n_groups;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(t->g[mid].qid, qid);
    if (c == 0)
      return &t->g[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

typedef struct doc_ref {
  const char *s;
  uint64_t *dst;
} doc_ref;

static int cmp_doc_ref(const void *a, const void *b) {
  return strcmp(((const doc_ref *)a)->s, ((const doc_ref *)b)->s);
}

/* Gives every distinct docid string, over all tables, one integer. */
static int intern_docs(table **ts, size_t n_tables) {
  size_t total = 0;
  for (size_t i = 0; i < n_tables; i++)
    total += ts[i]->n;
  doc_ref *refs = malloc((total ? total : 1) * sizeof *refs);
  if (!refs)
    return cli_fail("eval", "out of memory");
  size_t n = 0;
  for (size_t i = 0; i < n_tables; i++)
    for (size_t j = 0; j < ts[i]->n; j++)
      refs[n++] = (doc_ref){ts[i]->e[j].doc, &ts[i]->e[j].doc_id};
  if (n)
    qsort(refs, n, sizeof *refs, cmp_doc_ref);
  uint64_t id = 0;
  for (size_t i = 0; i < n; i++) {
    if (i > 0 && strcmp(refs[i].s, refs[i - 1].s) != 0)
      id++;
    *refs[i].dst = id;
  }
  free(refs);
  return 0;
}

/* The doc ids of a group, in order; relevant_only keeps qrels with rel > 0. */
static size_t group_ids(const table *t, const group *g, int relevant_only, uint64_t *out) {
  size_t n = 0;
  for (size_t i = 0; i < g->count; i++) {
    const entry *e = &t->e[g->start + i];
    if (!relevant_only || e->rank > 0)
      out[n++] = e->doc_id;
  }
  return n;
}

int cmd_eval(int argc, char **argv) {
  const char *run_path = NULL, *truth_path = NULL, *qrels_path = NULL;
  uint32_t k = 10;
  cli_opt opts[] = {
      {"run", CLI_STRING, &run_path, "RUN", "TREC run to score (qid Q0 docid rank score tag)", 1,
       0},
      {"truth", CLI_STRING, &truth_path, "RUN",
       "ground-truth TREC run (e.g. from metaidx exact): report recall@k", 0, 0},
      {"qrels", CLI_STRING, &qrels_path, "FILE",
       "TREC qrels (qid 0 docid rel; rel > 0 is relevant): report MRR@k and nDCG@k", 0, 0},
      {"k", CLI_U32, &k, "K", "cut-off (default 10)", 0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"eval", "",
                     "Scores a run and prints one JSON object. Needs --truth, --qrels or both; "
                     "queries of the\ntruth or qrels missing from the run count as 0; queries "
                     "only in the run are ignored.",
                     opts, 0, 0};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  if (!truth_path && !qrels_path)
    return cli_usage_error("eval", "give --truth RUN or --qrels FILE (or both)");
  if (k == 0)
    return cli_usage_error("eval", "--k must be at least 1");

  table run = {.path = run_path}, truth = {.path = truth_path}, qrels = {.path = qrels_path};
  table *all[3] = {&run, NULL, NULL};
  size_t n_tables = 1;
  rc = table_read(&run, 0);
  if (!rc && truth_path) {
    rc = table_read(&truth, 0);
    all[n_tables++] = &truth;
  }
  if (!rc && qrels_path) {
    rc = table_read(&qrels, 1);
    all[n_tables++] = &qrels;
  }
  for (size_t i = 0; i < n_tables && !rc; i++)
    rc = table_group(all[i]);
  if (!rc)
    rc = intern_docs(all, n_tables);

  size_t most = run.n > truth.n ? run.n : truth.n;
  most = most > qrels.n ? most : qrels.n;
  uint64_t *a = malloc((most ? most : 1) * sizeof *a), *b = malloc((most ? most : 1) * sizeof *b);
  if (!rc && (!a || !b))
    rc = cli_fail("eval", "out of memory");
  json_t *o = json_object();
  char key[64];
  if (!rc) {
    json_object_set_new(o, "run", json_string(run_path));
    json_object_set_new(o, "k", json_integer(k));
    json_object_set_new(o, "run_queries", json_integer((json_int_t)run.n_groups));
  }
  if (!rc && truth_path) {
    double sum = 0;
    size_t missing = 0;
    for (size_t i = 0; i < truth.n_groups; i++) {
      size_t nt = group_ids(&truth, &truth.g[i], 0, b);
      const group *rg = find_group(&run, truth.g[i].qid);
      if (!rg) {
        missing++;
        continue;
      }
      size_t nr = group_ids(&run, rg, 0, a);
      double r = mx_recall_at_k(a, nr, b, nt, k);
      if (!isnan(r))
        sum += r;
    }
    double n = (double)truth.n_groups;
    snprintf(key, sizeof key, "recall@%u", k);
    json_object_set_new(o, key, json_real(n > 0 ? sum / n : 0));
    json_object_set_new(o, "truth_queries", json_integer((json_int_t)truth.n_groups));
    json_object_set_new(o, "truth_missing", json_integer((json_int_t)missing));
  }
  if (!rc && qrels_path) {
    double mrr = 0, ndcg = 0;
    size_t judged = 0, missing = 0;
    for (size_t i = 0; i < qrels.n_groups; i++) {
      size_t nrel = group_ids(&qrels, &qrels.g[i], 1, b);
      if (nrel == 0)
        continue; /* no relevant document: not counted, as trec_eval */
      judged++;
      const group *rg = find_group(&run, qrels.g[i].qid);
      if (!rg) {
        missing++;
        continue;
      }
      size_t nr = group_ids(&run, rg, 0, a);
      mrr += mx_mrr_at_k(a, nr, b, nrel, k);
      ndcg += mx_ndcg_at_k(a, nr, b, nrel, k);
    }
    double n = (double)judged;
    snprintf(key, sizeof key, "mrr@%u", k);
    json_object_set_new(o, key, json_real(n > 0 ? mrr / n : 0));
    snprintf(key, sizeof key, "ndcg@%u", k);
    json_object_set_new(o, key, json_real(n > 0 ? ndcg / n : 0));
    json_object_set_new(o, "qrels_queries", json_integer((json_int_t)judged));
    json_object_set_new(o, "qrels_missing", json_integer((json_int_t)missing));
  }
  if (!rc) {
    rc = cli_print_json("eval", stdout, o,
                        JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
    if (!rc && fflush(stdout) != 0)
      rc = cli_fail("eval", "writing standard output: %s", strerror(errno));
  }
  json_decref(o);
  free(a);
  free(b);
  table_free(&run);
  table_free(&truth);
  table_free(&qrels);
  return rc;
}
