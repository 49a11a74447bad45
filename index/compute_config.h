// Process-wide compute settings of the vector search libraries (OpenMP
// threads, FAISS's BLAS threshold). Thread-safe; the last call wins.
#pragma once

namespace ctdb::index {

// threads: OpenMP threads for FAISS (0 = hardware concurrency).
// blas_threshold: queries per call from which FAISS scans through BLAS.
void ConfigureCompute(int threads, int blas_threshold);

}  // namespace ctdb::index
