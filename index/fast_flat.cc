#include "index/fast_flat.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <immintrin.h>

#include <typeinfo>

namespace ctdb::index {
namespace {

__attribute__((target("avx2,fma"))) float InnerProductAvx2(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
  }
  for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
  s0 = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
  float s = _mm_cvtss_f32(h);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

float InnerProductSse2(const float* a, const float* b, size_t d) {
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= d; i += 8) {
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + i), _mm_loadu_ps(b + i)));
    s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + i + 4), _mm_loadu_ps(b + i + 4)));
  }
  s0 = _mm_add_ps(s0, s1);
  s0 = _mm_add_ps(s0, _mm_movehl_ps(s0, s0));
  s0 = _mm_add_ss(s0, _mm_shuffle_ps(s0, s0, 1));
  float s = _mm_cvtss_f32(s0);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

using Kernel = float (*)(const float*, const float*, size_t);
const Kernel kKernel = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? InnerProductAvx2
                                                                                        : InnerProductSse2;

struct FastIPDistance final : faiss::FlatCodesDistanceComputer {
  FastIPDistance(const faiss::IndexFlat& s)
      : FlatCodesDistanceComputer(s.codes.data(), s.code_size), d(static_cast<size_t>(s.d)), xb(s.get_xb()) {}
  void set_query(const float* x) override { q = x; }
  float distance_to_code(const uint8_t* code) override {
    return kKernel(q, reinterpret_cast<const float*>(code), d);
  }
  float symmetric_dis(idx_t i, idx_t j) override {
    return kKernel(xb + static_cast<size_t>(i) * d, xb + static_cast<size_t>(j) * d, d);
  }
  size_t d;
  const float* xb;
  const float* q = nullptr;
};

struct FastFlatIP final : faiss::IndexFlatIP {
  explicit FastFlatIP(idx_t dim) : faiss::IndexFlatIP(dim) {}
  faiss::FlatCodesDistanceComputer* get_FlatCodesDistanceComputer() const override {
    return new FastIPDistance(*this);
  }
};

}  // namespace

float InnerProduct(const float* a, const float* b, size_t d) { return kKernel(a, b, d); }

void UseFastFlatStorage(faiss::Index* index) {
  auto* hnsw = dynamic_cast<faiss::IndexHNSW*>(index);
  if (hnsw == nullptr || hnsw->storage == nullptr || typeid(*hnsw->storage) != typeid(faiss::IndexFlatIP)) return;
  auto* old = static_cast<faiss::IndexFlatIP*>(hnsw->storage);
  auto* fast = new FastFlatIP(old->d);
  fast->codes.swap(old->codes);
  fast->ntotal = old->ntotal;
  if (hnsw->own_fields) delete old;
  hnsw->storage = fast;
  hnsw->own_fields = true;
}

}  // namespace ctdb::index
