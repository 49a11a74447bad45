// ctdb eval: retrieval quality of the vectors stored in a database.
#include <algorithm>
#include <cstdio>

#include "ctdb/ctdb.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/eval/metrics.h"

namespace ctdb::cli {

int CmdEval(int argc, char** argv) {
  const std::string help =
      "usage: ctdb eval --db PATH [--k 10] [--limit 0] [--json]\n"
      "Retrieval quality of the stored vectors: report -> volume R@1/5/10 (CT-CLIP's\n"
      "definition: the fraction of reports whose own volume ranks in the top k) and\n"
      "image -> image MAP@k with label overlap |A n B| / |A u B| as graded relevance.\n"
      "Zero-shot AUC and localization need the encoder (--model, next release).\n"
      "  --limit N   evaluate the first N studies only (0 = all)\n";
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "k", "limit", "json", "help"}, help, &exit)) return exit;
  if (!args.Has("db")) return UsageError("--db PATH is required", help);
  int64_t k, limit;
  Status s = args.GetInt("k", 10, 1, 1000, &k);
  if (s.ok()) s = args.GetInt("limit", 0, 0, INT64_MAX, &limit);
  if (!s.ok()) return UsageError(s.message(), help);
  Options o;
  o.path = args.Get("db");
  auto db = Database::Open(o);
  if (!db.ok()) return Fail(db.status());
  ListOptions lo;
  lo.limit = static_cast<size_t>(limit);
  auto keys = (*db)->ListKeys(lo);
  if (!keys.ok()) return Fail(keys.status());
  if (keys->empty()) return Fail(Status::InvalidArgument("the database holds no studies"));
  const int top = std::max<int>(static_cast<int>(k), 10);
  std::vector<int> report_ranks;
  double map_sum = 0;
  size_t map_n = 0;
  Progress progress("eval", keys->size());
  for (size_t q = 0; q < keys->size(); ++q) {
    const std::string& key = (*keys)[q];
    auto study = (*db)->Get(key);
    if (!study.ok()) return Fail(study.status());
    SearchOptions so;
    so.k = static_cast<size_t>(top) + 1;
    if (!study->vectors.report.empty()) {
      auto hits = (*db)->Search(VectorKind::kImage, study->vectors.report, so);
      if (!hits.ok()) return Fail(hits.status());
      int rank = -1;
      for (size_t j = 0; j < hits->size(); ++j) {
        if ((*hits)[j].key == key) rank = static_cast<int>(j);
      }
      report_ranks.push_back(rank);
    }
    auto hits = (*db)->Search(VectorKind::kImage, study->vectors.image, so);
    if (!hits.ok()) return Fail(hits.status());
    std::vector<double> rel;
    for (const auto& h : *hits) {
      if (h.key == key || static_cast<int64_t>(rel.size()) >= k) continue;  // the query itself is excluded
      auto rec = (*db)->GetRecord(h.key);
      if (!rec.ok()) return Fail(rec.status());
      rel.push_back(eval::LabelOverlap(study->record.labels, rec->labels));
    }
    map_sum += eval::AveragePrecisionAtK(rel, static_cast<int>(k));
    ++map_n;
    progress.Update(q + 1);
  }
  progress.Finish();
  const double map = map_sum / static_cast<double>(map_n);
  const double r1 = eval::RecallFromRanks(report_ranks, 1), r5 = eval::RecallFromRanks(report_ranks, 5),
               r10 = eval::RecallFromRanks(report_ranks, 10);
  if (args.Has("json")) {
    std::printf("{\"studies\":%zu,\"reports\":%zu,\"report_to_volume\":{\"R@1\":%.4f,\"R@5\":%.4f,\"R@10\":%.4f},"
                "\"image_to_image\":{\"MAP@%lld\":%.4f}}\n",
                keys->size(), report_ranks.size(), r1, r5, r10, (long long)k, map);
    return 0;
  }
  std::printf("studies evaluated:      %zu (%zu with a report vector)\n", keys->size(), report_ranks.size());
  std::printf("report -> volume:       R@1 %.3f   R@5 %.3f   R@10 %.3f\n", r1, r5, r10);
  std::printf("image -> image:         MAP@%lld %.3f (graded by label overlap)\n", (long long)k, map);
  return 0;
}

}  // namespace ctdb::cli
