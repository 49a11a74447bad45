// Platt calibration: P(label | z) = sigmoid(scale * z + bias), fitted by
// logistic regression. The query engine fits one per disease on labelled
// studies' log-odds (QueryEngine::CalibrateDiseases), so the per-finding
// probabilities text search adds up share one scale.
//
// Thread contract: a pure function.
#pragma once

#include <cstdint>
#include <vector>

namespace ctdb {

struct PlattFit {
  double scale = 1, bias = 0;
  uint64_t positives = 0, negatives = 0;
};

// Fits (scale, bias) by Newton's method on the standardized log-odds, with
// a unit Gaussian prior on the standardized weights so perfectly separated
// classes (a disease the model never misses) give a finite, steep fit
// instead of diverging. `z` and `label` have one entry per study; all z
// finite. Identity (1, 0) when a class is empty or z is constant.
PlattFit FitPlatt(const std::vector<double>& z, const std::vector<bool>& label);

}  // namespace ctdb
