// Process-wide compute settings of the vector search libraries (OpenMP
// threads, FAISS's BLAS threshold). Thread-safe; the last call wins.
#pragma once

namespace ctdb::index {

// threads: OpenMP threads for FAISS and for ctdb's sliced scans
// (0 = hardware concurrency). BLAS (OpenBLAS) is set single-threaded: the
// sliced scans provide the parallelism.
// blas_threshold: queries per call from which FAISS scans through BLAS.
void ConfigureCompute(int threads, int blas_threshold);

}  // namespace ctdb::index
