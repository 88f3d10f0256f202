/* Prints the size and field offsets of every struct of metaidx.h as one JSON
 * object, for test_layout.py to compare with the ctypes declarations. */
#include <metaidx.h>
#include <stddef.h>
#include <stdio.h>

static int first;
static void open_struct(const char *name, size_t size) {
  printf("%s\"%s\": {\"size\": %zu, \"fields\": {", first ? "" : ", ", name, size);
  first = 0;
}
static int first_field;
static void field(const char *name, size_t offset) {
  printf("%s\"%s\": %zu", first_field ? "" : ", ", name, offset);
  first_field = 0;
}
#define S(type) open_struct(#type, sizeof(type)), first_field = 1
#define F(type, member) field(#member, offsetof(type, member))
#define E() printf("}}")

int main(void) {
  first = 1;
  printf("{");
  S(mx_budget); F(mx_budget, r_q); F(mx_budget, r_c); E();
  S(mx_stage); F(mx_stage, r_q); F(mx_stage, r_c); F(mx_stage, keep); E();
  S(mx_error); F(mx_error, status); F(mx_error, message); E();
  S(mx_build_options);
  F(mx_build_options, dtype); F(mx_build_options, keep); F(mx_build_options, n_budgets);
  F(mx_build_options, budgets); F(mx_build_options, coarse_factory);
  F(mx_build_options, coarse_nprobe); F(mx_build_options, train_sample);
  F(mx_build_options, expected_docs); F(mx_build_options, id_kind);
  F(mx_build_options, threads); F(mx_build_options, seed); F(mx_build_options, overwrite);
  F(mx_build_options, normalize); F(mx_build_options, progress);
  F(mx_build_options, progress_ctx); F(mx_build_options, first_stage);
  F(mx_build_options, first_stage_vectors); F(mx_build_options, first_stage_query_vectors);
  F(mx_build_options, first_stage_max_bytes); F(mx_build_options, calibrate);
  F(mx_build_options, calibrate_seconds); F(mx_build_options, calibrate_recall); E();
  S(mx_open_options); F(mx_open_options, max_readers); F(mx_open_options, verify);
  F(mx_open_options, ignore_calibration); E();
  S(mx_info);
  F(mx_info, format_major); F(mx_info, format_minor); F(mx_info, dim);
  F(mx_info, vectors_per_doc); F(mx_info, dtype); F(mx_info, n_docs); F(mx_info, n_budgets);
  F(mx_info, budgets); F(mx_info, id_kind); F(mx_info, coarse_factory);
  F(mx_info, coarse_nprobe); F(mx_info, coarse_ef_search); F(mx_info, coarse_bytes);
  F(mx_info, store_bytes); F(mx_info, created); F(mx_info, library_version);
  F(mx_info, first_stage); F(mx_info, first_stage_vectors); F(mx_info, first_stage_query_vectors);
  F(mx_info, coarse_entries); F(mx_info, first_stage_trial); E();
  S(mx_search_options);
  F(mx_search_options, k); F(mx_search_options, r_q); F(mx_search_options, r_c);
  F(mx_search_options, candidates); F(mx_search_options, nprobe);
  F(mx_search_options, ef_search); F(mx_search_options, n_stages);
  F(mx_search_options, stages); F(mx_search_options, prefetch);
  F(mx_search_options, skip_corrupt); F(mx_search_options, coarse_only);
  F(mx_search_options, recall); F(mx_search_options, threads); E();
  S(mx_hit); F(mx_hit, doc); F(mx_hit, id); F(mx_hit, score); E();
  S(mx_search_stats);
  F(mx_search_stats, coarse_ms); F(mx_search_stats, prefetch_ms);
  F(mx_search_stats, rescore_ms); F(mx_search_stats, total_ms); F(mx_search_stats, stage_ms);
  F(mx_search_stats, n_stages_run); F(mx_search_stats, candidates);
  F(mx_search_stats, scored); F(mx_search_stats, bytes_touched);
  F(mx_search_stats, bytes_prefetched); F(mx_search_stats, corrupt_skipped);
  F(mx_search_stats, candidates_source); F(mx_search_stats, candidates_flags);
  F(mx_search_stats, candidates_asked); F(mx_search_stats, nprobe_asked);
  F(mx_search_stats, recall_target); F(mx_search_stats, recall_expected);
  F(mx_search_stats, table_budget); E();
  S(mx_verify_report);
  F(mx_verify_report, records); F(mx_verify_report, bad_records);
  F(mx_verify_report, bad_keys); F(mx_verify_report, problems); E();
  printf("}\n");
  return 0;
}
