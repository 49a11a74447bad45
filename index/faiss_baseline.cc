#include "index/faiss_baseline.h"

#include <exception>

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexShards.h>
#include <faiss/index_factory.h>

namespace ctdb::index {

FaissBaseline::FaissBaseline(std::unique_ptr<faiss::Index> index, std::vector<std::unique_ptr<faiss::Index>> shards)
    : shards_(std::move(shards)), index_(std::move(index)) {}
FaissBaseline::~FaissBaseline() = default;

namespace {

faiss::Index* Make(int d, const std::string& factory, int ef_search, int nprobe) {
  faiss::Index* ix = faiss::index_factory(d, factory.c_str(), faiss::METRIC_INNER_PRODUCT);
  if (auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(ix)) hnsw->hnsw.efSearch = ef_search;
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(ix)) ivf->nprobe = static_cast<size_t>(nprobe);
  return ix;
}

}  // namespace

Result<std::unique_ptr<FaissBaseline>> FaissBaseline::Create(size_t dimension, const std::string& factory,
                                                            int shards, int ef_search, int nprobe) {
  try {
    const int d = static_cast<int>(dimension);
    if (shards <= 1) {
      std::unique_ptr<faiss::Index> ix(Make(d, factory, ef_search, nprobe));
      return std::unique_ptr<FaissBaseline>(new FaissBaseline(std::move(ix), {}));
    }
    auto sharded = std::make_unique<faiss::IndexShards>(d, /*threaded=*/true, /*successive_ids=*/true);
    sharded->metric_type = faiss::METRIC_INNER_PRODUCT;
    std::vector<std::unique_ptr<faiss::Index>> parts;
    for (int i = 0; i < shards; ++i) {
      parts.emplace_back(Make(d, factory, ef_search, nprobe));
      sharded->add_shard(parts.back().get());
    }
    return std::unique_ptr<FaissBaseline>(new FaissBaseline(std::move(sharded), std::move(parts)));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("invalid index factory: ") + e.what());
  }
}

Status FaissBaseline::Add(const float* vectors, size_t n) {
  try {
    if (!index_->is_trained) index_->train(static_cast<faiss::Index::idx_t>(n), vectors);
    index_->add(static_cast<faiss::Index::idx_t>(n), vectors);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("FAISS add failed: ") + e.what());
  }
  return Status::Ok();
}

Status FaissBaseline::Search(const float* queries, size_t nq, size_t k, float* distances, int64_t* labels) const {
  try {
    index_->search(static_cast<faiss::Index::idx_t>(nq), queries, static_cast<faiss::Index::idx_t>(k), distances,
                   labels);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("FAISS search failed: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace ctdb::index
