/* cmd_tune.c: `metaidx tune`, the recall calibration of an index
 * (mx_index_tune): per budget, the smallest candidate count reaching a
 * recall@k target against brute force, stored in the index and printed as
 * a table (or JSON lines). See docs/recall.md. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "queries.h"

static const char *status_word(mx_calibration_status s) {
  switch (s) {
  case MX_CALIBRATION_MET:
    return "met";
  case MX_CALIBRATION_NOT_MET:
    return "NOT MET";
  case MX_CALIBRATION_SKIPPED:
    return "skipped";
  }
  return "?";
}

static void print_table(FILE *out, const mx_calibration *c) {
  fprintf(out, "# recall@%u target %.3f on %u %s queries, %.1f s\n", c->k, (double)c->target,
          c->n_queries, c->source == MX_QUERIES_USER ? "user" : "pseudo", c->seconds);
  fprintf(out, "%-8s %-8s %8s %6s %7s %7s %8s %9s %7s  %s\n", "budget", "status", "k'",
          "nprobe", "recall", "+-se", "p50_ms", "exact_ms", "queries", "note");
  for (uint32_t i = 0; i < c->n_entries; i++) {
    const mx_calibration_entry *e = &c->entries[i];
    char budget[24];
    snprintf(budget, sizeof budget, "%ux%u", e->budget.r_q, e->budget.r_c);
    if (e->status == MX_CALIBRATION_SKIPPED) {
      fprintf(out, "%-8s %-8s %8s %6s %7s %7s %8s %9s %7s  %s\n", budget, "skipped", "-", "-",
              "-", "-", "-", "-", "-", e->note);
      continue;
    }
    fprintf(out, "%-8s %-8s %8u %6u %7.4f %7.4f %8.3f %9.3f %7u  %s\n", budget,
            status_word(e->status), e->candidates, e->nprobe, (double)e->recall,
            (double)e->recall_se, e->p50_ms, e->exact_ms, e->queries, e->note);
  }
}

static int print_json(FILE *out, const mx_calibration *c) {
  for (uint32_t i = 0; i < c->n_entries; i++) {
    const mx_calibration_entry *e = &c->entries[i];
    json_t *o = json_object();
    json_object_set_new(o, "r_q", json_integer(e->budget.r_q));
    json_object_set_new(o, "r_c", json_integer(e->budget.r_c));
    json_object_set_new(o, "status", json_string(e->status == MX_CALIBRATION_MET       ? "met"
                                                 : e->status == MX_CALIBRATION_NOT_MET ? "not_met"
                                                                                       : "skipped"));
    json_object_set_new(o, "candidates", json_integer(e->candidates));
    json_object_set_new(o, "nprobe", json_integer(e->nprobe));
    json_object_set_new(o, "recall", json_real(e->recall));
    json_object_set_new(o, "recall_se", json_real(e->recall_se));
    json_object_set_new(o, "p50_ms", json_real(e->p50_ms));
    json_object_set_new(o, "exact_ms", json_real(e->exact_ms));
    json_object_set_new(o, "queries", json_integer(e->queries));
    json_object_set_new(o, "target", json_real(c->target));
    json_object_set_new(o, "k", json_integer(c->k));
    json_object_set_new(o, "source", json_string(c->source == MX_QUERIES_USER ? "user" : "pseudo"));
    json_object_set_new(o, "note", json_string(e->note));
    int rc = cli_print_json("tune", out, o, JSON_COMPACT | JSON_REAL_PRECISION(6));
    json_decref(o);
    if (rc)
      return rc;
  }
  return 0;
}

int cmd_tune(int argc, char **argv) {
  const char *dir = NULL, *qpath = NULL, *format = "table";
  mx_tune_options to;
  mx_tune_options_init(&to);
  double recall = to.recall, noise = to.noise;
  int show = 0;
  cli_opt opts[] = {
      {"index", CLI_STRING, &dir, "DIR", "index directory", 1, 0},
      {"queries", CLI_STRING, &qpath, "Q.npy",
       "sample queries [Q, R, d] float32/float16 (default: pseudo-queries from the collection)",
       0, 0},
      {"recall", CLI_DOUBLE, &recall, "X", "target recall@k in (0, 1] (default 0.95)", 0, 0},
      {"k", CLI_U32, &to.k, "K", "the k of recall@k (default 10)", 0, 0},
      {"pseudo-queries", CLI_U32, &to.pseudo_queries, "N",
       "pseudo-queries drawn without --queries (default 100)", 0, 0},
      {"noise", CLI_DOUBLE, &noise, "X",
       "pseudo-query noise, relative to the vector norm (default 1.0)", 0, 0},
      {"seed", CLI_U64, &to.seed, "S", "pseudo-query seed (default 42)", 0, 0},
      {"max-candidates", CLI_U32, &to.max_candidates, "K",
       "largest candidate count tried (default every document)", 0, 0},
      {"time-limit", CLI_DOUBLE, &to.time_limit_s, "S",
       "stop measuring after S seconds (default no limit)", 0, 0},
      {"threads", CLI_U32, &to.threads, "T", "threads (default all cores)", 0, 0},
      {"dry-run", CLI_FLAG, &to.dry_run, NULL, "measure and print, do not store the table", 0, 0},
      {"show", CLI_FLAG, &show, NULL, "print the index's stored table, measure nothing", 0, 0},
      {"format", CLI_STRING, &format, "table|jsonl", "output format (default table)", 0, 0},
      {NULL, 0, NULL, NULL, NULL, 0, 0},
  };
  cli_command cmd = {"tune", "",
                     "Calibrates search by recall: for every budget of the index, the smallest "
                     "candidate count whose\nrecall@k against brute force reaches the target on "
                     "sample queries (the given ones, or\npseudo-queries drawn from the "
                     "collection). Stores the table in the index (calibration.jsonl),\nwhich "
                     "'metaidx search' then uses; see docs/recall.md.",
                     opts, 0, 0};
  char *pos[1];
  uint32_t n_pos;
  int rc = cli_parse(&cmd, argc, argv, pos, 1, &n_pos);
  if (rc >= 0)
    return rc;
  int jsonl = strcmp(format, "jsonl") == 0;
  if (!jsonl && strcmp(format, "table") != 0)
    return cli_usage_error("tune", "invalid value '%s' for --format: expected table or jsonl",
                           format);
  if (!(recall > 0 && recall <= 1))
    return cli_usage_error("tune", "--recall %g is outside (0, 1]", recall);
  if (!(noise >= 0))
    return cli_usage_error("tune", "--noise %g must be >= 0", noise);
  if (to.time_limit_s < 0)
    return cli_usage_error("tune", "--time-limit %g must be >= 0", to.time_limit_s);
  if (cli_check_threads("tune", to.threads))
    return CLI_EXIT_USAGE;
  to.recall = (float)recall;
  to.noise = (float)noise;

  mx_error err = {0};
  mx_calibration table;
  if (show) {
    mx_index *index = NULL;
    if (mx_index_open(dir, NULL, &index, &err) != MX_OK)
      return cli_fail_err("tune", &err);
    mx_status s = mx_index_calibration(index, &table, &err);
    mx_index_close(index);
    if (s != MX_OK)
      return cli_fail_err("tune", &err);
  } else {
    queries q = {0};
    if (qpath) {
      mx_index *index = NULL;
      mx_open_options oo;
      mx_open_options_init(&oo);
      oo.ignore_calibration = 1;
      if (mx_index_open(dir, &oo, &index, &err) != MX_OK)
        return cli_fail_err("tune", &err);
      mx_info info;
      mx_status s = mx_index_info(index, &info, &err);
      mx_index_close(index);
      if (s != MX_OK)
        return cli_fail_err("tune", &err);
      if ((rc = queries_load("tune", qpath, info.dim, &q)) != 0)
        return rc;
    }
    mx_status s = mx_index_tune(dir, q.data, q.n, q.r, &to, &table, &err);
    queries_close(&q);
    if (s != MX_OK)
      return cli_fail_err("tune", &err);
  }
  rc = jsonl ? print_json(stdout, &table) : (print_table(stdout, &table), 0);
  if (!rc)
    rc = cli_close_out("tune", NULL, stdout);
  uint32_t unmet = 0;
  for (uint32_t i = 0; i < table.n_entries; i++)
    unmet += table.entries[i].status != MX_CALIBRATION_MET;
  if (!rc && !show)
    fprintf(stderr, "metaidx tune: %u of %u budgets reach recall %.3f%s\n",
            table.n_entries - unmet, table.n_entries, (double)table.target,
            to.dry_run ? " (dry run: not stored)" : "; table stored in the index");
  return rc;
}
