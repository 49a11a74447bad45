// Subcommands that create, fill, read and search a database.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>

#include "api/src/server/json_codec.h"
#include "ctdb/ctdb.h"
#include "embed/ctrate.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"

namespace ctdb::cli {
namespace {

constexpr int kNumLabels = embed::kNumCtRateLabels;
using embed::kCtRateLabels;

const char kCommonOptions[] =
    "  --db PATH          database directory (required)\n"
    "  --index FACTORY    FAISS index factory, e.g. Flat, HNSW32, IVF1024,PQ64; remembered by the\n"
    "                     database (default: the stored one; Flat for a new database)\n";

Result<std::unique_ptr<Database>> OpenFromArgs(const Args& args, bool create, size_t dim, bool sync = true) {
  Options o;
  o.sync_writes = sync;
  o.model_id = args.Get("model-id");
  o.path = args.Get("db");
  if (o.path.empty()) return Status::InvalidArgument("--db PATH is required");
  o.create_if_missing = create;
  o.dimension = dim;
  o.index_factory = args.Get("index");
  return Database::Open(o);
}

std::string SexName(Sex s) { return s == Sex::kFemale ? "F" : s == Sex::kMale ? "M" : ""; }

void PrintRecordJson(const StudyRecord& r) {
  std::printf("{\"key\":%s,\"patient_id\":%s,\"sex\":%s,\"age_years\":%d,\"study_date\":%d,\"manufacturer\":%s,",
              JsonEscape(r.key).c_str(), JsonEscape(r.patient_id).c_str(), JsonEscape(SexName(r.sex)).c_str(),
              r.age_years, r.study_date, JsonEscape(r.manufacturer).c_str());
  std::printf("\"spacing_mm\":[%g,%g,%g],\"shape\":[%lld,%lld,%lld],\"source_uri\":%s,\"findings\":%s,"
              "\"impression\":%s,\"labels\":[",
              r.spacing_mm[0], r.spacing_mm[1], r.spacing_mm[2], (long long)r.shape[0], (long long)r.shape[1],
              (long long)r.shape[2], JsonEscape(r.source_uri).c_str(), JsonEscape(r.findings).c_str(),
              JsonEscape(r.impression).c_str());
  for (size_t i = 0; i < r.labels.size(); ++i) std::printf("%s%s", i ? "," : "", JsonEscape(r.labels[i]).c_str());
  std::printf("],\"model_id\":%s}", JsonEscape(r.model_id).c_str());
}

}  // namespace

int CmdCreate(int argc, char** argv) {
  const std::string help = std::string(
                               "usage: ctdb create --db PATH --dim N [--index FACTORY]\n"
                               "Creates an empty database for N-dimensional embeddings.\n") +
                           kCommonOptions + "  --dim N            embedding dimension (required)\n";
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"db", "dim", "index", "help"}, help, &exit)) return exit;
  int64_t dim;
  Status s = args.GetInt("dim", 0, 1, 65536, &dim);
  if (!s.ok() || !args.Has("dim")) return UsageError(s.ok() ? "--dim N is required" : s.message(), help);
  Options o;
  o.path = args.Get("db");
  if (o.path.empty()) return UsageError("--db PATH is required", help);
  o.create_if_missing = true;
  o.error_if_exists = true;
  o.dimension = static_cast<size_t>(dim);
  o.index_factory = args.Get("index");
  auto db = Database::Open(o);
  if (!db.ok()) return Fail(db.status());
  auto stats = (*db)->Stats();
  if (!stats.ok()) return Fail(stats.status());
  std::printf("created %s (d=%lld, index %s)\n", o.path.c_str(), (long long)dim, stats->image_index.factory.c_str());
  return 0;
}

int CmdDemoVectors(int argc, char** argv) {
  const std::string help = std::string(
                               "usage: ctdb demo-vectors --db PATH [--n 2000] [--dim 128] [--seed 1] [--slabs 0] [--diseases]\n"
                               "                         [--model-id ID]  (record vectors as that model's, for benchmarks)\n"
                               "Adds N synthetic studies with CT-RATE-style labels and metadata. Their\n"
                               "vectors are label prototypes plus noise, so studies sharing findings are\n"
                               "near each other. Vector-level demo data, not images. --diseases adds a\n"
                               "feature per CT-RATE label, as an ingested study has one per disease token\n"
                               "(what a findings-aware text search reads, for benchmarks).\n") +
                           kCommonOptions;
  Args args(argc, argv, 0, {"help", "diseases"});
  int exit;
  if (!Prepare(args, {"db", "n", "dim", "seed", "slabs", "diseases", "model-id", "index", "help"}, help, &exit)) return exit;
  const bool diseases = args.Has("diseases");
  int64_t n, dim, seed, slabs;
  for (auto [name, fb, lo, hi, out] : {std::tuple{"n", 2000, 1, 10000000, &n}, std::tuple{"dim", 128, 8, 4096, &dim},
                                       std::tuple{"seed", 1, 0, INT32_MAX, &seed}, std::tuple{"slabs", 0, 0, 256, &slabs}}) {
    Status s = args.GetInt(name, fb, lo, hi, out);
    if (!s.ok()) return UsageError(s.message(), help);
  }
  // Synthetic and reproducible: no fsync per study (a crash loses at most
  // the tail, which a rerun recreates).
  auto db = OpenFromArgs(args, true, static_cast<size_t>(dim), false);
  if (!db.ok()) return Fail(db.status());
  const size_t d = (*db)->dimension();
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::normal_distribution<float> gauss;
  std::uniform_real_distribution<double> uni;
  // One image and one report prototype per label.
  std::vector<std::vector<float>> img_proto(kNumLabels, std::vector<float>(d)), rep_proto = img_proto;
  for (int l = 0; l < kNumLabels; ++l) {
    for (size_t j = 0; j < d; ++j) {
      img_proto[l][j] = gauss(rng);
      rep_proto[l][j] = 0.7f * img_proto[l][j] + 0.7f * gauss(rng);
    }
  }
  const char* const makers[] = {"SIEMENS", "GE MEDICAL SYSTEMS", "PHILIPS", "TOSHIBA"};
  const uint64_t base = (*db)->Count();
  Progress progress("demo-vectors", static_cast<uint64_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    Study st;
    StudyRecord& r = st.record;
    const uint64_t id = base + static_cast<uint64_t>(i);
    r.key = "demo_" + std::to_string(id / 2) + "_a_" + std::to_string(1 + id % 2);
    r.patient_id = "demo_" + std::to_string(id / 2);
    r.sex = uni(rng) < 0.5 ? Sex::kFemale : Sex::kMale;
    r.age_years = 20 + static_cast<int>(uni(rng) * 70);
    r.study_date = (2018 + static_cast<int>(uni(rng) * 7)) * 10000 + (1 + static_cast<int>(uni(rng) * 12)) * 100 +
                   1 + static_cast<int>(uni(rng) * 28);
    r.manufacturer = makers[static_cast<int>(uni(rng) * 4)];
    r.spacing_mm = {0.7, 0.7, 1.5};
    r.shape = {512, 512, 200 + static_cast<int64_t>(uni(rng) * 200)};
    st.vectors.image.resize(d);
    st.vectors.report.resize(d);
    for (size_t j = 0; j < d; ++j) {
      st.vectors.image[j] = 1.2f * gauss(rng);
      st.vectors.report[j] = 1.2f * gauss(rng);
    }
    std::string findings;
    for (int l = 0; l < kNumLabels; ++l) {
      if (uni(rng) >= 0.15) continue;
      r.labels.push_back(kCtRateLabels[l]);
      findings += std::string(kCtRateLabels[l]) + " is seen. ";
      for (size_t j = 0; j < d; ++j) {
        st.vectors.image[j] += img_proto[l][j];
        st.vectors.report[j] += rep_proto[l][j];
      }
    }
    for (int l = 0; diseases && l < kNumLabels; ++l) {  // the label's prototype when labelled, plus noise
      const bool has = std::find(r.labels.begin(), r.labels.end(), kCtRateLabels[l]) != r.labels.end();
      NamedFeature f;
      f.name = kCtRateLabels[l];
      for (size_t j = 0; j < d; ++j) f.vector.push_back((has ? img_proto[l][j] : 0.0f) + gauss(rng));
      st.vectors.diseases.push_back(std::move(f));
    }
    for (int64_t z = 0; z < slabs; ++z) {  // random slab features (text hits look up their best z)
      SlabFeature f;
      f.z_mm = static_cast<float>(-300 + 12 * z);
      for (size_t j = 0; j < d; ++j) f.vector.push_back(gauss(rng));
      st.vectors.slabs.push_back(std::move(f));
    }
    r.findings = findings.empty() ? "No acute abnormality." : findings;
    r.impression = r.labels.empty() ? "Normal study." : r.labels.front() + ".";
    Status s = (*db)->Put(st);
    if (!s.ok()) return Fail(s.WithContext("study " + r.key));
    progress.Update(static_cast<uint64_t>(i + 1));
  }
  progress.Finish();
  std::printf("database %s now holds %llu studies (d=%zu)\n", args.Get("db").c_str(),
              (unsigned long long)(*db)->Count(), d);
  return 0;
}

int CmdGet(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb get --db PATH KEY [--json]\n") + kCommonOptions;
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "index", "json", "help"}, help, &exit)) return exit;
  if (args.positional().size() != 1) return UsageError("get takes exactly one KEY", help);
  auto db = OpenFromArgs(args, false, 0);
  if (!db.ok()) return Fail(db.status());
  auto rec = (*db)->GetRecord(args.positional()[0]);
  if (!rec.ok()) return Fail(rec.status());
  if (args.Has("json")) {
    PrintRecordJson(*rec);
    std::printf("\n");
    return 0;
  }
  const StudyRecord& r = *rec;
  std::printf("key:          %s\npatient:      %s\nsex:          %s\nage:          %d\nstudy date:   %d\n"
              "manufacturer: %s\nspacing (mm): %g x %g x %g\nshape:        %lld x %lld x %lld\n",
              r.key.c_str(), r.patient_id.c_str(), SexName(r.sex).c_str(), r.age_years, r.study_date,
              r.manufacturer.c_str(), r.spacing_mm[0], r.spacing_mm[1], r.spacing_mm[2], (long long)r.shape[0],
              (long long)r.shape[1], (long long)r.shape[2]);
  std::string labels;
  for (const auto& l : r.labels) labels += (labels.empty() ? "" : "; ") + l;
  std::printf("labels:       %s\nfindings:     %s\nimpression:   %s\n", labels.c_str(), r.findings.c_str(),
              r.impression.c_str());
  return 0;
}

int CmdDelete(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb delete --db PATH KEY...\n") + kCommonOptions;
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"db", "index", "help"}, help, &exit)) return exit;
  if (args.positional().empty()) return UsageError("delete needs at least one KEY", help);
  auto db = OpenFromArgs(args, false, 0);
  if (!db.ok()) return Fail(db.status());
  for (const auto& key : args.positional()) {
    Status s = (*db)->Delete(key);
    if (!s.ok()) return Fail(s);
    std::printf("deleted %s\n", key.c_str());
  }
  return 0;
}

int CmdList(int argc, char** argv) {
  const std::string help = std::string(
                               "usage: ctdb list --db PATH [--prefix P] [--after KEY] [--limit 1000]\n") +
                           kCommonOptions;
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"db", "index", "prefix", "after", "limit", "help"}, help, &exit)) return exit;
  int64_t limit;
  Status s = args.GetInt("limit", 1000, 0, INT64_MAX, &limit);
  if (!s.ok()) return UsageError(s.message(), help);
  auto db = OpenFromArgs(args, false, 0);
  if (!db.ok()) return Fail(db.status());
  ListOptions lo;
  lo.prefix = args.Get("prefix");
  lo.start_after = args.Get("after");
  lo.limit = static_cast<size_t>(limit);
  auto keys = (*db)->ListKeys(lo);
  if (!keys.ok()) return Fail(keys.status());
  for (const auto& k : *keys) std::printf("%s\n", k.c_str());
  return 0;
}

int CmdStats(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb stats --db PATH [--json]\n") + kCommonOptions;
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "index", "json", "help"}, help, &exit)) return exit;
  auto db = OpenFromArgs(args, false, 0);
  if (!db.ok()) return Fail(db.status());
  auto st = (*db)->Stats();
  if (!st.ok()) return Fail(st.status());
  const DatabaseStats& s = *st;
  if (args.Has("json")) {
    std::printf("%s\n", server::StatsJson(s).c_str());  // the same shape as GET /v1/stats
    return 0;
  }
  std::printf("studies:           %llu\ndimension:         %zu\nformat version:    %u\n"
              "oplog sequence:    %llu (snapshot at %llu)\ndisk:              %.1f MiB\n",
              (unsigned long long)s.studies, s.dimension, s.format_version, (unsigned long long)s.last_sequence,
              (unsigned long long)s.snapshot_sequence, s.disk_bytes / 1048576.0);
  std::printf("model:             %s%s%s\n", s.model_id.empty() ? "(none recorded)" : s.model_id.c_str(),
              s.model_pending.empty() ? "" : ", re-embedding to ", s.model_pending.c_str());
  for (auto [name, i] : {std::pair{"image index", &s.image_index}, std::pair{"report index", &s.report_index}}) {
    std::printf("%-18s %s%s, %llu live, %llu tombstones, %.1f MiB RAM\n", (std::string(name) + ":").c_str(),
                i->factory.c_str(), i->trained ? "" : " (untrained: exact)", (unsigned long long)i->live,
                (unsigned long long)i->tombstones, i->memory_bytes / 1048576.0);
  }
  return 0;
}

int CmdSearch(int argc, char** argv) {
  if (argc > 0) {
    const std::string first = argv[0];
    if (first == "text" || first == "image" || first == "disease" || first == "report") return CmdQuerySearch(argc, argv);
  }
  const std::string help = std::string(
                               "usage: ctdb search --db PATH --like KEY [--kind image|report] [--k 10]\n"
                               "                   [--offset 0] [--filter EXPR] [--exact] [--json]\n"
                               "Finds the studies nearest to study KEY's stored vector (KEY itself ranks\n"
                               "first). Scores are cosine similarities.\n"
                               "  --filter EXPR      e.g. 'sex=F,age=40-60,date=20200101-20231231,\n"
                               "                     manufacturer=SIEMENS,label=Pleural effusion,\n"
                               "                     finding=Lung nodule' (finding: stated present in the report)\n") +
                           kCommonOptions;
  Args args(argc, argv, 0, {"help", "json", "exact"});
  int exit;
  if (!Prepare(args, {"db", "index", "like", "kind", "k", "offset", "filter", "exact", "json", "help"}, help, &exit)) {
    return exit;
  }
  if (!args.Has("like")) return UsageError("--like KEY is required", help);
  int64_t k, offset;
  Status s = args.GetInt("k", 10, 1, 10000, &k);
  if (s.ok()) s = args.GetInt("offset", 0, 0, 100000, &offset);
  if (!s.ok()) return UsageError(s.message(), help);
  const std::string kind_name = args.Get("kind", "image");
  if (kind_name != "image" && kind_name != "report") return UsageError("--kind must be image or report", help);
  const VectorKind kind = kind_name == "image" ? VectorKind::kImage : VectorKind::kReport;
  auto filter = ParseFilter(args.Get("filter"));
  if (!filter.ok()) return Fail(filter.status());
  auto db = OpenFromArgs(args, false, 0);
  if (!db.ok()) return Fail(db.status());
  auto study = (*db)->Get(args.Get("like"));
  if (!study.ok()) return Fail(study.status());
  const std::vector<float>& q = kind == VectorKind::kImage ? study->vectors.image : study->vectors.report;
  if (q.empty()) return Fail(Status::InvalidArgument("study " + args.Get("like") + " has no " + kind_name + " vector"));
  SearchOptions so;
  so.k = static_cast<size_t>(k);
  so.offset = static_cast<size_t>(offset);
  so.filter = *filter;
  so.exact = args.Has("exact");
  auto hits = (*db)->Search(kind, q, so);
  if (!hits.ok()) return Fail(hits.status());
  if (args.Has("json")) {
    std::printf("{\"query\":%s,\"kind\":\"%s\",\"score\":\"cosine similarity\",\"hits\":[",
                JsonEscape(args.Get("like")).c_str(), kind_name.c_str());
    for (size_t i = 0; i < hits->size(); ++i) {
      const auto& h = (*hits)[i];
      std::printf("%s{\"rank\":%zu,\"key\":%s,\"score\":%.6f}", i ? "," : "", so.offset + i + 1,
                  JsonEscape(h.key).c_str(), h.score);
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("%-5s %-24s %-8s %s\n", "rank", "key", "cosine", "labels");
  for (size_t i = 0; i < hits->size(); ++i) {
    const auto& h = (*hits)[i];
    auto rec = (*db)->GetRecord(h.key);
    std::string labels;
    if (rec.ok()) {
      for (const auto& l : rec->labels) labels += (labels.empty() ? "" : "; ") + l;
    }
    std::printf("%-5zu %-24s %-8.4f %s\n", so.offset + i + 1, h.key.c_str(), h.score, labels.c_str());
  }
  return 0;
}

int CmdCompact(int argc, char** argv) {
  const std::string help = std::string("usage: ctdb compact --db PATH [--index FACTORY]\n"
                                       "Rebuilds the indexes (training IVF/PQ when enough rows exist), drops\n"
                                       "tombstones, snapshots, and compacts storage.\n") +
                           kCommonOptions;
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"db", "index", "help"}, help, &exit)) return exit;
  auto db = OpenFromArgs(args, false, 0);
  if (!db.ok()) return Fail(db.status());
  Status s = (*db)->Compact();
  if (!s.ok()) return Fail(s);
  std::printf("compacted %s\n", args.Get("db").c_str());
  return 0;
}

}  // namespace ctdb::cli
