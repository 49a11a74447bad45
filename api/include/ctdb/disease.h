// The disease catalog a database keeps (DESIGN.md "Queries"): for each
// disease, clinical phrases saying it is present and absent, their text
// prototypes under the database's model (diagnosis-aware prompts, seed 000),
// optional exemplar prototypes averaged from labelled studies, and an
// optional calibration of the model's log-odds fitted on labelled studies.
//
// Thread contract: plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ctdb {

struct DiseaseEntry {
  std::string name;                   // e.g. "Pleural effusion"; unique ignoring case
  std::vector<std::string> positive;  // phrases stating the finding, >= 1
  std::vector<std::string> negative;  // phrases denying it (may be empty)
  // Mean embeddings of the phrases (L2-normalized), from `model_id`.
  // Empty until embedded; a disease query needs them.
  std::vector<float> positive_prototype;
  std::vector<float> negative_prototype;
  // Mean image embeddings of stored studies labelled with / without the
  // disease (L2-normalized); empty when not computed.
  std::vector<float> exemplar_positive;
  std::vector<float> exemplar_negative;
  uint64_t exemplar_studies = 0;  // studies the exemplars average over
  std::string model_id;           // model the prototypes come from
  double logit_scale = 10;        // that model's 1/tau (ModelInfo::logit_scale)
  // Platt calibration of the disease's log-odds z = logit_scale * x.(p+ -
  // p-), x the study's feature of this disease's query token (its global
  // embedding without one): P(disease | study) = sigmoid(scale * z + bias),
  // fitted by logistic regression on labelled studies (QueryEngine::
  // CalibrateDiseases, or shipped in the model's diseases.json). The
  // contrastive temperature makes the raw z overconfident and each disease
  // is off by its own offset; probabilities that add up across findings
  // (text search) need them on one scale. Identity (1, 0) while
  // calibration_studies is 0; editing the phrases or changing the model
  // resets it (the direction it was fitted on changed).
  double calibration_scale = 1;
  double calibration_bias = 0;
  uint64_t calibration_studies = 0;  // labelled studies it was fitted on; 0 = none
};

}  // namespace ctdb
