// Radiology report parsing (seed 004): sentences, and for each sentence the
// triplets <anatomical region, finding, existence>, with negation and
// uncertainty; plus "series X, image Y" references to a slice.
// Rule-based and deterministic: used for training targets, for searching
// reports by finding, and by the evaluation harness.
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdb/study.h"

namespace ctdb::embed {

using ctdb::Existence;
using ctdb::ExistenceName;

struct ReportFinding {
  size_t sentence = 0;   // index into ParsedReport::sentences
  std::string finding;   // canonical name: one of the 18 CT-RATE labels, or "Pneumothorax"
  std::string region;    // e.g. "right upper lobe", "pleura", "heart"; default region of the finding if unnamed
  Existence existence = Existence::kPresent;
};

// "(series 2, image 143)": image numbers are 1-based, slice = image - 1.
struct SliceReference {
  size_t sentence = 0;
  int series = 0;        // 0 when the text names no series
  int image = 0;
  int slice_index() const { return image - 1; }
};

struct ParsedReport {
  std::vector<std::string> sentences;
  std::vector<ReportFinding> findings;  // in sentence order
  std::vector<SliceReference> references;
  // A sentence calls the whole study normal ("Normal chest CT.", "No acute
  // cardiopulmonary abnormality."): every finding it does not name is
  // absent. Findings the report states elsewhere are still in `findings`.
  bool normal_study = false;
};

// Splits on sentence ends and line breaks, not inside decimals ("6.5 mm"),
// common abbreviations ("e.g.", "approx.") or parentheses.
std::vector<std::string> SplitSentences(std::string_view text);

ParsedReport ParseReport(std::string_view text);

// The sentence without its "(series X, image N)" references, e.g. for a
// localization query whose answer must come from the image, not the number.
std::string RemoveSliceReferences(const std::string& sentence);

// What a sentence says of a finding beyond its existence, as the sentence
// with that attribute changed: "Small right pleural effusion." gives side
// {"Small left pleural effusion."} and amount {"Large right pleural
// effusion."}. A text search scores an image's match with the sentence
// against its match with the variants, so what decides is the attribute,
// not the words the sentences share. Attributes: "side" (right, left,
// bilateral), "level" (upper, middle, lower), "amount" (small, moderate,
// large); the first word of each counts, whole words only, its case kept.
struct AttributeContrast {
  std::string attribute;
  std::vector<std::string> variants;
};
std::vector<AttributeContrast> AttributeContrasts(std::string_view sentence);

// The largest size a sentence states, in mm ("A 6 mm nodule" -> 6,
// "1.2 cm" -> 12, "8 x 6 mm" -> 8); nullopt when it states none.
std::optional<double> StatedSizeMm(std::string_view sentence);

// The statements of a report's findings and impression sections.
std::vector<ReportStatement> ParseStatements(const std::string& findings, const std::string& impression);

}  // namespace ctdb::embed
