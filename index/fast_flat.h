// A flat inner-product storage for FAISS's HNSW whose distance computer uses
// SIMD (AVX2+FMA when the CPU has it, else SSE2). Debian builds FAISS for
// baseline x86-64, so HNSW's distances otherwise run FAISS's scalar
// reference loop (fvec_inner_product_ref), most of a query's time.
//
// It serializes exactly as faiss::IndexFlatIP ("IxFI"): snapshots stay
// readable by stock FAISS, and UseFastFlatStorage swaps it back in on load.
//
// Thread contract: as faiss::IndexFlatIP (const searches are thread-safe;
// each distance computer belongs to one thread).
#pragma once

#include <faiss/Index.h>

namespace ctdb::index {

// Inner product of two float vectors of length d (SIMD, runtime dispatch).
float InnerProduct(const float* a, const float* b, size_t d);

// If `index` is an IndexHNSW over a plain IndexFlatIP, replaces its storage
// with the SIMD one (same vectors, moved, not copied). Call only while no
// search runs.
void UseFastFlatStorage(faiss::Index* index);

}  // namespace ctdb::index
