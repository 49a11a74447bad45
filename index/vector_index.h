// VectorIndex: one searchable set of vectors (e.g. all image embeddings),
// FAISS behind one interface. The only place FAISS is used besides
// faiss_baseline.cc (the benchmark's reference).
//
// Rows are the database's row numbers. Inside FAISS a vector is known by its
// position (add order); pos_to_row_ maps back, so compaction can drop
// tombstones without renumbering rows. No IndexIDMap: FAISS 1.7.3 rejects
// SearchParameters on it. Deletes are tombstones honoured through an
// IDSelector; Rebuild() drops them. Scores are inner products (vectors are
// L2-normalized by the caller, so scores are cosine similarities).
//
// Thread contract: const methods (Search, Save, stats) may run concurrently
// with each other; Add/Remove/Rebuild need exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctdb/result.h"
#include "index/bitmap.h"

namespace faiss {
struct Index;
}

namespace ctdb::index {

struct VectorIndexOptions {
  size_t dimension = 0;           // required
  std::string factory = "Flat";   // FAISS index_factory string
  int hnsw_ef_search = 256;
  int ivf_nprobe = 32;
  size_t train_min_rows = 0;      // 0 = max(10000, 40 x IVF lists)
  double exact_filter_max_fraction = 0.2;
  size_t exact_filter_max_rows = 20000;
};

struct IndexHit {
  uint64_t row = 0;
  float score = 0;  // inner product; higher is closer
};

struct VectorIndexStats {
  std::string factory;
  bool trained = true;
  uint64_t positions = 0;   // vectors held, tombstones included
  uint64_t live = 0;
  uint64_t tombstones = 0;
  uint64_t memory_bytes = 0;
};

class VectorIndex {
 public:
  // InvalidArgument for a bad factory string or dimension.
  static Result<std::unique_ptr<VectorIndex>> Create(const VectorIndexOptions& options);

  // Loads a snapshot written by Save. Returns the oplog sequence it contains
  // in *sequence. Corruption for bad bytes; FailedPrecondition when it was
  // built with another factory string or dimension (the caller rebuilds).
  static Result<std::unique_ptr<VectorIndex>> Load(const std::string& file, const VectorIndexOptions& options,
                                                   uint64_t* sequence);

  ~VectorIndex();
  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Adds the vector (dimension floats) of `row`. InvalidArgument if the row
  // is already present.
  Status Add(uint64_t row, const float* vector);
  // Tombstones `row`. NotFound if it is not present.
  Status Remove(uint64_t row);
  bool Contains(uint64_t row) const;

  // For each of nq queries (row-major nq x dimension), up to k hits sorted by
  // descending score. `rows` (nullable) restricts hits to rows whose bit is
  // set. A selective filter, an untrained index or `exact` scans the
  // candidate vectors exactly. Fewer than k hits only when fewer rows match.
  Status Search(const float* queries, size_t nq, size_t k, const Bitmap* rows, bool exact,
                std::vector<std::vector<IndexHit>>* out) const;

  // Rebuilds FAISS state from the live vectors (dropping tombstones), training
  // first when the factory needs it and enough rows exist.
  Status Rebuild();

  // Writes a snapshot atomically (temp file + fsync + rename), recording the
  // oplog sequence it contains.
  Status Save(const std::string& file, uint64_t sequence) const;

  VectorIndexStats Stats() const;
  size_t dimension() const { return options_.dimension; }
  // Rows needed before Rebuild() trains an index that needs training.
  size_t TrainMinRows() const;

 private:
  VectorIndex(VectorIndexOptions options, std::unique_ptr<faiss::Index> index);
  // Contiguous vectors by position: FAISS's own storage when it keeps floats
  // (Flat, HNSW-Flat), else raw_.
  const float* ExactData() const;
  bool KeepsRaw() const;
  // Re-applies efSearch / nprobe from options_ to the FAISS index.
  void ApplySearchSettings();
  Status SearchExactSubset(const float* queries, size_t nq, size_t k, const std::vector<int64_t>& positions,
                           std::vector<std::vector<IndexHit>>* out) const;
  // Exact scan of every live position, split across threads.
  Status ScanAll(const float* queries, size_t nq, size_t k, const Bitmap* rows,
                 std::vector<std::vector<IndexHit>>* out) const;
  Status SearchFaiss(const float* queries, size_t nq, size_t k, const Bitmap* rows, double fraction,
                     bool exact, std::vector<std::vector<IndexHit>>* out) const;
  friend class SnapshotIo;

  // Constant after construction.
  const VectorIndexOptions options_;
  // Guarded by the caller's lock (see thread contract).
  std::unique_ptr<faiss::Index> index_;
  std::vector<float> raw_;            // positions x dimension, when !FAISS flat storage
  std::vector<uint64_t> pos_to_row_;
  std::vector<int64_t> row_to_pos_;   // -1: absent or removed
  Bitmap tombstones_;                 // over positions
  size_t num_tombstones_ = 0;
};

}  // namespace ctdb::index
