#include <filesystem>

#include "api/src/database_impl.h"
#include "index/compute_config.h"

namespace ctdb {
namespace {

// Meta entry remembering the FAISS factory string the indexes use.
const char kMetaIndexFactory[] = "index_factory";

}  // namespace

DatabaseImpl::DatabaseImpl(Options options, std::unique_ptr<db::Store> store)
    : options_(std::move(options)), store_(std::move(store)) {
  for (auto& b : batchers_) b = std::make_unique<index::QueryBatcher>(store_->dimension());
}

DatabaseImpl::~DatabaseImpl() {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (writes_since_snapshot_ > 0) (void)SnapshotLocked();  // best effort; the oplog covers a failure
}

Result<std::unique_ptr<Database>> Database::Open(const Options& options) {
  if (options.blas_threshold < 1) return Status::InvalidArgument("blas_threshold must be >= 1");
  if (options.threads < 0) return Status::InvalidArgument("threads must be >= 0");
  if (!(options.exact_filter_max_fraction >= 0 && options.exact_filter_max_fraction <= 1)) {
    return Status::InvalidArgument("exact_filter_max_fraction must be in [0, 1]");
  }
  if (options.hnsw_ef_search < 1 || options.ivf_nprobe < 1) {
    return Status::InvalidArgument("hnsw_ef_search and ivf_nprobe must be >= 1");
  }
  // Validate the factory string before touching the disk.
  if (!options.index_factory.empty()) {
    index::VectorIndexOptions probe;
    probe.dimension = options.dimension ? options.dimension : 8;
    probe.factory = options.index_factory;
    auto ix = index::VectorIndex::Create(probe);
    if (!ix.ok()) return ix.status();
  }
  db::StoreOptions so;
  so.path = options.path;
  so.create_if_missing = options.create_if_missing;
  so.error_if_exists = options.error_if_exists;
  so.dimension = options.dimension;
  so.sync_writes = options.sync_writes;
  CTDB_ASSIGN_OR_RETURN(std::unique_ptr<db::Store> store, db::Store::Open(so));
  Options effective = options;
  auto stored_factory = store->GetMeta(kMetaIndexFactory);
  if (!stored_factory.ok() && !stored_factory.status().IsNotFound()) return stored_factory.status();
  if (effective.index_factory.empty()) effective.index_factory = stored_factory.ok() ? *stored_factory : "Flat";
  if (!stored_factory.ok() || *stored_factory != effective.index_factory) {
    CTDB_RETURN_IF_ERROR(store->PutMeta(kMetaIndexFactory, effective.index_factory));
  }
  CTDB_RETURN_IF_ERROR(ResolveModel(store.get(), &effective));
  index::ConfigureCompute(options.threads, options.blas_threshold);
  std::unique_ptr<DatabaseImpl> impl(new DatabaseImpl(effective, std::move(store)));
  CTDB_RETURN_IF_ERROR(impl->Recover());
  return std::unique_ptr<Database>(std::move(impl));
}

index::VectorIndexOptions DatabaseImpl::IndexOptions() const {
  index::VectorIndexOptions o;
  o.dimension = store_->dimension();
  o.factory = options_.index_factory;
  o.hnsw_ef_search = options_.hnsw_ef_search;
  o.ivf_nprobe = options_.ivf_nprobe;
  o.train_min_rows = options_.train_min_rows;
  o.exact_filter_max_fraction = options_.exact_filter_max_fraction;
  o.exact_filter_max_rows = options_.exact_filter_max_rows;
  return o;
}

std::string DatabaseImpl::SnapshotFile(VectorKind kind) const {
  return (std::filesystem::path(store_->path()) / "index" / (std::string(VectorKindName(kind)) + ".snapshot"))
      .string();
}

Result<std::unique_ptr<index::VectorIndex>> DatabaseImpl::RebuildFromStore(VectorKind kind) const {
  CTDB_ASSIGN_OR_RETURN(std::unique_ptr<index::VectorIndex> ix, index::VectorIndex::Create(IndexOptions()));
  const size_t d = store_->dimension();
  CTDB_RETURN_IF_ERROR(store_->ForEachVector(kind, [&](uint64_t row, const std::vector<float>& v) -> Status {
    if (v.size() != d) {
      return Status::Corruption(std::string(VectorKindName(kind)) + " vector of row " + std::to_string(row) +
                                " has dimension " + std::to_string(v.size()));
    }
    return ix->Add(row, v.data());
  }));
  // Train now if the factory needs it and there are enough rows.
  const index::VectorIndexStats stats = ix->Stats();
  if (!stats.trained && stats.live >= ix->TrainMinRows()) CTDB_RETURN_IF_ERROR(ix->Rebuild());
  return ix;
}

Status DatabaseImpl::Recover() {
  const uint64_t last = store_->last_sequence();
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(store_->path()) / "index", ec);
  if (ec) return Status::IOError("cannot create index directory under " + store_->path() + ": " + ec.message());

  // The oldest oplog entry still stored: a snapshot older than the trimmed
  // part cannot be brought up to date by replay.
  CTDB_ASSIGN_OR_RETURN(const uint64_t first_oplog, store_->FirstOplogSequence());

  bool rebuilt = false;
  uint64_t replayed = 0;
  uint64_t snapshot_seq = last;
  for (int k = 0; k < kNumVectorKinds; ++k) {
    const auto kind = static_cast<VectorKind>(k);
    uint64_t seq = 0;
    auto loaded = index::VectorIndex::Load(SnapshotFile(kind), IndexOptions(), &seq);
    const bool usable = loaded.ok() && seq <= last && (seq == last || (first_oplog != 0 && first_oplog <= seq + 1));
    if (!usable) {
      const std::string why = !loaded.ok() ? loaded.status().ToString()
                              : seq > last ? "snapshot is newer than the store"
                                           : "oplog no longer reaches back to the snapshot";
      recovery_.note += std::string(recovery_.note.empty() ? "" : "; ") + VectorKindName(kind) + " index: " + why;
    }
    if (usable) {
      indexes_[k] = std::move(loaded).value();
      // Replay the writes after the snapshot.
      CTDB_RETURN_IF_ERROR(store_->ForEachOplog(seq, [&](uint64_t, const db::OplogEntry& e) -> Status {
        ++replayed;
        index::VectorIndex& ix = *indexes_[k];
        if (e.op == db::OplogOp::kDelete) {
          if (ix.Contains(e.row)) return ix.Remove(e.row);
          return Status::Ok();
        }
        if (ix.Contains(e.row)) return Status::Ok();
        auto v = store_->GetVector(e.row, kind);
        if (v.status().IsNotFound()) return Status::Ok();  // deleted later, or no vector of this kind
        if (!v.ok()) return v.status();
        if (v->size() != store_->dimension()) return Status::Corruption("vector of row " + std::to_string(e.row) + " has the wrong dimension");
        return ix.Add(e.row, v->data());
      }));
      snapshot_seq = std::min(snapshot_seq, seq);
    } else {
      CTDB_ASSIGN_OR_RETURN(indexes_[k], RebuildFromStore(kind));
      rebuilt = true;
    }
  }

  CTDB_RETURN_IF_ERROR(store_->ForEachRecord([&](uint64_t row, const StudyRecord& rec) -> Status {
    attributes_.Set(row, rec);
    if (row >= row_keys_.size()) row_keys_.resize(row + 1);
    row_keys_[row] = rec.key;
    return Status::Ok();
  }));

  // Invariant: the image index serves exactly the stored studies.
  if (indexes_[0]->Stats().live != store_->study_count()) {
    CTDB_ASSIGN_OR_RETURN(indexes_[0], RebuildFromStore(VectorKind::kImage));
    CTDB_ASSIGN_OR_RETURN(indexes_[1], RebuildFromStore(VectorKind::kReport));
    rebuilt = true;
    recovery_.note += std::string(recovery_.note.empty() ? "" : "; ") + "image index disagreed with the store";
    if (indexes_[0]->Stats().live != store_->study_count()) {
      return Status::Corruption("database " + store_->path() + " holds " + std::to_string(store_->study_count()) +
                                " studies but " + std::to_string(indexes_[0]->Stats().live) + " image vectors");
    }
  }
  snapshot_sequence_ = rebuilt ? 0 : snapshot_seq;
  recovery_.rebuilt = rebuilt;
  recovery_.replayed = replayed;
  if (rebuilt || replayed > 0) {
    std::lock_guard<std::mutex> lock(write_mu_);
    CTDB_RETURN_IF_ERROR(SnapshotLocked());
  }
  return Status::Ok();
}

}  // namespace ctdb
