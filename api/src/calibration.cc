#include "api/src/calibration.h"

#include <algorithm>
#include <cmath>

namespace ctdb {

PlattFit FitPlatt(const std::vector<double>& z, const std::vector<bool>& label) {
  PlattFit fit;
  const size_t n = std::min(z.size(), label.size());
  double mean = 0;
  for (size_t i = 0; i < n; ++i) {
    (label[i] ? fit.positives : fit.negatives)++;
    mean += z[i];
  }
  if (fit.positives == 0 || fit.negatives == 0) return fit;
  mean /= static_cast<double>(n);
  double var = 0;
  for (size_t i = 0; i < n; ++i) var += (z[i] - mean) * (z[i] - mean);
  const double sd = std::sqrt(var / static_cast<double>(n));
  if (!(sd > 0)) return fit;
  // Weights on u = (z - mean) / sd: w[0] u + w[1].
  double w0 = 0, w1 = 0;
  constexpr double kPrior = 1;  // precision of the Gaussian prior on w
  for (int it = 0; it < 100; ++it) {
    double g0 = kPrior * w0, g1 = kPrior * w1, h00 = kPrior, h01 = 0, h11 = kPrior;
    for (size_t i = 0; i < n; ++i) {
      const double u = (z[i] - mean) / sd;
      const double p = 1 / (1 + std::exp(-(w0 * u + w1)));
      const double r = p - (label[i] ? 1.0 : 0.0), c = p * (1 - p);
      g0 += r * u, g1 += r;
      h00 += c * u * u, h01 += c * u, h11 += c;
    }
    const double det = h00 * h11 - h01 * h01;
    const double d0 = (h11 * g0 - h01 * g1) / det, d1 = (h00 * g1 - h01 * g0) / det;
    w0 -= d0, w1 -= d1;
    if (std::abs(d0) + std::abs(d1) < 1e-10) break;
  }
  fit.scale = w0 / sd;
  fit.bias = w1 - w0 * mean / sd;
  return fit;
}

}  // namespace ctdb
