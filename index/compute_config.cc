#include "index/compute_config.h"

#include <mutex>
#include <thread>

#include <faiss/utils/distances.h>
#include <omp.h>

namespace ctdb::index {

void ConfigureCompute(int threads, int blas_threshold) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(n);
  faiss::distance_compute_blas_threshold = blas_threshold < 1 ? 1 : blas_threshold;
}

}  // namespace ctdb::index
