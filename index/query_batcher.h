// QueryBatcher: coalesces concurrent one-query searches into one multi-query
// call (group commit for reads). An exact scan is bound by memory bandwidth,
// and one pass over the vectors serves a whole batch almost as fast as one
// query, so concurrent clients share scans instead of repeating them. A lone
// caller runs at once; it never waits for company.
//
// Thread contract: Search may be called from any number of threads.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <vector>

#include "ctdb/status.h"
#include "index/vector_index.h"

namespace ctdb::index {

class QueryBatcher {
 public:
  // Runs nq queries (row-major nq x d) with k hits each into *out.
  using BatchFn = std::function<Status(const float* queries, size_t nq, size_t k,
                                       std::vector<std::vector<IndexHit>>* out)>;

  // max_batch: most queries per call. Default: 64.
  explicit QueryBatcher(size_t dimension, size_t max_batch = 64) : dimension_(dimension), max_batch_(max_batch) {}

  // Runs `query` (dimension floats) with k hits, possibly inside a batch
  // that another caller executes with its own `run`; all callers of one
  // batcher must pass equivalent functions. Returns the batch's status.
  Status Search(const float* query, size_t k, const BatchFn& run, std::vector<IndexHit>* out);

  // Calls that ran in a batch of more than one query (for stats and tests).
  uint64_t batched_queries() const;

 private:
  struct Pending {
    const float* query;
    size_t k;
    std::vector<IndexHit>* out;
    Status status;
    bool done = false;
  };

  // Constant after construction.
  const size_t dimension_;
  const size_t max_batch_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Pending*> queue_;  // guarded by mu_
  bool leader_active_ = false;   // guarded by mu_
  uint64_t batched_ = 0;         // guarded by mu_
};

}  // namespace ctdb::index
