// Process-wide compute settings of the vector search libraries (OpenMP
// threads, FAISS's BLAS threshold). Thread-safe; the last call wins.
#pragma once

namespace ctdb::index {

// threads: OpenMP threads for FAISS and for ctdb's sliced scans
// (0 = hardware concurrency). BLAS (OpenBLAS) is set single-threaded: the
// sliced scans provide the parallelism.
// blas_threshold: queries per call from which FAISS scans through BLAS.
void ConfigureCompute(int threads, int blas_threshold);

// Puts FAISS's own knobs (BLAS threshold, BLAS block size) back to the values
// FAISS starts with, for benchmarks that compare against stock FAISS.
void UseFaissDefaults();

}  // namespace ctdb::index
