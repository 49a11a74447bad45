#include <doctest/doctest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "index/compute_config.h"
#include "index/fast_flat.h"
#include "index/vector_index.h"
#include "tests/test_util.h"

namespace ctdb::index {
namespace {

std::unique_ptr<VectorIndex> Make(const std::string& factory, size_t d, const std::vector<float>& data,
                                  VectorIndexOptions o = {}) {
  o.dimension = d;
  o.factory = factory;
  auto ix = VectorIndex::Create(o);
  REQUIRE(ix.ok());
  for (size_t i = 0; i < data.size() / d; ++i) REQUIRE((*ix)->Add(i, &data[i * d]).ok());
  return std::move(ix).value();
}

// Mean recall@k of filtered search against brute force over the kept rows.
double FilteredRecall(const VectorIndex& ix, const std::vector<float>& data, size_t d, double selectivity,
                      size_t nq, size_t k, uint64_t seed) {
  const size_t n = data.size() / d;
  std::vector<bool> keep(n);
  Bitmap rows(n);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u;
  for (size_t i = 0; i < n; ++i) {
    if (u(rng) < selectivity) {
      keep[i] = true;
      rows.Set(i);
    }
  }
  const std::vector<float> queries = test::RandomUnitVectors(nq, d, seed + 1);
  std::vector<std::vector<IndexHit>> out;
  REQUIRE(ix.Search(queries.data(), nq, k, &rows, false, &out).ok());
  double found = 0, total = 0;
  for (size_t q = 0; q < nq; ++q) {
    const auto truth = test::BruteForceTopK(data, d, &queries[q * d], k, keep);
    std::set<uint64_t> got;
    for (const auto& h : out[q]) {
      CHECK(keep[h.row]);  // never a row outside the filter
      got.insert(h.row);
    }
    for (size_t t : truth) found += got.count(t);
    total += static_cast<double>(truth.size());
  }
  return total ? found / total : 1.0;
}

TEST_CASE("filtered search recall: Flat is exact at every selectivity") {
  ConfigureCompute(0, 1);
  const size_t d = 32, n = 20000;
  const auto data = test::RandomUnitVectors(n, d, 7);
  auto ix = Make("Flat", d, data);
  for (double sel : {0.5, 0.1, 0.01, 0.001}) {
    CAPTURE(sel);
    CHECK(FilteredRecall(*ix, data, d, sel, 50, 10, 100) == doctest::Approx(1.0));
  }
}

TEST_CASE("filtered search recall: HNSW32 keeps >= 0.99 at every selectivity") {
  ConfigureCompute(0, 1);
  // Large enough that 50% of the rows exceeds exact_filter_max_rows, so that
  // selectivity walks the graph with a selector; 10% and below scan exactly.
  const size_t d = 32, n = 50000;
  const auto data = test::RandomUnitVectors(n, d, 8);
  auto ix = Make("HNSW32", d, data);
  for (double sel : {0.5, 0.1, 0.01, 0.001}) {
    CAPTURE(sel);
    CHECK(FilteredRecall(*ix, data, d, sel, 100, 10, 200) >= 0.99);
  }
}

TEST_CASE("the HNSW selector path itself keeps recall at 50% selectivity") {
  const size_t d = 32, n = 20000;
  const auto data = test::RandomUnitVectors(n, d, 18);
  VectorIndexOptions o;
  o.exact_filter_max_fraction = 0;
  o.exact_filter_max_rows = 0;
  auto ix = Make("HNSW32", d, data, o);
  CHECK(FilteredRecall(*ix, data, d, 0.5, 100, 10, 201) >= 0.99);
}

TEST_CASE("tombstoned rows never come back, and Rebuild drops them") {
  const size_t d = 16, n = 2000;
  const auto data = test::RandomUnitVectors(n, d, 11);
  for (const char* factory : {"Flat", "HNSW32"}) {
    CAPTURE(factory);
    auto ix = Make(factory, d, data);
    // Query with row 5's own vector: it is its own nearest neighbour until removed.
    std::vector<std::vector<IndexHit>> out;
    REQUIRE(ix->Search(&data[5 * d], 1, 3, nullptr, false, &out).ok());
    REQUIRE_FALSE(out[0].empty());
    CHECK(out[0][0].row == 5);
    for (uint64_t r = 0; r < n; r += 2) REQUIRE(ix->Remove(r).ok());
    CHECK(ix->Remove(0).IsNotFound());
    REQUIRE(ix->Search(data.data(), 20, 50, nullptr, false, &out).ok());
    for (const auto& hits : out) {
      CHECK(hits.size() == 50);
      for (const auto& h : hits) CHECK(h.row % 2 == 1);
    }
    CHECK(ix->Stats().tombstones == n / 2);
    REQUIRE(ix->Rebuild().ok());
    CHECK(ix->Stats().tombstones == 0);
    CHECK(ix->Stats().live == n / 2);
    REQUIRE(ix->Search(&data[7 * d], 1, 1, nullptr, false, &out).ok());
    CHECK(out[0][0].row == 7);
    CHECK_FALSE(ix->Contains(6));
    CHECK(ix->Contains(7));
  }
}

TEST_CASE("adding a row twice is refused") {
  const auto data = test::RandomUnitVectors(2, 8, 1);
  auto ix = Make("Flat", 8, data);
  CHECK(ix->Add(1, data.data()).IsInvalidArgument());
}

TEST_CASE("bad factory strings are InvalidArgument") {
  VectorIndexOptions o;
  o.dimension = 16;
  for (const char* f : {"", "NotAnIndex", "IDMap,Flat", "Flat,IDMap2", "IVF,PQ"}) {
    CAPTURE(f);
    o.factory = f;
    CHECK(VectorIndex::Create(o).status().IsInvalidArgument());
  }
}

TEST_CASE("an index that needs training serves exact search until Rebuild trains it") {
  const size_t d = 16, n = 3000;
  const auto data = test::RandomUnitVectors(n, d, 12);
  VectorIndexOptions o;
  o.train_min_rows = 2000;
  auto ix = Make("IVF16,Flat", d, data, o);
  CHECK_FALSE(ix->Stats().trained);
  std::vector<std::vector<IndexHit>> out;
  REQUIRE(ix->Search(&data[9 * d], 1, 5, nullptr, false, &out).ok());
  CHECK(out[0][0].row == 9);
  REQUIRE(ix->Rebuild().ok());
  CHECK(ix->Stats().trained);
  REQUIRE(ix->Search(&data[9 * d], 1, 5, nullptr, false, &out).ok());
  CHECK(out[0][0].row == 9);
  // Deletes on a trained IVF go through its selector.
  REQUIRE(ix->Remove(9).ok());
  REQUIRE(ix->Search(&data[9 * d], 1, 5, nullptr, false, &out).ok());
  for (const auto& h : out[0]) CHECK(h.row != 9);
}

TEST_CASE("SIMD inner product equals the plain sum at every length") {
  std::mt19937_64 rng(5);
  std::normal_distribution<float> g;
  for (size_t d : {1, 3, 7, 8, 15, 16, 17, 31, 64, 100, 256, 513}) {
    std::vector<float> a(d), b(d);
    for (size_t i = 0; i < d; ++i) a[i] = g(rng), b[i] = g(rng);
    double want = 0;
    for (size_t i = 0; i < d; ++i) want += static_cast<double>(a[i]) * b[i];
    CAPTURE(d);
    CHECK(InnerProduct(a.data(), b.data(), d) == doctest::Approx(want).epsilon(1e-4));
  }
}

TEST_CASE("snapshot round trip, corruption and mismatch") {
  test::TempDir dir;
  const size_t d = 16, n = 500;
  const auto data = test::RandomUnitVectors(n, d, 13);
  for (const char* factory : {"Flat", "HNSW16", "IVF4,Flat"}) {
    CAPTURE(factory);
    VectorIndexOptions o;
    o.train_min_rows = 100;
    auto ix = Make(factory, d, data, o);
    if (!ix->Stats().trained) REQUIRE(ix->Rebuild().ok());
    REQUIRE(ix->Remove(3).ok());
    const std::string file = dir.Sub(std::string("snap-") + factory);
    REQUIRE(ix->Save(file, 77).ok());
    o.dimension = d;
    o.factory = factory;
    uint64_t seq = 0;
    auto back = VectorIndex::Load(file, o, &seq);
    REQUIRE(back.ok());
    CHECK(seq == 77);
    CHECK((*back)->Stats().live == n - 1);
    CHECK_FALSE((*back)->Contains(3));
    std::vector<std::vector<IndexHit>> a, b;
    REQUIRE(ix->Search(data.data(), 10, 5, nullptr, false, &a).ok());
    REQUIRE((*back)->Search(data.data(), 10, 5, nullptr, false, &b).ok());
    for (size_t q = 0; q < 10; ++q) {
      REQUIRE(a[q].size() == b[q].size());
      for (size_t j = 0; j < a[q].size(); ++j) CHECK(a[q][j].row == b[q][j].row);
    }

    // Flip one byte in the middle: Corruption.
    const std::string bytes = test::ReadFileBytes(file);
    std::string bad = bytes;
    bad[bad.size() / 2] ^= 0x01;
    test::WriteFileBytes(file, bad);
    CHECK(VectorIndex::Load(file, o, &seq).status().IsCorruption());
    // Truncated: Corruption.
    test::WriteFileBytes(file, bytes.substr(0, bytes.size() - 9));
    CHECK(VectorIndex::Load(file, o, &seq).status().IsCorruption());
    // Not a snapshot at all.
    test::WriteFileBytes(file, "hello");
    CHECK(VectorIndex::Load(file, o, &seq).status().IsCorruption());
    // Built with another factory: FailedPrecondition, so the caller rebuilds.
    test::WriteFileBytes(file, bytes);
    o.factory = "Flat";
    if (std::string(factory) != "Flat") {
      CHECK(VectorIndex::Load(file, o, &seq).status().code() == Status::Code::kFailedPrecondition);
    }
  }
  uint64_t seq;
  VectorIndexOptions o;
  o.dimension = d;
  CHECK(VectorIndex::Load(dir.Sub("missing"), o, &seq).status().IsNotFound());
}

}  // namespace
}  // namespace ctdb::index
