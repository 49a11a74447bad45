#include <doctest/doctest.h>

#include <cmath>
#include <vector>

#include "api/src/calibration.h"

namespace ctdb {
namespace {

double Sigmoid(double x) { return 1 / (1 + std::exp(-x)); }

TEST_CASE("calibration: Platt fit recovers a known logistic relation") {
  // 200 studies at each z in [-4, 4]: round(200 sigmoid(2 z - 1)) of them labelled.
  std::vector<double> z;
  std::vector<bool> y;
  for (int k = -40; k <= 40; ++k) {
    const double x = k / 10.0;
    const int pos = static_cast<int>(std::lround(200 * Sigmoid(2 * x - 1)));
    for (int i = 0; i < 200; ++i) z.push_back(x), y.push_back(i < pos);
  }
  const PlattFit f = FitPlatt(z, y);
  CHECK(f.scale == doctest::Approx(2).epsilon(0.02));
  CHECK(f.bias == doctest::Approx(-1).epsilon(0.03));
  CHECK(f.positives + f.negatives == z.size());
  // An overconfident score (10x the true log-odds) is scaled back.
  for (double& x : z) x *= 10;
  CHECK(FitPlatt(z, y).scale == doctest::Approx(0.2).epsilon(0.02));
}

TEST_CASE("calibration: separated classes give a finite steep fit, degenerate input the identity") {
  const std::vector<double> z = {-3, -2.5, -2, -1, 1, 2, 2.5, 3};
  const std::vector<bool> y = {false, false, false, false, true, true, true, true};
  const PlattFit f = FitPlatt(z, y);
  REQUIRE(std::isfinite(f.scale));
  REQUIRE(std::isfinite(f.bias));
  CHECK(f.scale > 0);
  // Eight studies against a unit prior: sure, not certain.
  CHECK(Sigmoid(f.scale * 3 + f.bias) > 0.8);
  CHECK(Sigmoid(f.scale * -3 + f.bias) < 0.2);
  CHECK(Sigmoid(f.scale * 3 + f.bias) < 0.999);
  CHECK(f.positives == 4);
  CHECK(f.negatives == 4);

  const PlattFit none = FitPlatt({-1, 0, 1}, {false, false, false});  // no positives
  CHECK(none.scale == 1);
  CHECK(none.bias == 0);
  CHECK(none.negatives == 3);
  const PlattFit flat = FitPlatt({2, 2, 2, 2}, {true, false, true, false});  // z carries nothing
  CHECK(flat.scale == 1);
  CHECK(flat.bias == 0);
  const PlattFit empty = FitPlatt({}, {});
  CHECK(empty.positives + empty.negatives == 0);
}

}  // namespace
}  // namespace ctdb
