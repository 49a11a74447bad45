#include "index/compute_config.h"

#include <mutex>
#include <thread>

#include <faiss/utils/distances.h>
#include <omp.h>

// Present when the BLAS behind libblas.so is OpenBLAS; null otherwise.
extern "C" void openblas_set_num_threads(int) __attribute__((weak));

namespace ctdb::index {

namespace {

std::mutex mu;
// FAISS's values before ctdb first changed them.
const int kFaissThreshold = faiss::distance_compute_blas_threshold;
const int kFaissDatabaseBs = faiss::distance_compute_blas_database_bs;

}  // namespace

void UseFaissDefaults() {
  std::lock_guard<std::mutex> lock(mu);
  faiss::distance_compute_blas_threshold = kFaissThreshold;
  faiss::distance_compute_blas_database_bs = kFaissDatabaseBs;
}

void ConfigureCompute(int threads, int blas_threshold) {
  std::lock_guard<std::mutex> lock(mu);
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  omp_set_num_threads(n);
  // ctdb splits scans across OpenMP threads itself; a multi-threaded BLAS
  // inside each slice would fight those threads for the cores.
  if (openblas_set_num_threads) openblas_set_num_threads(1);
  faiss::distance_compute_blas_threshold = blas_threshold < 1 ? 1 : blas_threshold;
  // Database rows per BLAS call. Small blocks keep a product with a few
  // queries (a coalesced batch) on OpenBLAS's unpacked small-matrix path:
  // measured here, 8 queries take 1.4x the time of one at 128 rows per block
  // and 2x at FAISS's default 1024, while one query costs the same.
  faiss::distance_compute_blas_database_bs = 128;
}

}  // namespace ctdb::index
