// ctdb ingest | reembed: CT files -> embedded studies in a database.
#include <cstdio>
#include <filesystem>

#include "ctdb/ctdb.h"
#include "ctdb/ingest.h"
#include "ctdb/model.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"

namespace ctdb::cli {
namespace {

const char kIngestHelp[] =
    "usage: ctdb ingest PATH --db DB --model MODELDIR [--jobs 1] [--threads 0] [--views 1]\n"
    "                   [--series UID] [--shard i/n] [--index FACTORY] [--json]\n"
    "PATH: a NIfTI file, a folder of NIfTI files, a DICOM file or folder (one study per CT\n"
    "series), or a CT-RATE root ({train,valid}/... with its reports, labels and metadata CSVs).\n"
    "Embeds every study (global, slabs, disease features, report and its sentences; the model's\n"
    "detections where it has a detector) and writes each in one atomic batch; re-ingesting a\n"
    "key replaces it. The database is created for the model if missing; a database built with\n"
    "another model is refused (see ctdb reembed).\n"
    "Failures are listed with their reasons; the others go in.\n"
    "  --jobs N      threads reading and preprocessing while the encoder runs (default 1)\n"
    "  --threads N   LibTorch threads for the encoder (default: all cores)\n"
    "  --views N     test-time augmentation, 1..5 (default 1): each volume is encoded N times,\n"
    "                itself and shifted in-plane by 3 model-grid voxels, features averaged\n"
    "                (detections from the volume itself); N times the encoding time\n"
    "  --series UID  DICOM: only this series\n"
    "  --shard i/n   only every n-th study from the i-th (0-based), for splitting a batch\n"
    "  --json        print the summary as JSON\n"
    "exit: 0 all ingested, 1 some studies failed, 2 usage, 10+N error before ingesting\n";

const char kReembedHelp[] =
    "usage: ctdb reembed --db DB --model MODELDIR [--out NEWDB] [--from auto|sources|previews]\n"
    "                    [--jobs 1] [--threads 0] [--views 1] [--json]\n"
    "Re-embeds every study of a database with another model and makes it the database's model.\n"
    "With --out, writes a new database instead and leaves DB untouched (needed when the new\n"
    "model's dimension differs).\n"
    "Volumes come from the source files recorded at ingest when still readable, else from the\n"
    "stored previews (--from). Resumable: studies already on the model are skipped; until all\n"
    "are done the database refuses other models. --views N: as for ctdb ingest.\n"
    "exit: 0 done, 1 some studies failed (run again), 2 usage, 10+N error\n";

void PrintSummary(const IngestSummary& s, bool json) {
  if (json) {
    std::printf("{\"format\":%s,\"discovered\":%llu,\"ingested\":%llu,\"replaced\":%llu,\"skipped\":%llu,"
                "\"failed\":%llu,\"seconds\":%.3f,\"studies_per_second\":%.3f,\"stage_seconds\":{\"read\":%.3f,"
                "\"encode\":%.3f,\"write\":%.3f},\"failures\":[",
                JsonEscape(s.format).c_str(), (unsigned long long)s.discovered, (unsigned long long)s.ingested,
                (unsigned long long)s.replaced, (unsigned long long)s.skipped, (unsigned long long)s.failed,
                s.seconds, s.seconds > 0 ? static_cast<double>(s.ingested) / s.seconds : 0.0, s.read_seconds,
                s.encode_seconds, s.write_seconds);
    for (size_t i = 0; i < s.failures.size(); ++i) {
      const auto& f = s.failures[i];
      std::printf("%s{\"source\":%s,\"key\":%s,\"code\":\"%s\",\"message\":%s}", i ? "," : "",
                  JsonEscape(f.source).c_str(), JsonEscape(f.key).c_str(), Status::CodeName(f.status.code()),
                  JsonEscape(f.status.message()).c_str());
    }
    std::printf("]}\n");
    return;
  }
  std::printf("%s: %llu studies, %llu ingested (%llu replaced), %llu skipped, %llu failed in %.1f s (%.2f studies/s)\n",
              s.format.c_str(), (unsigned long long)s.discovered, (unsigned long long)s.ingested,
              (unsigned long long)s.replaced, (unsigned long long)s.skipped, (unsigned long long)s.failed, s.seconds,
              s.seconds > 0 ? static_cast<double>(s.ingested) / s.seconds : 0.0);
  std::printf("stage busy time: read+preprocess %.1f s, encode %.1f s, write %.1f s\n", s.read_seconds,
              s.encode_seconds, s.write_seconds);
  for (const auto& f : s.failures) {
    std::printf("failed: %s%s%s: %s\n", f.source.c_str(), f.key.empty() || f.key == f.source ? "" : " (key ",
                f.key.empty() || f.key == f.source ? "" : (f.key + ")").c_str(), f.status.ToString().c_str());
  }
}

// --threads and --views, parsed before anything opens (usage errors).
Result<ModelOptions> EncoderFlags(const Args& args) {
  int64_t threads, views;
  CTDB_RETURN_IF_ERROR(args.GetInt("threads", 0, 0, 1024, &threads));
  CTDB_RETURN_IF_ERROR(args.GetInt("views", 1, 1, 5, &views));
  ModelOptions mo;
  mo.threads = static_cast<int>(threads);
  mo.views = static_cast<int>(views);
  return mo;
}

// Opens the model and the database for it (created with the model's
// dimension when missing).
struct Opened {
  std::unique_ptr<Model> model;
  std::unique_ptr<Database> db;
};

Result<Opened> OpenModelAndDb(const Args& args, const ModelOptions& mo, bool create, bool change_model,
                              const std::string& path = "") {
  Opened o;
  CTDB_ASSIGN_OR_RETURN(o.model, Model::Open(args.Get("model"), mo));
  Options opt;
  opt.path = path.empty() ? args.Get("db") : path;
  opt.create_if_missing = create;
  // An existing database keeps its dimension: the model check then names
  // the model it was built with, rather than a dimension mismatch.
  std::error_code ec;
  opt.dimension = std::filesystem::exists(opt.path, ec) && !change_model ? 0 : o.model->info().dimension;
  if (change_model) {
    // Say why before anything is marked: a re-embed keeps the dimension.
    Options probe;
    probe.path = opt.path;
    CTDB_ASSIGN_OR_RETURN(auto db, Database::Open(probe));
    if (db->dimension() != opt.dimension) {
      return Status::FailedPrecondition("database " + opt.path + " has dimension " + std::to_string(db->dimension()) +
                                        ", model " + o.model->id() + " has " + std::to_string(opt.dimension) +
                                        ": re-embed into a new database with --out NEWDB");
    }
  }
  opt.index_factory = args.Get("index");
  opt.model_id = o.model->id();
  opt.change_model = change_model;
  opt.threads = mo.threads;
  CTDB_ASSIGN_OR_RETURN(o.db, Database::Open(opt));
  return o;
}

}  // namespace

int CmdIngest(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "model", "jobs", "threads", "views", "series", "shard", "index", "json", "help"}, kIngestHelp,
               &exit)) {
    return exit;
  }
  if (args.positional().size() != 1) return UsageError("expected one PATH to ingest", kIngestHelp);
  if (args.Get("db").empty() || args.Get("model").empty()) return UsageError("--db and --model are required", kIngestHelp);
  IngestOptions io;
  int64_t jobs;
  Status s = args.GetInt("jobs", 1, 1, 256, &jobs);
  if (!s.ok()) return UsageError(s.message(), kIngestHelp);
  io.jobs = static_cast<int>(jobs);
  io.series_uid = args.Get("series");
  if (args.Has("shard")) {
    int i = -1, n = 0;
    char tail;
    if (std::sscanf(args.Get("shard").c_str(), "%d/%d%c", &i, &n, &tail) != 2 || n < 1 || i < 0 || i >= n) {
      return UsageError("--shard must be i/n with 0 <= i < n", kIngestHelp);
    }
    io.shard_index = i;
    io.shard_count = n;
  }
  auto mo = EncoderFlags(args);
  if (!mo.ok()) return UsageError(mo.status().message(), kIngestHelp);
  auto opened = OpenModelAndDb(args, *mo, true, false);
  if (!opened.ok()) return Fail(opened.status());
  Progress progress("ingest", 0);
  io.progress = [&](const IngestProgress& p) {
    progress.SetTotal(p.total);
    progress.Update(p.done);
  };
  auto summary = Ingest(*opened->db, *opened->model, args.positional()[0], io);
  if (!summary.ok()) return Fail(summary.status());
  progress.Finish();
  PrintSummary(*summary, args.Has("json"));
  return summary->failed ? 1 : 0;
}

int CmdReembed(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"db", "model", "out", "from", "jobs", "threads", "views", "json", "help"}, kReembedHelp, &exit)) {
    return exit;
  }
  if (args.Get("db").empty() || args.Get("model").empty()) return UsageError("--db and --model are required", kReembedHelp);
  ReembedOptions ro;
  const std::string from = args.Get("from", "auto");
  if (from == "auto") {
    ro.from = ReembedOptions::From::kAuto;
  } else if (from == "sources") {
    ro.from = ReembedOptions::From::kSources;
  } else if (from == "previews") {
    ro.from = ReembedOptions::From::kPreviews;
  } else {
    return UsageError("--from must be auto, sources or previews", kReembedHelp);
  }
  int64_t jobs;
  Status s = args.GetInt("jobs", 1, 1, 256, &jobs);
  if (!s.ok()) return UsageError(s.message(), kReembedHelp);
  ro.jobs = static_cast<int>(jobs);
  auto mo = EncoderFlags(args);
  if (!mo.ok()) return UsageError(mo.status().message(), kReembedHelp);
  const std::string out = args.Get("out");
  std::unique_ptr<Database> source;
  if (!out.empty()) {
    Options so;  // read-only use: no model check
    so.path = args.Get("db");
    auto src = Database::Open(so);
    if (!src.ok()) return Fail(src.status());
    source = std::move(*src);
  }
  auto opened = out.empty() ? OpenModelAndDb(args, *mo, false, true) : OpenModelAndDb(args, *mo, true, false, out);
  if (!opened.ok()) return Fail(opened.status());
  Progress progress("reembed", 0);
  ro.progress = [&](const IngestProgress& p) {
    progress.SetTotal(p.total);
    progress.Update(p.done);
  };
  auto summary = source ? ReembedInto(*source, *opened->db, *opened->model, ro)
                        : Reembed(*opened->db, *opened->model, ro);
  if (!summary.ok()) return Fail(summary.status());
  progress.Finish();
  PrintSummary(*summary, args.Has("json"));
  if (summary->failed == 0 && !args.Has("json")) {
    std::printf("database %s now holds model %s\n", (out.empty() ? args.Get("db") : out).c_str(),
                opened->model->id().c_str());
  }
  return summary->failed ? 1 : 0;
}

}  // namespace ctdb::cli
