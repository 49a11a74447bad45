// The disease catalog (seed 000's diagnosis-aware prompts): for each
// disease, several positive and several negative clinical phrases in
// radiology wording. Their embeddings, averaged, are the prototypes p+ and
// p- of zero-shot classification (score x . (p+ - p-)); training also uses
// them as alternative wordings of report sentences.
//
// Thread contract: plain values and pure functions.
#pragma once

#include <string>
#include <vector>

namespace ctdb::embed {

struct DiseasePrompts {
  std::string name;                   // a CT-RATE label, e.g. "Pleural effusion"
  std::vector<std::string> positive;  // "Small right pleural effusion."
  std::vector<std::string> negative;  // "No pleural effusion."
  // Optional Platt calibration of the model's log-odds for this disease
  // (ctdb::DiseaseEntry::calibration_*); calibration_studies 0 = none.
  double calibration_scale = 1, calibration_bias = 0;
  uint64_t calibration_studies = 0;
};

// The built-in phrases for the 18 CT-RATE labels, in CSV column order.
const std::vector<DiseasePrompts>& DefaultDiseaseCatalog();

// The built-in entry for `name`, or generic phrases ("X is present.", "No
// X.") for a disease the catalog does not know.
DiseasePrompts DefaultPromptsFor(const std::string& name);

}  // namespace ctdb::embed
