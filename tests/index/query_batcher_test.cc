#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "index/query_batcher.h"
#include "tests/test_util.h"

namespace ctdb::index {
namespace {

TEST_CASE("concurrent callers share calls and each gets its own answer") {
  const size_t d = 16, n = 3000, threads = 8;
  const auto data = test::RandomUnitVectors(n, d, 31);
  VectorIndexOptions o;
  o.dimension = d;
  auto ix = VectorIndex::Create(o);
  REQUIRE(ix.ok());
  for (size_t i = 0; i < n; ++i) REQUIRE((*ix)->Add(i, &data[i * d]).ok());

  QueryBatcher batcher(d);
  std::atomic<int> calls{0};
  // A slow call, so callers pile up behind the leader.
  auto run = [&](const float* q, size_t nq, size_t k, std::vector<std::vector<IndexHit>>* out) {
    ++calls;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    return (*ix)->Search(q, nq, k, nullptr, false, out);
  };
  std::atomic<size_t> ready{0};
  std::vector<std::vector<IndexHit>> got(threads);
  std::vector<Status> status(threads);
  std::vector<std::thread> pool;
  for (size_t t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ++ready;
      while (ready < threads) std::this_thread::yield();
      // Query = row t*10's own vector; k differs per caller.
      status[t] = batcher.Search(&data[t * 10 * d], 1 + t, run, &got[t]);
    });
  }
  for (auto& th : pool) th.join();
  CHECK(calls < static_cast<int>(threads));
  CHECK(batcher.batched_queries() > 0);
  for (size_t t = 0; t < threads; ++t) {
    CAPTURE(t);
    REQUIRE(status[t].ok());
    REQUIRE(got[t].size() == 1 + t);
    CHECK(got[t][0].row == t * 10);
    std::vector<std::vector<IndexHit>> direct;
    REQUIRE((*ix)->Search(&data[t * 10 * d], 1, 1 + t, nullptr, false, &direct).ok());
    for (size_t j = 0; j < got[t].size(); ++j) CHECK(got[t][j].row == direct[0][j].row);
  }
}

TEST_CASE("a failing batch reports its error to every member") {
  QueryBatcher batcher(4);
  const float q[4] = {1, 0, 0, 0};
  std::vector<IndexHit> out;
  Status s = batcher.Search(q, 3, [](const float*, size_t, size_t, std::vector<std::vector<IndexHit>>*) {
    return Status::Internal("boom");
  }, &out);
  CHECK(s.code() == Status::Code::kInternal);
  CHECK(out.empty());
}

}  // namespace
}  // namespace ctdb::index
