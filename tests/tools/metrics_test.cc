#include <doctest/doctest.h>

#include <cmath>

#include "tools/eval/metrics.h"

namespace ctdb::eval {
namespace {

TEST_CASE("AUC by hand, with ties") {
  // Positives 0.9, 0.5; negatives 0.5, 0.1. Pairs: (0.9>0.5) 1, (0.9>0.1) 1,
  // (0.5=0.5) 0.5, (0.5>0.1) 1 -> 3.5 / 4.
  CHECK(RocAuc({0.9f, 0.5f, 0.5f, 0.1f}, {1, 1, 0, 0}) == doctest::Approx(0.875));
  CHECK(RocAuc({0.1f, 0.2f, 0.3f}, {0, 0, 1}) == doctest::Approx(1.0));
  CHECK(RocAuc({0.1f, 0.2f, 0.3f}, {1, 0, 0}) == doctest::Approx(0.0));
  CHECK(RocAuc({0.4f, 0.4f, 0.4f, 0.4f}, {1, 0, 1, 0}) == doctest::Approx(0.5));  // all tied
  CHECK(std::isnan(RocAuc({0.1f, 0.2f}, {1, 1})));
  CHECK(MacroAuc({0.8, std::nan(""), 0.6}) == doctest::Approx(0.7));
}

TEST_CASE("R@k by hand, duplicates counted against the query") {
  // Query 0: own 0.9 is best -> rank 0. Query 1: own 0.5, one other at 0.7 ->
  // rank 1. Query 2: own 0.3 ties with another 0.3 and is below 0.8 -> rank 2.
  const std::vector<std::vector<float>> sim = {{0.9f, 0.1f, 0.2f}, {0.7f, 0.5f, 0.1f}, {0.8f, 0.3f, 0.3f}};
  CHECK(RecallAtK(sim, 1) == doctest::Approx(1.0 / 3));
  CHECK(RecallAtK(sim, 2) == doctest::Approx(2.0 / 3));
  CHECK(RecallAtK(sim, 3) == doctest::Approx(1.0));
  // Two identical candidates: neither query gets credit at k = 1.
  CHECK(RecallAtK({{0.5f, 0.5f}, {0.5f, 0.5f}}, 1) == doctest::Approx(0.0));
}

TEST_CASE("R@k ceiling: identical queries share one ranking") {
  // "normal" x 3 at k = 2: at most 2 of the 3 own studies in the top 2;
  // the two unique texts can each find theirs -> (2 + 1 + 1) / 5.
  CHECK(RecallCeiling({"normal", "effusion", "normal", "nodule", "normal"}, 2) == doctest::Approx(4.0 / 5));
  CHECK(RecallCeiling({"a", "b", "c"}, 1) == doctest::Approx(1.0));
  CHECK(RecallCeiling({"a", "a", "a", "a"}, 1) == doctest::Approx(0.25));
  CHECK(RecallCeiling({}, 10) == 0.0);
}

TEST_CASE("MAP@k with label overlap, by hand") {
  CHECK(LabelOverlap({"A", "B"}, {"B", "C"}) == doctest::Approx(1.0 / 3));
  CHECK(LabelOverlap({}, {}) == doctest::Approx(1.0));
  CHECK(LabelOverlap({"A"}, {}) == doctest::Approx(0.0));
  const std::vector<std::vector<std::string>> labels = {{"A"}, {"A"}, {"B"}};
  // Query 0 ranks 2 (0.9) then 1 (0.8): r = 0, 1 -> AP@2 = (0/1 + 1/2) / 2 = 0.25.
  // Query 1 ranks 0 (0.9) then 2: r = 1, 0 -> (1 + 1/2) / 2 = 0.75.
  // Query 2 ranks 0 then 1: r = 0, 0 -> 0.
  const std::vector<std::vector<float>> sim = {{1, 0.8f, 0.9f}, {0.9f, 1, 0.1f}, {0.7f, 0.6f, 1}};
  CHECK(MapAtK(sim, labels, 2) == doctest::Approx((0.25 + 0.75 + 0) / 3));
  // k = 1: query 0 -> 0, query 1 -> 1, query 2 -> 0.
  CHECK(MapAtK(sim, labels, 1) == doctest::Approx(1.0 / 3));
}

TEST_CASE("AP from a ranked list and recall from ranks") {
  CHECK(AveragePrecisionAtK({0, 1}, 2) == doctest::Approx(0.25));
  CHECK(AveragePrecisionAtK({1, 0}, 2) == doctest::Approx(0.75));
  CHECK(AveragePrecisionAtK({1}, 2) == doctest::Approx(0.5));  // a missing rank counts as 0
  CHECK(RecallFromRanks({0, 3, -1, 9}, 5) == doctest::Approx(0.5));
  CHECK(RecallFromRanks({0, 3, -1, 9}, 10) == doctest::Approx(0.75));
}

TEST_CASE("localization MAE in mm") {
  CHECK(MeanAbsoluteError({10, -5, 30}, {12, -5, 20}) == doctest::Approx(4.0));
  CHECK(std::isnan(MeanAbsoluteError({}, {})));
}

TEST_CASE("AUC by stated size: each band's positives against every negative") {
  // Negatives score 0.2 and 0.6; positives of 3, 5, 5.5, 7 and 12 mm and one unsized.
  const std::vector<float> scores = {0.2f, 0.6f, 0.1f, 0.7f, 0.4f, 0.9f, 0.6f, 0.8f};
  const std::vector<int> labels = {0, 0, 1, 1, 1, 1, 1, 1};
  const std::vector<double> sizes = {-1, -1, 3, 5, 5.5, 7, 12, -1};
  const auto bands = AucBySize(scores, labels, sizes);
  REQUIRE(bands.size() == 4);
  CHECK(bands[0].band == "<4 mm");
  CHECK(bands[0].positives == 1);
  CHECK(bands[0].auc == doctest::Approx(0.0));  // 0.1 below both
  CHECK(bands[1].band == "4-6 mm");
  CHECK(bands[1].positives == 2);
  CHECK(bands[1].auc == doctest::Approx(0.75));  // 0.7: 2 of 2; 0.4: 1 of 2
  CHECK(bands[2].band == "6-8 mm");
  CHECK(bands[2].auc == doctest::Approx(1.0));
  CHECK(bands[3].band == ">8 mm");
  CHECK(bands[3].auc == doctest::Approx(0.75));  // 0.6 ties 0.6: one half
  // Bands without positives are left out; without negatives the AUC is NaN.
  const auto one = AucBySize({0.5f, 0.3f}, {1, 0}, {8, -1});
  REQUIRE(one.size() == 1);
  CHECK(one[0].band == "6-8 mm");
  CHECK(std::isnan(AucBySize({0.5f}, {1}, {2})[0].auc));
  CHECK(AucBySize(scores, labels, std::vector<double>(8, -1)).empty());
}

}  // namespace
}  // namespace ctdb::eval
