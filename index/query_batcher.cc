#include "index/query_batcher.h"

#include <algorithm>

namespace ctdb::index {

Status QueryBatcher::Search(const float* query, size_t k, const BatchFn& run, std::vector<IndexHit>* out) {
  Pending me{query, k, out, Status::Ok()};
  std::unique_lock<std::mutex> lock(mu_);
  queue_.push_back(&me);
  while (!me.done) {
    if (leader_active_) {
      cv_.wait(lock);
      continue;
    }
    // Lead: take what is queued (this call included) and run it as one call.
    leader_active_ = true;
    const size_t take = std::min(queue_.size(), max_batch_);
    std::vector<Pending*> batch(queue_.begin(), queue_.begin() + static_cast<long>(take));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<long>(take));
    if (batch.size() > 1) batched_ += batch.size();
    lock.unlock();

    size_t kmax = 0;
    std::vector<float> queries(batch.size() * dimension_);
    for (size_t i = 0; i < batch.size(); ++i) {
      std::copy_n(batch[i]->query, dimension_, queries.data() + i * dimension_);
      kmax = std::max(kmax, batch[i]->k);
    }
    std::vector<std::vector<IndexHit>> results;
    const Status st = run(queries.data(), batch.size(), kmax, &results);
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i]->status = st;
      if (st.ok()) {
        *batch[i]->out = std::move(results[i]);
        if (batch[i]->out->size() > batch[i]->k) batch[i]->out->resize(batch[i]->k);
      }
    }

    lock.lock();
    for (Pending* p : batch) p->done = true;
    leader_active_ = false;
    cv_.notify_all();
  }
  return me.status;
}

uint64_t QueryBatcher::batched_queries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return batched_;
}

}  // namespace ctdb::index
