// Ingest and re-embed: a three-stage pipeline.
//   readers (jobs threads)  load the volume, preview, preprocess, split the report
//   encoder (1 thread)      forward passes (LibTorch uses the cores inside)
//   writer  (caller thread) Database::Put, failures, progress
// Bounded queues between the stages keep memory flat; a failed study
// travels down the pipeline as a status, so only the writer touches the
// summary and calls progress.
#include "ctdb/ingest.h"

#include <atomic>
#include <chrono>
#include <map>
#include <optional>
#include <thread>

#include "api/src/ingest_sources.h"
#include "api/src/study_pipeline.h"
#include "api/src/work_queue.h"

namespace ctdb {
namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Work {
  size_t index = 0;
  Status status;                    // not OK: failed in an earlier stage
  std::optional<PreparedStudy> prepared;
};

Status Guarded(const std::function<Status()>& fn) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("unexpected error: ") + e.what());
  }
}

Status CheckModel(Database& db, Model& model, bool reembed) {
  if (db.dimension() != model.info().dimension) {
    return Status::FailedPrecondition("database dimension " + std::to_string(db.dimension()) + " differs from model " +
                                      model.id() + "'s " + std::to_string(model.info().dimension) +
                                      (reembed ? "; re-embed into a new database instead (ctdb reembed --out NEWDB)" : ""));
  }
  CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db.Stats());
  const std::string& active = st.model_pending.empty() ? st.model_id : st.model_pending;
  if (reembed && st.model_pending.empty() && st.model_id == model.id()) return Status::Ok();
  if (reembed && st.model_pending != model.id()) {
    return Status::FailedPrecondition("open the database with change_model and model_id " + model.id() + " to re-embed");
  }
  if (!reembed && !st.model_pending.empty()) {
    return Status::FailedPrecondition("a re-embed to model " + st.model_pending + " is pending; finish it first");
  }
  if (active != model.id()) {
    return Status::FailedPrecondition("database is not open for model " + model.id() +
                                      " (open it with Options::model_id = Model::id())");
  }
  return Status::Ok();
}

Status CheckPipelineOptions(int jobs, int queue) {
  if (jobs < 1 || jobs > 256) return Status::InvalidArgument("jobs must be in [1, 256]");
  if (queue < 1) return Status::InvalidArgument("queue must be >= 1");
  return Status::Ok();
}

void RunPipeline(Database& db, Model& model, std::vector<SourceItem>& items, int jobs, int queue,
                 const std::function<void(const IngestProgress&)>& progress, IngestSummary* summary) {
  embed::Encoder& encoder = EncoderOf(model);
  const embed::ModelManifest& manifest = encoder.manifest();
  const double start = Now();
  summary->discovered = items.size();
  WorkQueue<Work> to_encode(static_cast<size_t>(std::max(queue, 1)));
  WorkQueue<Work> to_write(2);
  std::atomic<size_t> next{0};
  std::atomic<int> readers_left{std::max(jobs, 1)};
  std::mutex time_mu;
  double read_seconds = 0, encode_seconds = 0;

  std::vector<std::thread> readers;
  for (int t = 0; t < std::max(jobs, 1); ++t) {
    readers.emplace_back([&] {
      double busy = 0;
      for (size_t i; (i = next.fetch_add(1)) < items.size();) {
        const double t0 = Now();
        SourceItem& item = items[i];
        Work w;
        w.index = i;
        w.status = item.problem;
        if (w.status.ok()) {
          w.status = Guarded([&] {
            StudyRecord record = item.record;
            embed::Volume volume;
            Preview keep;
            CTDB_RETURN_IF_ERROR(item.load(&record, &volume, &keep));
            const bool have_preview = !keep.voxels.empty();
            CTDB_ASSIGN_OR_RETURN(PreparedStudy p, PrepareStudy(volume, std::move(record), manifest, !have_preview));
            if (have_preview) p.study.preview = std::move(keep);
            w.prepared = std::move(p);
            return Status::Ok();
          });
        }
        busy += Now() - t0;
        to_encode.Push(std::move(w));
      }
      {
        std::lock_guard<std::mutex> lock(time_mu);
        read_seconds += busy;
      }
      if (readers_left.fetch_sub(1) == 1) to_encode.Close();
    });
  }

  std::thread encoder_thread([&] {
    Work w;
    while (to_encode.Pop(&w)) {
      if (w.status.ok()) {
        const double t0 = Now();
        w.status = Guarded([&] { return EncodePrepared(encoder, &*w.prepared); });
        encode_seconds += Now() - t0;
      }
      to_write.Push(std::move(w));
    }
    to_write.Close();
  });

  // Writer: the caller's thread.
  std::map<std::string, size_t> written;  // key -> item index, this run
  IngestProgress pr;
  pr.total = items.size();
  Work w;
  while (to_write.Pop(&w)) {
    const SourceItem& item = items[w.index];
    std::string key = w.prepared ? w.prepared->study.record.key : item.record.key;
    if (w.status.ok()) {
      auto seen = written.find(key);
      if (seen != written.end()) {
        w.status = Status::AlreadyExists("key '" + key + "' also comes from " + items[seen->second].source +
                                         " in this ingest; keeping that one");
      }
    }
    if (w.status.ok()) {
      const double t0 = Now();
      const bool existed = db.GetRecord(key).ok();
      w.status = db.Put(w.prepared->study);
      summary->write_seconds += Now() - t0;
      if (w.status.ok()) {
        written[key] = w.index;
        ++summary->ingested;
        summary->replaced += existed;
      }
    }
    if (!w.status.ok()) {
      ++summary->failed;
      summary->failures.push_back({item.source, key, w.status});
    }
    w.prepared.reset();
    ++pr.done;
    pr.failed = summary->failed;
    if (progress) progress(pr);
  }
  encoder_thread.join();
  for (auto& t : readers) t.join();
  summary->read_seconds = read_seconds;
  summary->encode_seconds = encode_seconds;
  summary->seconds = Now() - start;
}

}  // namespace

Result<IngestSummary> Ingest(Database& db, Model& model, const std::string& path, const IngestOptions& options) {
  CTDB_RETURN_IF_ERROR(CheckPipelineOptions(options.jobs, options.queue));
  if (options.shard_count < 1 || options.shard_index < 0 || options.shard_index >= options.shard_count) {
    return Status::InvalidArgument("shard must be i/n with 0 <= i < n");
  }
  CTDB_RETURN_IF_ERROR(CheckModel(db, model, false));
  IngestSummary summary;
  CTDB_ASSIGN_OR_RETURN(std::vector<SourceItem> all, DiscoverSources(path, options, &summary.format));
  std::vector<SourceItem> items;
  for (size_t i = 0; i < all.size(); ++i) {
    if (static_cast<int>(i % static_cast<size_t>(options.shard_count)) == options.shard_index) {
      items.push_back(std::move(all[i]));
    }
  }
  RunPipeline(db, model, items, options.jobs, options.queue, options.progress, &summary);
  return summary;
}

Result<IngestSummary> Reembed(Database& db, Model& model, const ReembedOptions& options) {
  CTDB_RETURN_IF_ERROR(CheckPipelineOptions(options.jobs, options.queue));
  CTDB_RETURN_IF_ERROR(CheckModel(db, model, true));
  IngestSummary summary;
  summary.format = "database";
  CTDB_ASSIGN_OR_RETURN(std::vector<SourceItem> items,
                        ReembedSources(db, db, model.id(), options.from, &summary.skipped));
  RunPipeline(db, model, items, options.jobs, options.queue, options.progress, &summary);
  if (summary.failed == 0) {
    CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db.Stats());
    if (!st.model_pending.empty()) CTDB_RETURN_IF_ERROR(db.FinishModelChange());
  }
  return summary;
}

Result<IngestSummary> ReembedInto(const Database& source, Database& target, Model& model,
                                  const ReembedOptions& options) {
  CTDB_RETURN_IF_ERROR(CheckPipelineOptions(options.jobs, options.queue));
  if (&source == &target) return Status::InvalidArgument("ReembedInto needs two databases; use Reembed");
  CTDB_RETURN_IF_ERROR(CheckModel(target, model, false));
  IngestSummary summary;
  summary.format = "database";
  CTDB_ASSIGN_OR_RETURN(std::vector<SourceItem> items,
                        ReembedSources(source, target, model.id(), options.from, &summary.skipped));
  RunPipeline(target, model, items, options.jobs, options.queue, options.progress, &summary);
  return summary;
}

}  // namespace ctdb
