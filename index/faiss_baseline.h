// FaissBaseline: a bare FAISS index with no ctdb layer on top, so benchmarks
// can time ctdb against raw FAISS on an identical index in the same run.
// Not used by the database itself.
//
// Thread contract: Search may run concurrently; Add needs exclusive access.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctdb/result.h"

namespace faiss {
struct Index;
}

namespace ctdb::index {

class FaissBaseline {
 public:
  // Same factory string and metric (inner product) the database uses. With
  // shards > 1: a threaded faiss::IndexShards of that many such indexes,
  // FAISS's own way to spread one query over several cores.
  // ef_search / nprobe are set on the index itself (FAISS 1.7.3's HNSW
  // ignores them in SearchParameters).
  static Result<std::unique_ptr<FaissBaseline>> Create(size_t dimension, const std::string& factory, int shards,
                                                       int ef_search, int nprobe);
  ~FaissBaseline();

  // Trains (if needed) on and adds n vectors (row-major n x dimension).
  Status Add(const float* vectors, size_t n);
  // Plain faiss::Index::search: k results per query, row-major.
  Status Search(const float* queries, size_t nq, size_t k, float* distances, int64_t* labels) const;

 private:
  FaissBaseline(std::unique_ptr<faiss::Index> index, std::vector<std::unique_ptr<faiss::Index>> shards);
  std::vector<std::unique_ptr<faiss::Index>> shards_;  // owned sub-indexes of index_, if sharded
  std::unique_ptr<faiss::Index> index_;
};

}  // namespace ctdb::index
