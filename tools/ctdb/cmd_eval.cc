// ctdb eval: retrieval, zero-shot and localization quality (tools/eval).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "ctdb/ctdb.h"
#include "ctdb/ingest.h"
#include "ctdb/model.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/eval/harness.h"

namespace ctdb::cli {
namespace {

const char kHelp[] =
    "usage: ctdb eval (--db PATH | --data DIR) [--model MODELDIR] [--split valid] [--k 10]\n"
    "                 [--limit 0] [--threads 0] [--out FILE.json] [--misses FILE.jsonl] [--json]\n"
    "Quality of the vectors and of the model that made them:\n"
    "  report -> volume R@1/5/10  CT-CLIP's definition: the fraction of reports whose own\n"
    "                             volume ranks in the top k (stored report vectors)\n"
    "  text -> image R@1/5/10     the impression alone, embedded by --model; \"same label set\":\n"
    "                             a top-10 study with exactly the query study's labels\n"
    "  ceiling                    the best R@10 possible: identical texts share one ranking;\n"
    "                             by meaning: what a perfect reader of findings, regions, sizes\n"
    "                             and amounts could expect (same-meaning texts tie)\n"
    "  image -> image MAP@k       graded by label overlap |A n B| / |A u B|\n"
    "  zero-shot AUC              per disease and macro, score x . (p+ - p-) with diagnosis-aware\n"
    "                             prompts, on the global embedding and on the disease's token;\n"
    "                             and by the size the reports state (<4, 4-6, 6-8, >8 mm)\n"
    "  localization MAE (mm)      sentences with \"(series X, image N)\": best slab's z vs the slice's\n"
    "With --data (a CT-RATE layout) and no --db, the split is ingested with --model into a\n"
    "temporary database first. --db alone reports the stored-vector metrics only.\n"
    "  --split S   the CT-RATE split to evaluate with --data (default valid; \"\" = all)\n"
    "  --limit N   the first N studies only (0 = all)\n"
    "  --threads N LibTorch threads for --model (default 0 = all cores)\n"
    "  --out FILE  also write the results as JSON to FILE\n"
    "  --findings-weight W  the text search's weight of the findings a text states (default:\n"
    "              the query engine's; 0 = embedding only)\n"
    "  --findings-pool N  candidates it re-ranks (default: the query engine's)\n"
    "  --sentence-weight W  weight of each stating sentence's match with its finding's token\n"
    "                     (default: the query engine's)\n"
    "  --unstated-weight W  weight of the findings a text leaves unstated, read as absent\n"
    "                     (calibrated diseases; default: the query engine's)\n"
    "  --unstated-weight-uncalibrated W  the same for diseases not calibrated (default: the\n"
    "                     query engine's)\n"
    "  --attribute-weight W  weight of the side, level and amount its sentences state\n"
    "                     (default: the query engine's)\n"
    "  --detection-weight A  share of a finding's log-odds taken from the model's detector\n"
    "                     where it has one, in [0, 1] (default: the query engine's)\n"
    "  --localize-min-score S  a detection answers a localization from this score up (default:\n"
    "                     the query engine's; > 1 = the best slab always)\n"
    "  --probability-floor F  the findings terms clamp probabilities to [F, 1 - F], F in\n"
    "                     (0, 0.5) (default: the query engine's)\n"
    "  --no-zones         a finding stated in a lobe reads detections at any height\n"
    "  --misses FILE  write each impression whose study is not in its top 10, one JSON object\n"
    "              per line: key, impression, rank (-1 = not in the top k + 1), and the first\n"
    "              hit's key and impression (needs --model)\n";

void PrintTable(const eval::EvalReport& r) {
  auto f = [](double x) {
    char b[16];
    std::snprintf(b, sizeof(b), std::isfinite(x) ? "%.3f" : "  -  ", x);
    return std::string(b);
  };
  std::printf("studies evaluated: %zu\n\n", r.studies);
  std::printf("%-28s %7s %7s %7s %8s   n\n", "retrieval", "R@1", "R@5", "R@10", "ceiling");
  std::printf("%-28s %7s %7s %7s %8s   %zu\n", "report -> volume", f(r.report_r1).c_str(), f(r.report_r5).c_str(),
              f(r.report_r10).c_str(), f(r.report_r10_ceiling).c_str(), r.reports);
  std::printf("%-28s %7s %7s %7s %8s   %zu\n", "text (impression) -> image", f(r.text_r1).c_str(),
              f(r.text_r5).c_str(), f(r.text_r10).c_str(), f(r.text_r10_ceiling).c_str(), r.texts);
  std::printf("%-28s %23s %8s\n", "  same label set in top 10", f(r.text_r10_same_labels).c_str(), "");
  std::printf("%-28s %23s %8s\n", "  ceiling by meaning", "", f(r.text_r10_meaning_ceiling).c_str());
  std::printf("%-28s %7s %7s %7s\n", "  embedding only", f(r.embedding_r1).c_str(), f(r.embedding_r5).c_str(),
              f(r.embedding_r10).c_str());
  std::printf("%-28s MAP@%d %s\n\n", "image -> image", r.k, f(r.map).c_str());
  if (!r.diseases.empty()) {
    std::printf("%-36s %6s %6s %9s %9s\n", "zero-shot AUC", "pos", "neg", "global", "token");
    for (const auto& d : r.diseases) {
      std::printf("%-36s %6d %6d %9s %9s\n", d.disease.c_str(), d.positives, d.negatives, f(d.auc_global).c_str(),
                  f(d.auc_token).c_str());
    }
    std::printf("%-36s %6s %6s %9s %9s\n\n", "macro", "", "", f(r.macro_auc_global).c_str(),
                f(r.macro_auc_token).c_str());
    for (const auto& d : r.diseases) {
      if (d.by_size.empty()) continue;
      std::printf("%s by stated size (%d of %d positives state one; token AUC, positives):", d.disease.c_str(),
                  d.sized_positives, d.positives);
      for (const auto& b : d.by_size) std::printf("  %s %s (%d)", b.band.c_str(), f(b.auc).c_str(), b.positives);
      std::printf("\n");
    }
    for (const auto& d : r.diseases) {
      if (!std::isfinite(d.auc_detector)) continue;
      std::printf("%s detector (best detection score): AUC %s", d.disease.c_str(), f(d.auc_detector).c_str());
      if (!d.detector_by_size.empty()) std::printf(";");
      for (const auto& b : d.detector_by_size) std::printf("  %s %s", b.band.c_str(), f(b.auc).c_str());
      std::printf("\n");
    }
    std::printf("\n");
    std::printf("localization: %zu sentences with a slice reference, MAE %s mm (slab %.3g mm); %zu answered by a "
                "detection; best slab alone: MAE %s mm\n",
                r.localized, f(r.mae_mm).c_str(), r.slab_mm, r.localized_by_detection, f(r.mae_slab_mm).c_str());
  }
}

}  // namespace

int CmdEval(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "json", "no-zones"});
  int exit;
  if (!Prepare(args, {"db", "data", "model", "split", "k", "limit", "threads", "out", "misses", "findings-weight", "findings-pool", "sentence-weight", "unstated-weight", "unstated-weight-uncalibrated", "attribute-weight", "detection-weight", "localize-min-score", "probability-floor", "no-zones", "json", "help"}, kHelp, &exit)) return exit;
  if (!args.Has("db") && !args.Has("data")) return UsageError("give --db PATH or --data DIR", kHelp);
  if (args.Has("data") && !args.Has("db") && !args.Has("model")) return UsageError("--data needs --model", kHelp);
  if (args.Has("misses") && !args.Has("model")) return UsageError("--misses needs --model", kHelp);
  int64_t k, limit, threads;
  Status s = args.GetInt("k", 10, 1, 1000, &k);
  if (s.ok()) s = args.GetInt("limit", 0, 0, INT64_MAX, &limit);
  if (s.ok()) s = args.GetInt("threads", 0, 0, 1024, &threads);
  QueryEngineOptions qo;  // the query engine's defaults unless a flag says otherwise
  if (s.ok()) s = args.GetDouble("findings-weight", qo.findings_weight, 0, 100, &qo.findings_weight);
  int64_t findings_pool = 0;
  if (s.ok()) s = args.GetInt("findings-pool", static_cast<int64_t>(qo.findings_pool), 1, 10000, &findings_pool);
  qo.findings_pool = static_cast<size_t>(findings_pool);
  if (s.ok()) s = args.GetDouble("sentence-weight", qo.sentence_weight, 0, 100, &qo.sentence_weight);
  if (s.ok()) s = args.GetDouble("unstated-weight", qo.unstated_weight, 0, 100, &qo.unstated_weight);
  if (s.ok()) {
    s = args.GetDouble("unstated-weight-uncalibrated", qo.unstated_weight_uncalibrated, 0, 100,
                       &qo.unstated_weight_uncalibrated);
  }
  if (s.ok()) s = args.GetDouble("attribute-weight", qo.attribute_weight, 0, 100, &qo.attribute_weight);
  if (s.ok()) s = args.GetDouble("detection-weight", qo.detection_weight, 0, 1, &qo.detection_weight);
  if (s.ok()) s = args.GetDouble("localize-min-score", qo.localize_min_score, 0, 2, &qo.localize_min_score);
  if (s.ok()) s = args.GetDouble("probability-floor", qo.probability_floor, 1e-9, 0.499, &qo.probability_floor);
  if (args.Has("no-zones")) qo.lower_zone_top = qo.upper_zone_bottom = 0;
  if (!s.ok()) return UsageError(s.message(), kHelp);

  std::unique_ptr<Model> model;
  if (args.Has("model")) {
    ModelOptions mo;
    mo.threads = static_cast<int>(threads);
    auto m = Model::Open(args.Get("model"), mo);
    if (!m.ok()) return Fail(m.status());
    model = std::move(*m);
  }
  std::string db_path = args.Get("db");
  std::string temp;
  struct Cleanup {
    std::string* d;
    ~Cleanup() {
      std::error_code ec;
      if (!d->empty()) std::filesystem::remove_all(*d, ec);
    }
  } cleanup{&temp};
  if (db_path.empty()) {
    temp = (std::filesystem::temp_directory_path() / "ctdb-eval-XXXXXX").string();
    if (!mkdtemp(temp.data())) return Fail(Status::IOError("cannot create a temporary directory"));
    db_path = temp + "/db";
    Options o;
    o.path = db_path;
    o.create_if_missing = true;
    o.dimension = model->info().dimension;
    o.model_id = model->id();
    o.sync_writes = false;  // scratch database
    auto db = Database::Open(o);
    if (!db.ok()) return Fail(db.status());
    IngestOptions io;
    io.split = args.Get("split", "valid");
    Progress progress("ingest", 0);
    io.progress = [&](const IngestProgress& p) {
      progress.SetTotal(p.total);
      progress.Update(p.done);
    };
    auto sum = Ingest(**db, *model, args.Get("data"), io);
    if (!sum.ok()) return Fail(sum.status());
    progress.Finish();
    if (sum->failed) std::fprintf(stderr, "ctdb eval: %llu studies failed to ingest and are left out\n",
                                  (unsigned long long)sum->failed);
  }
  Options o;
  o.path = db_path;
  auto db = Database::Open(o);
  if (!db.ok()) return Fail(db.status());
  eval::EvalOptions eo;
  eo.k = static_cast<int>(k);
  eo.limit = static_cast<size_t>(limit);
  eo.query = qo;
  Progress progress("eval", 0);
  eo.progress = [&](size_t done, size_t total) {
    progress.SetTotal(total);
    progress.Update(done);
  };
  auto report = eval::Evaluate(**db, model.get(), eo);
  if (!report.ok()) return Fail(report.status());
  progress.Finish();
  const std::string json = eval::ReportJson(*report);
  if (args.Has("out")) {
    std::ofstream out(args.Get("out"));
    out << json << "\n";
    if (!out) return Fail(Status::IOError("cannot write " + args.Get("out")));
  }
  if (args.Has("misses")) {
    std::ofstream out(args.Get("misses"));
    out << eval::MissesJsonLines(*report);
    if (!out) return Fail(Status::IOError("cannot write " + args.Get("misses")));
  }
  if (args.Has("json")) {
    std::printf("%s\n", json.c_str());
  } else {
    PrintTable(*report);
  }
  return 0;
}

}  // namespace ctdb::cli
