// Which studies share a batch and which pairs are no negatives: hard-negative
// pairing keeps same-label-set studies with different impressions together,
// every study still appears once an epoch, and identical findings (labels
// and impression) are the only false negatives.
#include <doctest/doctest.h>

#include <algorithm>
#include <numeric>
#include <string>
#include <vector>

#include "embed/batch_order.h"

namespace ctdb::embed {
namespace {

TrainStudy Study(std::vector<uint8_t> labels, std::string impression) {
  TrainStudy s;
  s.labels = std::move(labels);
  s.impression = std::move(impression);
  return s;
}

// 40 label sets of 4 studies with two impressions each ("Right ..."/"Left
// ..."), 10 lone normals: 170 studies.
std::vector<TrainStudy> Studies() {
  std::vector<TrainStudy> out;
  for (int g = 0; g < 40; ++g) {
    std::vector<uint8_t> labels(8, 0);
    for (int b = 0; b < 8; ++b) labels[static_cast<size_t>(b)] = static_cast<uint8_t>(((g + 1) >> b) & 1);
    for (int k = 0; k < 4; ++k) {
      out.push_back(Study(labels, std::string(k % 2 ? "1. Left" : "1. Right") + " finding " + std::to_string(g) + "."));
    }
  }
  for (int k = 0; k < 10; ++k) out.push_back(Study(std::vector<uint8_t>(8, 0), "No acute findings."));
  return out;
}

// Pairs inside batches of `batch` with one label set and different impressions.
int HardPairs(const std::vector<TrainStudy>& s, const std::vector<int64_t>& order, size_t batch) {
  int n = 0;
  for (size_t lo = 0; lo < order.size(); lo += batch) {
    const size_t hi = std::min(order.size(), lo + batch);
    for (size_t i = lo; i < hi; ++i) {
      for (size_t j = i + 1; j < hi; ++j) {
        const TrainStudy &a = s[static_cast<size_t>(order[i])], &b = s[static_cast<size_t>(order[j])];
        if (a.labels == b.labels && !SameFindings(a, b)) ++n;
      }
    }
  }
  return n;
}

bool IsPermutation(std::vector<int64_t> order, size_t n) {
  std::sort(order.begin(), order.end());
  std::vector<int64_t> want(n);
  std::iota(want.begin(), want.end(), 0);
  return order == want;
}

TEST_CASE("false negatives: the same labels and the same impression, up to case, spacing and punctuation") {
  const std::vector<uint8_t> effusion{1, 0}, none{0, 0};
  CHECK(SameFindings(Study(effusion, "1. Right pleural effusion."), Study(effusion, "1.  right pleural effusion")));
  CHECK_FALSE(SameFindings(Study(effusion, "1. Right pleural effusion."), Study(effusion, "1. Left pleural effusion.")));
  CHECK_FALSE(SameFindings(Study(effusion, "No acute findings."), Study(none, "No acute findings.")));
  // Without an impression the label set is all there is to compare.
  CHECK(SameFindings(Study(effusion, ""), Study(effusion, "1. Left pleural effusion.")));
  CHECK(NormalizedImpression(" 1. Small, RIGHT-sided\n effusion. ") == "1 small right sided effusion");
}

TEST_CASE("epoch order: every study once, fixed by seed and epoch, either way") {
  const auto s = Studies();
  for (bool hard : {false, true}) {
    CAPTURE(hard);
    const auto a = EpochOrder(s, 7, 0, hard);
    CHECK(IsPermutation(a, s.size()));
    CHECK(a == EpochOrder(s, 7, 0, hard));
    CHECK(a != EpochOrder(s, 7, 1, hard));
    CHECK(a != EpochOrder(s, 8, 0, hard));
  }
  CHECK(EpochOrder({}, 1, 0, true).empty());
}

TEST_CASE("hard-negative batches: same-label-set studies with different impressions share a batch") {
  const auto s = Studies();
  const auto hard = EpochOrder(s, 3, 0, true);
  // Pairs sit at even offsets: each of the 80 pairs is one label set, two impressions.
  int paired = 0;
  for (size_t i = 0; i + 1 < hard.size(); i += 2) {
    const TrainStudy &a = s[static_cast<size_t>(hard[i])], &b = s[static_cast<size_t>(hard[i + 1])];
    if (a.labels == b.labels && !SameFindings(a, b)) ++paired;
  }
  CHECK(paired == 80);
  // Batches of 16 hold them all; a plain shuffle holds a few by chance.
  CHECK(HardPairs(s, hard, 16) >= 80);
  CHECK(HardPairs(s, EpochOrder(s, 3, 0, false), 16) < 40);
}

TEST_CASE("hard-negative batches: a label set with one impression still pairs, lone studies keep pairs aligned") {
  std::vector<TrainStudy> s;
  for (int k = 0; k < 3; ++k) s.push_back(Study({1, 0}, "Pleural effusion."));  // one impression, odd count
  for (int k = 0; k < 4; ++k) s.push_back(Study({0, 1, static_cast<uint8_t>(k)}, "Nodule " + std::to_string(k)));
  for (int k = 0; k < 2; ++k) s.push_back(Study({0, 0}, k ? "Right." : "Left."));
  const auto order = EpochOrder(s, 5, 2, true);
  REQUIRE(IsPermutation(order, s.size()));
  // The {0,0} pair stays together at an even offset.
  bool together = false;
  for (size_t i = 0; i + 1 < order.size(); i += 2) {
    together |= s[static_cast<size_t>(order[i])].labels == std::vector<uint8_t>{0, 0} &&
                s[static_cast<size_t>(order[i + 1])].labels == std::vector<uint8_t>{0, 0};
  }
  CHECK(together);
}

}  // namespace
}  // namespace ctdb::embed
