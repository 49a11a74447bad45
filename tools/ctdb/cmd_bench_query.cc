// ctdb bench query: the in-process side of the REST benchmark
// (tools/bench-rest.sh): the same text or image queries wrk sends, through
// QueryEngine from the same number of concurrent clients.
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>

#include "ctdb/ctdb.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/ctdb/query_session.h"

namespace ctdb::cli {
namespace {

const char kHelp[] =
    "usage: ctdb bench query --db PATH --model DIR [--kind text|image] [--clients 8] [--seconds 10]\n"
    "                        [--k 10] [--threads 0] [--model-threads 1] [--findings-weight W]\n"
    "                        [--unstated-weight W] [--sentence-weight W] [--attribute-weight W]\n"
    "                        [--detection-weight A]\n"
    "                        [--json]\n"
    "Runs the queries tools/bench-rest.sh sends over HTTP, in process: text = search text\n"
    "\"right pleural effusion\"; image = search image by the first stored key. Prints QPS and\n"
    "latency percentiles. --findings-weight sets the text search's re-ranking by the findings\n"
    "the text states (default: the query engine's; 0 = the embedding's ranking alone);\n"
    "--unstated-weight, --sentence-weight, --attribute-weight and --detection-weight its other terms (see ctdb eval\n"
    "--help).\n";

}  // namespace

int BenchQuery(int argc, char** argv) {
  Args args(argc, argv, 1, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "model", "kind", "clients", "seconds", "k", "threads", "model-threads", "findings-weight", "unstated-weight", "sentence-weight", "attribute-weight", "detection-weight", "json", "help"}, kHelp, &exit)) {
    return exit;
  }
  int64_t clients, seconds, k, threads, model_threads;
  Status s = args.GetInt("clients", 8, 1, 1024, &clients);
  if (s.ok()) s = args.GetInt("seconds", 10, 1, 3600, &seconds);
  if (s.ok()) s = args.GetInt("k", 10, 1, 1000, &k);
  if (s.ok()) s = args.GetInt("threads", 0, 0, 1024, &threads);
  if (s.ok()) s = args.GetInt("model-threads", 1, 0, 1024, &model_threads);
  QueryEngineOptions engine_options;
  if (s.ok()) {
    s = args.GetDouble("findings-weight", engine_options.findings_weight, 0, 100, &engine_options.findings_weight);
  }
  if (s.ok()) {
    s = args.GetDouble("unstated-weight", engine_options.unstated_weight, 0, 100, &engine_options.unstated_weight);
  }
  if (s.ok()) {
    s = args.GetDouble("sentence-weight", engine_options.sentence_weight, 0, 100, &engine_options.sentence_weight);
  }
  if (s.ok()) {
    s = args.GetDouble("attribute-weight", engine_options.attribute_weight, 0, 100, &engine_options.attribute_weight);
  }
  if (s.ok()) {
    s = args.GetDouble("detection-weight", engine_options.detection_weight, 0, 1, &engine_options.detection_weight);
  }
  if (!s.ok()) return UsageError(s.message(), kHelp);
  const std::string kind = args.Get("kind", "text");
  if (kind != "text" && kind != "image") return UsageError("--kind must be text or image", kHelp);
  if (!args.Has("db") || !args.Has("model")) return UsageError("--db and --model are required", kHelp);
  SessionOptions so;
  so.db = args.Get("db");
  so.model_dir = args.Get("model");
  so.model_threads = static_cast<int>(model_threads);  // as ctdb serve: one per encode
  so.db_threads = static_cast<int>(threads);
  so.engine = engine_options;
  auto session = OpenSession(so);
  if (!session.ok()) return Fail(session.status());
  const auto& db = session->db;
  const auto& engine = session->engine;
  ListOptions lo;
  lo.limit = 1;
  auto first = db->ListKeys(lo);
  if (!first.ok() || first->empty()) return Fail(Status::FailedPrecondition("the database is empty"));
  const std::string key = first->front();
  QueryOptions qo;
  qo.k = static_cast<size_t>(k);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> errors{0};
  std::vector<std::vector<double>> lat(static_cast<size_t>(clients));
  std::vector<std::thread> pool;
  const double t0 = NowSeconds();
  for (int64_t c = 0; c < clients; ++c) {
    pool.emplace_back([&, c] {
      while (!stop) {
        const double a = NowSeconds();
        auto r = kind == "text" ? engine->SearchText("right pleural effusion", qo)
                                : engine->SearchImageByKey(key, qo);
        if (!r.ok()) ++errors;
        lat[static_cast<size_t>(c)].push_back(NowSeconds() - a);
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::seconds(seconds));
  stop = true;
  for (auto& t : pool) t.join();
  const double wall = NowSeconds() - t0;
  std::vector<double> all;
  for (const auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  if (all.empty()) return Fail(Status::Internal("no query finished"));
  auto pct = [&](double p) { return all[std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())))]; };
  const double qps = static_cast<double>(all.size()) / wall;
  if (args.Has("json")) {
    std::printf("{\"kind\":\"%s\",\"clients\":%lld,\"queries\":%zu,\"errors\":%llu,\"qps\":%.1f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"studies\":%llu}\n",
                kind.c_str(), (long long)clients, all.size(), (unsigned long long)errors.load(), qps, pct(0.5) * 1e3,
                pct(0.99) * 1e3, (unsigned long long)db->Count());
  } else {
    std::printf("in-process %s search, %lld clients, %llu studies: %.1f queries/s, p50 %.3f ms, p99 %.3f ms, "
                "%llu errors\n",
                kind.c_str(), (long long)clients, (unsigned long long)db->Count(), qps, pct(0.5) * 1e3,
                pct(0.99) * 1e3, (unsigned long long)errors.load());
  }
  return errors ? 1 : 0;
}

}  // namespace ctdb::cli
