#include "index/vector_index.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/impl/HNSW.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/index_factory.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include "index/fast_flat.h"

namespace ctdb::index {
namespace {

using faiss_idx = faiss::Index::idx_t;

// Rows per block gathered for an exact subset scan: 8 MiB at d=512, so the
// block stays in L3 between the gather and the BLAS product.
constexpr size_t kGatherBlockRows = 4096;

// Positions that are live and (optionally) whose row passes a row filter.
// `base` shifts ids, for scans over a slice of the positions.
class LiveSelector : public faiss::IDSelector {
 public:
  LiveSelector(const Bitmap& tombstones, const Bitmap* rows, const std::vector<uint64_t>& pos_to_row,
               size_t base = 0)
      : tombstones_(tombstones), rows_(rows), pos_to_row_(pos_to_row), base_(base) {}
  bool is_member(idx_t id) const override {
    const size_t pos = base_ + static_cast<size_t>(id);
    if (tombstones_.Test(pos)) return false;
    return rows_ == nullptr || rows_->Test(pos_to_row_[pos]);
  }

 private:
  const Bitmap& tombstones_;
  const Bitmap* rows_;
  const std::vector<uint64_t>& pos_to_row_;
  const size_t base_;
};

// Positions per slice below which a scan is not split across threads.
constexpr size_t kMinSliceRows = 8192;

// Runs FAISS's OpenMP regions on the calling thread only, for this scope.
// One query gains nothing from a team, and concurrent callers would each
// start one and oversubscribe the cores. omp_set_num_threads is per thread.
class SingleThreadScope {
 public:
  explicit SingleThreadScope(bool active) : active_(active), saved_(omp_get_max_threads()) {
    if (active_) omp_set_num_threads(1);
  }
  ~SingleThreadScope() {
    if (active_) omp_set_num_threads(saved_);
  }

 private:
  bool active_;
  int saved_;
};

const faiss::IndexFlat* FlatStorage(const faiss::Index* index) {
  if (auto* flat = dynamic_cast<const faiss::IndexFlat*>(index)) return flat;
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index)) {
    return dynamic_cast<const faiss::IndexFlat*>(hnsw->storage);
  }
  return nullptr;
}

// Search-time settings that live inside the FAISS index itself. Set only
// while no search runs (creation, rebuild, load).
void ConfigureFaiss(faiss::Index* index, const VectorIndexOptions& o) {
  UseFastFlatStorage(index);  // HNSW distances through SIMD, not FAISS's scalar loop
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index)) hnsw->hnsw.efSearch = o.hnsw_ef_search;
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index)) ivf->nprobe = static_cast<size_t>(o.ivf_nprobe);
}

// Keeps the k best hits of a query across blocks.
void MergeTopK(std::vector<IndexHit>* hits, size_t k) {
  auto better = [](const IndexHit& a, const IndexHit& b) {
    return a.score > b.score || (a.score == b.score && a.row < b.row);
  };
  if (hits->size() > k) {
    std::nth_element(hits->begin(), hits->begin() + static_cast<long>(k), hits->end(), better);
    hits->resize(k);
  }
  std::sort(hits->begin(), hits->end(), better);
}

Status FaissError(const std::exception& e, std::string_view what) {
  return Status::Internal(std::string("FAISS failed ") + std::string(what) + ": " + e.what());
}

}  // namespace

VectorIndex::VectorIndex(VectorIndexOptions options, std::unique_ptr<faiss::Index> index)
    : options_(std::move(options)), index_(std::move(index)) {}

VectorIndex::~VectorIndex() = default;

Result<std::unique_ptr<VectorIndex>> VectorIndex::Create(const VectorIndexOptions& options) {
  if (options.dimension == 0) return Status::InvalidArgument("index dimension must be > 0");
  if (options.factory.empty()) return Status::InvalidArgument("index factory string is empty");
  if (options.hnsw_ef_search < 1 || options.ivf_nprobe < 1) {
    return Status::InvalidArgument("hnsw_ef_search and ivf_nprobe must be >= 1");
  }
  if (!(options.exact_filter_max_fraction >= 0 && options.exact_filter_max_fraction <= 1)) {
    return Status::InvalidArgument("exact_filter_max_fraction must be in [0, 1]");
  }
  if (options.factory.find("IDMap") != std::string::npos) {
    return Status::InvalidArgument("index factory '" + options.factory +
                                   "': IDMap is not supported (ctdb maps ids itself)");
  }
  std::unique_ptr<faiss::Index> index;
  try {
    index.reset(faiss::index_factory(static_cast<int>(options.dimension), options.factory.c_str(),
                                     faiss::METRIC_INNER_PRODUCT));
  } catch (const std::exception& e) {
    return Status::InvalidArgument("invalid index factory string '" + options.factory + "': " + e.what());
  }
  ConfigureFaiss(index.get(), options);
  return std::unique_ptr<VectorIndex>(new VectorIndex(options, std::move(index)));
}

bool VectorIndex::KeepsRaw() const { return FlatStorage(index_.get()) == nullptr; }

const float* VectorIndex::ExactData() const {
  if (const faiss::IndexFlat* flat = FlatStorage(index_.get())) return flat->get_xb();
  return raw_.data();
}

size_t VectorIndex::TrainMinRows() const {
  if (options_.train_min_rows) return options_.train_min_rows;
  size_t nlist = 0;
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get())) nlist = ivf->nlist;
  return std::max<size_t>(10000, 40 * nlist);
}

bool VectorIndex::Contains(uint64_t row) const {
  return row < row_to_pos_.size() && row_to_pos_[row] >= 0;
}

Status VectorIndex::Add(uint64_t row, const float* vector) {
  if (row < row_to_pos_.size() && row_to_pos_[row] != -1) {
    return Status::InvalidArgument("row " + std::to_string(row) + " is already in the index");
  }
  const size_t d = options_.dimension;
  const size_t pos = pos_to_row_.size();
  if (index_->is_trained) {
    try {
      index_->add(1, vector);
    } catch (const std::exception& e) {
      return FaissError(e, "adding a vector");
    }
  }
  if (KeepsRaw()) raw_.insert(raw_.end(), vector, vector + d);
  pos_to_row_.push_back(row);
  if (row >= row_to_pos_.size()) row_to_pos_.resize(row + 1, -1);
  row_to_pos_[row] = static_cast<int64_t>(pos);
  tombstones_.Resize(pos + 1);
  return Status::Ok();
}

Status VectorIndex::Remove(uint64_t row) {
  if (!Contains(row)) return Status::NotFound("row " + std::to_string(row) + " is not in the index");
  tombstones_.Set(static_cast<size_t>(row_to_pos_[row]));
  row_to_pos_[row] = -1;
  ++num_tombstones_;
  return Status::Ok();
}

Status VectorIndex::Search(const float* queries, size_t nq, size_t k, const Bitmap* rows, bool exact,
                           std::vector<std::vector<IndexHit>>* out) const {
  out->assign(nq, {});
  const size_t live = pos_to_row_.size() - num_tombstones_;
  if (nq == 0 || k == 0 || live == 0) return Status::Ok();
  if (rows == nullptr) {
    return SearchFaiss(queries, nq, k, nullptr, 1.0, exact || !index_->is_trained, out);
  }
  // Candidate positions of the filter, in row order.
  std::vector<int64_t> positions;
  const size_t nrows = std::min(rows->size(), row_to_pos_.size());
  const uint8_t* bytes = rows->data();
  for (size_t byte = 0; byte * 8 < nrows; ++byte) {
    if (!bytes[byte]) continue;
    for (size_t r = byte * 8; r < std::min(nrows, byte * 8 + 8); ++r) {
      if (rows->Test(r) && row_to_pos_[r] >= 0) positions.push_back(row_to_pos_[r]);
    }
  }
  if (positions.empty()) return Status::Ok();
  const double fraction = static_cast<double>(positions.size()) / static_cast<double>(live);
  const bool selective = positions.size() <= options_.exact_filter_max_rows ||
                         fraction <= options_.exact_filter_max_fraction;
  if (exact || selective || !index_->is_trained) {
    return SearchExactSubset(queries, nq, k, positions, out);
  }
  return SearchFaiss(queries, nq, k, rows, fraction, false, out);
}

Status VectorIndex::SearchExactSubset(const float* queries, size_t nq, size_t k,
                                      const std::vector<int64_t>& positions,
                                      std::vector<std::vector<IndexHit>>* out) const {
  const size_t d = options_.dimension;
  const float* data = ExactData();
  const size_t block = std::min(kGatherBlockRows, positions.size());
  std::vector<float> gathered(block * d);
  const size_t kb = std::min(k, block);
  std::vector<float> dis(nq * kb);
  std::vector<int64_t> ids(nq * kb);
  try {
    for (size_t b0 = 0; b0 < positions.size(); b0 += block) {
      const size_t nb = std::min(block, positions.size() - b0);
      for (size_t i = 0; i < nb; ++i) {
        std::copy_n(data + static_cast<size_t>(positions[b0 + i]) * d, d, gathered.data() + i * d);
      }
      const size_t kk = std::min(k, nb);
      faiss::knn_inner_product(queries, gathered.data(), d, nq, nb, kk, dis.data(), ids.data());
      for (size_t q = 0; q < nq; ++q) {
        auto& hits = (*out)[q];
        for (size_t j = 0; j < kk; ++j) {
          const int64_t local = ids[q * kk + j];
          if (local < 0) continue;
          hits.push_back({pos_to_row_[static_cast<size_t>(positions[b0 + static_cast<size_t>(local)])],
                          dis[q * kk + j]});
        }
        if (hits.size() > 4 * k) MergeTopK(&hits, k);
      }
    }
  } catch (const std::exception& e) {
    return FaissError(e, "in an exact scan");
  }
  for (auto& hits : *out) MergeTopK(&hits, k);
  return Status::Ok();
}

Status VectorIndex::SearchFaiss(const float* queries, size_t nq, size_t k, const Bitmap* rows, double fraction,
                                bool exact, std::vector<std::vector<IndexHit>>* out) const {
  const size_t npos = pos_to_row_.size();
  const bool need_selector = rows != nullptr || num_tombstones_ > 0;
  const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get());
  const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get());
  // Other index types may reject a selector: scan those exactly when one is needed.
  if (exact || FlatStorage(index_.get()) == index_.get() || (need_selector && !hnsw && !ivf)) {
    return ScanAll(queries, nq, k, rows, out);
  }
  LiveSelector selector(tombstones_, rows, pos_to_row_);
  std::vector<float> dis(nq * k);
  std::vector<faiss_idx> labels(nq * k, -1);
  const auto n = static_cast<faiss_idx>(nq);
  const auto kk = static_cast<faiss_idx>(k);
  SingleThreadScope single(nq == 1);
  try {
    if (hnsw) {
      // FAISS 1.7.3's HNSW takes efSearch from the index, not from these
      // params (fixed upstream in 1.8), and a larger k does not widen its
      // beam: filtered HNSW recall rests on hnsw_ef_search and on the exact
      // fallback for selective filters.
      faiss::SearchParametersHNSW params;
      params.efSearch = options_.hnsw_ef_search;
      params.sel = need_selector ? &selector : nullptr;
      index_->search(n, queries, kk, dis.data(), labels.data(), &params);
    } else if (ivf) {
      // Probe more lists when the selector passes few of the positions.
      const double pass =
          std::max(fraction * static_cast<double>(npos - num_tombstones_) / static_cast<double>(npos), 1e-4);
      faiss::SearchParametersIVF params;
      params.sel = need_selector ? &selector : nullptr;
      params.nprobe = static_cast<size_t>(std::min<double>(options_.ivf_nprobe / pass, static_cast<double>(ivf->nlist)));
      index_->search(n, queries, kk, dis.data(), labels.data(), &params);
    } else {
      index_->search(n, queries, kk, dis.data(), labels.data());
    }
  } catch (const std::exception& e) {
    return FaissError(e, "searching");
  }
  for (size_t q = 0; q < nq; ++q) {
    auto& hits = (*out)[q];
    for (size_t j = 0; j < k; ++j) {
      const faiss_idx pos = labels[q * k + j];
      if (pos < 0 || static_cast<size_t>(pos) >= npos) continue;
      hits.push_back({pos_to_row_[static_cast<size_t>(pos)], dis[q * k + j]});
    }
  }
  return Status::Ok();
}

void VectorIndex::ApplySearchSettings() { ConfigureFaiss(index_.get(), options_); }

Status VectorIndex::ScanAll(const float* queries, size_t nq, size_t k, const Bitmap* rows,
                            std::vector<std::vector<IndexHit>>* out) const {
  // The positions are cut into one slice per thread and each slice is scanned
  // by FAISS (BLAS path, single-threaded BLAS), as faiss::IndexShards would:
  // one query then reads memory on every core instead of one.
  const size_t d = options_.dimension;
  const size_t npos = pos_to_row_.size();
  const float* data = ExactData();
  const bool need_selector = rows != nullptr || num_tombstones_ > 0;
  const size_t threads = static_cast<size_t>(std::max(1, omp_get_max_threads()));
  const size_t slices = std::max<size_t>(1, std::min(threads, npos / kMinSliceRows));
  const size_t kk = std::min(k, npos);
  std::vector<float> dis(slices * nq * kk);
  std::vector<faiss_idx> labels(slices * nq * kk, -1);
  std::vector<std::string> errors(slices);
  // FAISS opens its own parallel region inside each slice. Nested teams are
  // not pooled by libgomp: with nesting on (LibTorch turns it on), every
  // query created threads and, on busy cores, stalled for up to seconds.
  // The slices are the parallelism; FAISS runs single-threaded inside.
  omp_set_max_active_levels(1);
  // One slice and one query: FAISS would still open a team (it splits over
  // queries), one thread working and the other waiting at the barrier — on
  // busy cores that wait spun for minutes over a 1,000-query eval.
  SingleThreadScope single(slices == 1 && nq == 1);
#pragma omp parallel for num_threads(static_cast<int>(slices)) schedule(static, 1) if (slices > 1)
  for (size_t sl = 0; sl < slices; ++sl) {
    const size_t lo = npos * sl / slices, hi = npos * (sl + 1) / slices;
    LiveSelector selector(tombstones_, rows, pos_to_row_, lo);
    try {
      faiss::knn_inner_product(queries, data + lo * d, d, nq, hi - lo, kk, &dis[sl * nq * kk],
                               &labels[sl * nq * kk], need_selector ? &selector : nullptr);
    } catch (const std::exception& e) {
      errors[sl] = e.what();
    }
  }
  for (const auto& e : errors) {
    if (!e.empty()) return Status::Internal("FAISS failed in an exact scan: " + e);
  }
  for (size_t q = 0; q < nq; ++q) {
    auto& hits = (*out)[q];
    for (size_t sl = 0; sl < slices; ++sl) {
      const size_t lo = npos * sl / slices;
      for (size_t j = 0; j < kk; ++j) {
        const faiss_idx local = labels[(sl * nq + q) * kk + j];
        if (local < 0) continue;
        hits.push_back({pos_to_row_[lo + static_cast<size_t>(local)], dis[(sl * nq + q) * kk + j]});
      }
    }
    MergeTopK(&hits, k);
  }
  return Status::Ok();
}

Status VectorIndex::Rebuild() {
  const size_t d = options_.dimension;
  const float* data = ExactData();
  std::vector<uint64_t> rows;
  std::vector<float> live;
  rows.reserve(pos_to_row_.size() - num_tombstones_);
  live.reserve(rows.capacity() * d);
  for (size_t pos = 0; pos < pos_to_row_.size(); ++pos) {
    if (tombstones_.Test(pos)) continue;
    rows.push_back(pos_to_row_[pos]);
    live.insert(live.end(), data + pos * d, data + (pos + 1) * d);
  }
  std::unique_ptr<faiss::Index> fresh;
  try {
    fresh.reset(faiss::index_factory(static_cast<int>(d), options_.factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    ConfigureFaiss(fresh.get(), options_);
    if (!fresh->is_trained && rows.size() >= TrainMinRows()) {
      // Train on an evenly spaced sample of at most 100k vectors.
      const size_t n = rows.size(), step = std::max<size_t>(1, n / 100000);
      std::vector<float> sample;
      for (size_t i = 0; i < n; i += step) sample.insert(sample.end(), &live[i * d], &live[(i + 1) * d]);
      fresh->train(static_cast<faiss_idx>(sample.size() / d), sample.data());
    }
    if (fresh->is_trained && !rows.empty()) fresh->add(static_cast<faiss_idx>(rows.size()), live.data());
  } catch (const std::exception& e) {
    return FaissError(e, "rebuilding the index");
  }
  index_ = std::move(fresh);
  raw_.clear();
  if (KeepsRaw()) raw_ = std::move(live);
  raw_.shrink_to_fit();
  std::fill(row_to_pos_.begin(), row_to_pos_.end(), -1);
  for (size_t pos = 0; pos < rows.size(); ++pos) row_to_pos_[rows[pos]] = static_cast<int64_t>(pos);
  pos_to_row_ = std::move(rows);
  tombstones_ = Bitmap(pos_to_row_.size());
  num_tombstones_ = 0;
  return Status::Ok();
}

VectorIndexStats VectorIndex::Stats() const {
  VectorIndexStats s;
  s.factory = options_.factory;
  s.trained = index_->is_trained;
  s.positions = pos_to_row_.size();
  s.tombstones = num_tombstones_;
  s.live = s.positions - s.tombstones;
  const size_t d = options_.dimension;
  uint64_t bytes = raw_.capacity() * sizeof(float) + pos_to_row_.capacity() * 8 + row_to_pos_.capacity() * 8 +
                   tombstones_.MemoryBytes();
  if (const faiss::IndexFlat* flat = FlatStorage(index_.get())) bytes += flat->codes.capacity();
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index_.get())) {
    const auto& g = hnsw->hnsw;
    bytes += g.neighbors.capacity() * sizeof(g.neighbors[0]) + g.offsets.capacity() * sizeof(g.offsets[0]) +
             g.levels.capacity() * sizeof(g.levels[0]) + g.assign_probas.capacity() * sizeof(double);
  } else if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index_.get())) {
    bytes += ivf->ntotal * (ivf->code_size + sizeof(faiss_idx)) + ivf->nlist * d * sizeof(float);
  }
  s.memory_bytes = bytes;
  return s;
}

}  // namespace ctdb::index
