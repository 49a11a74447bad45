// The disease catalog a database keeps (DESIGN.md "Queries"): for each
// disease, clinical phrases saying it is present and absent, their text
// prototypes under the database's model (diagnosis-aware prompts, seed 000),
// and optional exemplar prototypes averaged from labelled studies.
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
};

}  // namespace ctdb
