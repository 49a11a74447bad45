// Shared by the native-model tests that grow or extend a trained model
// (finer input, detector head, peak skips).
#pragma once

#include <string>

#include "api/src/model_builder.h"
#include "embed/native_model.h"

namespace ctdb::embed::test {

// The tiny native layout with the training layout's choices: stem pooling
// and the three HU windows; `norm` the stem normalization.
inline ModelManifest WindowedTiny(const std::string& norm = "batch") {
  ModelManifest m = NewModelSpec::TinyManifest();
  m.format = "native";
  m.architecture.stem_norm = norm;
  m.architecture.stem_pool = true;
  m.architecture.windows = {{-1000, -400}, {-200, 200}, {150, 1000}};
  return m;
}

// Normalization statistics as a trained model has them (fresh ones are 0
// and 1, which would hide a transplant that drops them).
inline void AsTrained(ClipModel& model) {
  torch::NoGradGuard ng;
  for (auto& b : model->named_buffers()) {
    if (b.key().find("running_mean") != std::string::npos) b.value().copy_(torch::randn_like(b.value()) * 0.1);
    if (b.key().find("running_var") != std::string::npos) b.value().copy_(torch::rand_like(b.value()) + 0.5);
  }
}

inline double MaxDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace ctdb::embed::test
