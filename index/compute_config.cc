#include "index/compute_config.h"

#include <mutex>
#include <thread>

#include <faiss/utils/distances.h>
#include <omp.h>

// Present when the BLAS behind libblas.so is OpenBLAS; null otherwise.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace ctdb::index {

void ConfigureCompute(int threads, int blas_threshold) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(n);
  // ctdb splits scans across OpenMP threads itself; a multi-threaded BLAS
  // inside each slice would fight those threads for the cores.
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  faiss::distance_compute_blas_threshold = blas_threshold < 1 ? 1 : blas_threshold;
}

}  // namespace ctdb::index
