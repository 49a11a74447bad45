
#include "api/src/database_impl.h"
#include "api/src/normalize.h"

namespace ctdb {

Result<std::vector<SearchHit>> Database::Search(VectorKind kind, const std::vector<float>& query,
                                                const SearchOptions& options) const {
  if (query.size() != dimension()) {
    return Status::InvalidArgument("query has dimension " + std::to_string(query.size()) + ", database has " +
                                   std::to_string(dimension()));
  }
  CTDB_ASSIGN_OR_RETURN(auto lists, Search(kind, query.data(), 1, options));
  return std::move(lists[0]);
}

Result<Study> DatabaseImpl::Get(std::string_view key) const {
  CTDB_ASSIGN_OR_RETURN(uint64_t row, store_->LookupRow(key));
  return store_->GetStudy(row);
}

Result<StudyRecord> DatabaseImpl::GetRecord(std::string_view key) const {
  CTDB_ASSIGN_OR_RETURN(uint64_t row, store_->LookupRow(key));
  return store_->GetRecord(row);
}

Result<StudyVectors> DatabaseImpl::GetVectors(std::string_view key) const {
  CTDB_ASSIGN_OR_RETURN(uint64_t row, store_->LookupRow(key));
  CTDB_ASSIGN_OR_RETURN(Study s, store_->GetStudy(row, db::Store::kVectorsPart));
  return std::move(s.vectors);
}

Result<StudyVectors> DatabaseImpl::GetDiseaseVectors(std::string_view key) const {
  CTDB_ASSIGN_OR_RETURN(uint64_t row, store_->LookupRow(key));
  return store_->GetDiseaseVectors(row);
}

Result<Preview> DatabaseImpl::GetPreview(std::string_view key) const {
  CTDB_ASSIGN_OR_RETURN(uint64_t row, store_->LookupRow(key));
  CTDB_ASSIGN_OR_RETURN(Study s, store_->GetStudy(row, db::Store::kPreviewPart));
  if (s.preview.voxels.empty()) return Status::NotFound("study " + std::string(key) + " has no preview");
  return std::move(s.preview);
}

Result<std::vector<std::string>> DatabaseImpl::ListKeys(const ListOptions& options) const {
  return store_->ListKeys(options);
}

uint64_t DatabaseImpl::Count() const { return store_->study_count(); }

Result<std::vector<std::vector<SearchHit>>> DatabaseImpl::Search(VectorKind kind, const float* queries, size_t n,
                                                                 const SearchOptions& options) const {
  const size_t d = store_->dimension();
  const int k = static_cast<int>(kind);
  if (k < 0 || k >= kNumVectorKinds) return Status::InvalidArgument("unknown vector kind");
  if (queries == nullptr || n == 0) return Status::InvalidArgument("no query vectors");
  if (n > 100000) return Status::InvalidArgument("at most 100000 queries per call");
  if (options.k < 1 || options.k > 10000) return Status::InvalidArgument("k must be in [1, 10000]");
  if (options.offset > 100000) return Status::InvalidArgument("offset must be <= 100000");
  // Normalize the queries so scores are cosine similarities.
  std::vector<float> q(queries, queries + n * d);
  for (size_t i = 0; i < n; ++i) {
    CTDB_RETURN_IF_ERROR(NormalizeL2(&q[i * d], d, "query " + std::to_string(i), &q[i * d]));
  }
  const size_t want = options.k + options.offset;
  std::vector<std::vector<index::IndexHit>> hits;
  std::vector<std::vector<SearchHit>> out(n);
  std::shared_lock<RwLock> lock(index_mu_);
  if (options.filter.empty() && !options.exact && n == 1) {
    // Concurrent callers share one scan. Every member of a batch holds this
    // shared lock while it waits, so the index cannot change under the batch.
    const index::VectorIndex& ix = *indexes_[k];
    hits.resize(1);
    CTDB_RETURN_IF_ERROR(batchers_[k]->Search(
        q.data(), want,
        [&ix](const float* batch, size_t nq, size_t kk, std::vector<std::vector<index::IndexHit>>* results) {
          return ix.Search(batch, nq, kk, nullptr, false, results);
        },
        &hits[0]));
  } else if (options.filter.empty()) {
    CTDB_RETURN_IF_ERROR(indexes_[k]->Search(q.data(), n, want, nullptr, options.exact, &hits));
  } else {
    const index::Bitmap rows = attributes_.Select(options.filter);
    CTDB_RETURN_IF_ERROR(indexes_[k]->Search(q.data(), n, want, &rows, options.exact, &hits));
  }
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = options.offset; j < hits[i].size(); ++j) {
      const auto& h = hits[i][j];
      out[i].push_back({row_keys_[h.row], h.row, h.score});
    }
  }
  return out;
}

Result<DatabaseStats> DatabaseImpl::Stats() const {
  DatabaseStats s;
  s.studies = store_->study_count();
  s.dimension = store_->dimension();
  s.format_version = db::kFormatVersion;
  s.last_sequence = store_->last_sequence();
  s.disk_bytes = store_->ApproximateDiskBytes();
  auto model = store_->GetMeta("model_id");
  if (model.ok()) s.model_id = *model;
  auto pending = store_->GetMeta("model_pending");
  if (pending.ok()) s.model_pending = *pending;
  std::shared_lock<RwLock> lock(index_mu_);
  s.snapshot_sequence = snapshot_sequence_;
  s.recovery = recovery_;
  IndexStats* dst[] = {&s.image_index, &s.report_index};
  for (int k = 0; k < kNumVectorKinds; ++k) {
    const index::VectorIndexStats is = indexes_[k]->Stats();
    dst[k]->factory = is.factory;
    dst[k]->trained = is.trained;
    dst[k]->rows = is.positions;
    dst[k]->live = is.live;
    dst[k]->tombstones = is.tombstones;
    dst[k]->memory_bytes = is.memory_bytes;
  }
  return s;
}

}  // namespace ctdb
