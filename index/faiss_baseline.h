// FaissBaseline: a bare FAISS index with no ctdb layer on top, so benchmarks
// can time ctdb against raw FAISS on an identical index in the same run.
// Not used by the database itself.
//
// Thread contract: Search may run concurrently; Add needs exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "ctdb/result.h"

namespace faiss {
struct Index;
}

namespace ctdb::index {

class FaissBaseline {
 public:
  // Same factory string and metric (inner product) the database uses.
  static Result<std::unique_ptr<FaissBaseline>> Create(size_t dimension, const std::string& factory);
  ~FaissBaseline();

  // Trains (if needed) on and adds n vectors (row-major n x dimension).
  Status Add(const float* vectors, size_t n);
  // Plain faiss::Index::search; HNSW/IVF get ef_search / nprobe.
  Status Search(const float* queries, size_t nq, size_t k, int ef_search, int nprobe, float* distances,
                int64_t* labels) const;

 private:
  explicit FaissBaseline(std::unique_ptr<faiss::Index> index);
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace ctdb::index
