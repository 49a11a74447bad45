#include "index/faiss_baseline.h"

#include <exception>

#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>

namespace ctdb::index {

FaissBaseline::FaissBaseline(std::unique_ptr<faiss::Index> index) : index_(std::move(index)) {}
FaissBaseline::~FaissBaseline() = default;

Result<std::unique_ptr<FaissBaseline>> FaissBaseline::Create(size_t dimension, const std::string& factory) {
  try {
    std::unique_ptr<faiss::Index> ix(
        faiss::index_factory(static_cast<int>(dimension), factory.c_str(), faiss::METRIC_INNER_PRODUCT));
    return std::unique_ptr<FaissBaseline>(new FaissBaseline(std::move(ix)));
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

Status FaissBaseline::Search(const float* queries, size_t nq, size_t k, int ef_search, int nprobe, float* distances,
                             int64_t* labels) const {
  try {
    const auto n = static_cast<faiss::Index::idx_t>(nq);
    const auto kk = static_cast<faiss::Index::idx_t>(k);
    if (dynamic_cast<const faiss::IndexHNSW*>(index_.get())) {
      faiss::SearchParametersHNSW p;
      p.efSearch = ef_search;
      index_->search(n, queries, kk, distances, labels, &p);
    } else if (dynamic_cast<const faiss::IndexIVF*>(index_.get())) {
      faiss::SearchParametersIVF p;
      p.nprobe = static_cast<size_t>(nprobe);
      index_->search(n, queries, kk, distances, labels, &p);
    } else {
      index_->search(n, queries, kk, distances, labels);
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("FAISS search failed: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace ctdb::index
