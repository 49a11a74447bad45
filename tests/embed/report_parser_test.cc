#include <doctest/doctest.h>

#include "embed/report_parser.h"

namespace ctdb::embed {
namespace {

// The existence of `finding` in a one-sentence report; fails if not found.
std::string Existence1(const std::string& text, const std::string& finding, std::string* region = nullptr) {
  const ParsedReport r = ParseReport(text);
  for (const auto& f : r.findings) {
    if (f.finding == finding) {
      if (region) *region = f.region;
      return ExistenceName(f.existence);
    }
  }
  return "missing";
}

TEST_CASE("sentences split at ends, not in decimals, abbreviations or parentheses") {
  const auto s = SplitSentences(
      "A 6.5 mm nodule (series 2, image 143. see prior). No effusion, e.g. on the right! Heart normal?\n"
      "Mild atelectasis");
  REQUIRE(s.size() == 4);
  CHECK(s[0] == "A 6.5 mm nodule (series 2, image 143. see prior).");
  CHECK(s[1] == "No effusion, e.g. on the right!");
  CHECK(s[2] == "Heart normal?");
  CHECK(s[3] == "Mild atelectasis");
  CHECK(SplitSentences("").empty());
  // Numbered impression lists: the numbers are not sentences.
  const auto l = SplitSentences("1. Right pleural effusion. 2. Cardiomegaly. 12. A 6 mm nodule.");
  REQUIRE(l.size() == 3);
  CHECK(l[0] == "Right pleural effusion.");
  CHECK(l[1] == "Cardiomegaly.");
  CHECK(l[2] == "A 6 mm nodule.");
  CHECK(SplitSentences("Measures 12. Stable.").size() == 2);  // a number ending a sentence stays
}

TEST_CASE("findings with negation, resolution and uncertainty") {
  CHECK(Existence1("No pleural effusion.", "Pleural effusion") == "absent");
  CHECK(Existence1("Bilateral pleural effusion, larger on the right.", "Pleural effusion") == "present");
  CHECK(Existence1("There is no evidence of pneumothorax or pleural effusion.", "Pleural effusion") == "absent");
  CHECK(Existence1("There is no evidence of pneumothorax or pleural effusion.", "Pneumothorax") == "absent");
  CHECK(Existence1("No pleural or pericardial effusion.", "Pericardial effusion") == "absent");
  CHECK(Existence1("No pleural or pericardial effusion.", "Pleural effusion") == "absent");
  CHECK(Existence1("Small pericardial effusion.", "Pericardial effusion") == "present");
  CHECK(Existence1("Small pericardial effusion.", "Pleural effusion") == "missing");
  std::string region;
  CHECK(Existence1("Previously seen consolidation in the right lower lobe has resolved.", "Consolidation",
                   &region) == "absent");
  CHECK(region == "right lower lobe");
  CHECK(Existence1("The heart is not enlarged.", "Cardiomegaly") == "absent");
  CHECK(Existence1("Heart size is normal.", "Cardiomegaly") == "absent");
  CHECK(Existence1("Cardiomegaly.", "Cardiomegaly", &region) == "present");
  CHECK(region == "heart");
  CHECK(Existence1("Emphysema cannot be excluded.", "Emphysema") == "uncertain");
  CHECK(Existence1("Possible small nodule in the lingula.", "Lung nodule", &region) == "uncertain");
  CHECK(region == "lingula");
  CHECK(Existence1("Mild bibasilar atelectasis.", "Atelectasis", &region) == "present");
  CHECK(region == "both lungs");
  CHECK(Existence1("No pathologically enlarged lymph nodes.", "Lymphadenopathy") == "absent");
  CHECK(Existence1("Without hiatal hernia.", "Hiatal hernia") == "absent");
  CHECK(Existence1("The nodule is not seen on this study.", "Lung nodule") == "absent");
  CHECK(Existence1("Centrilobular emphysematous changes.", "Emphysema") == "present");
  CHECK(Existence1("Dense coronary artery calcification.", "Coronary artery wall calcification") == "present");
  CHECK(Existence1("Dense coronary artery calcification.", "Arterial wall calcification") == "missing");
  CHECK(Existence1("Right-sided central venous catheter.", "Medical material") == "present");
  // "know"/"notable" are not negations.
  CHECK(Existence1("Notable consolidation in the left lower lobe.", "Consolidation") == "present");
}

TEST_CASE("whole-study normal statements, unless they name a finding") {
  CHECK(ParseReport("Normal chest CT.").normal_study);
  CHECK(ParseReport("1. No acute cardiopulmonary abnormality.").normal_study);
  CHECK(ParseReport("Unremarkable CT of the chest.").normal_study);
  CHECK(ParseReport("No acute cardiopulmonary abnormality. Small hiatal hernia.").normal_study);  // others absent
  CHECK_FALSE(ParseReport("Heart size is normal.").normal_study);                // one organ, not the study
  CHECK_FALSE(ParseReport("Abnormal chest CT.").normal_study);
  CHECK_FALSE(ParseReport("Normal chest CT except for a small pleural effusion.").normal_study);
  CHECK(ParseReport("Normal chest CT, no pleural effusion.").normal_study);      // a denied one is fine
  CHECK_FALSE(ParseReport("").normal_study);
}

TEST_CASE("negation stops at a clause boundary") {
  const ParsedReport r =
      ParseReport("No effusion, but a 6 mm nodule in the right upper lobe (series 2, image 143).");
  REQUIRE(r.findings.size() == 2);
  for (const auto& f : r.findings) {
    if (f.finding == "Pleural effusion") CHECK(f.existence == Existence::kAbsent);
    if (f.finding == "Lung nodule") {
      CHECK(f.existence == Existence::kPresent);
      CHECK(f.region == "right upper lobe");
    }
  }
  REQUIRE(r.references.size() == 1);
  CHECK(r.references[0].series == 2);
  CHECK(r.references[0].image == 143);
  CHECK(r.references[0].slice_index() == 142);
}

TEST_CASE("slice references in several spellings") {
  const ParsedReport r = ParseReport(
      "Nodule (image 55 of series 3). Opacity on series 4 image 12. Atelectasis (image #7). Imaged well.");
  REQUIRE(r.references.size() == 3);
  CHECK(r.references[0].image == 55);
  CHECK(r.references[0].series == 3);
  CHECK(r.references[0].sentence == 0);
  CHECK(r.references[1].series == 4);
  CHECK(r.references[1].image == 12);
  CHECK(r.references[2].series == 0);
  CHECK(r.references[2].image == 7);
}

TEST_CASE("slice references are removed from a sentence, other parentheses kept") {
  CHECK(RemoveSliceReferences("Consolidation in the right lower lobe (series 2, image 40).") ==
        "Consolidation in the right lower lobe.");
  CHECK(RemoveSliceReferences("A 6 mm nodule (series 3, Image 12) and another (image 80).") ==
        "A 6 mm nodule and another.");
  CHECK(RemoveSliceReferences("Atelectasis (mild) at the base.") == "Atelectasis (mild) at the base.");
  CHECK(RemoveSliceReferences("Unclosed (series 2, image 4") == "Unclosed (series 2, image 4");
}

TEST_CASE("attribute contrasts change one attribute word at a time, case kept") {
  const auto c = AttributeContrasts("Small right pleural effusion.");
  REQUIRE(c.size() == 2);
  CHECK(c[0].attribute == "side");
  CHECK(c[0].variants == std::vector<std::string>{"Small left pleural effusion."});
  CHECK(c[1].attribute == "amount");
  CHECK(c[1].variants == std::vector<std::string>{"Large right pleural effusion."});

  const auto lobe = AttributeContrasts("5 mm nodule in the left upper lobe (series 2, image 40).");
  REQUIRE(lobe.size() == 2);
  CHECK(lobe[0].variants == std::vector<std::string>{"5 mm nodule in the right upper lobe (series 2, image 40)."});
  CHECK(lobe[1].attribute == "level");
  CHECK(lobe[1].variants == std::vector<std::string>{"5 mm nodule in the left lower lobe (series 2, image 40)."});

  // A three-way attribute gives both others; the first word of an attribute counts.
  const auto both = AttributeContrasts("Bilateral effusions, moderate on the left.");
  REQUIRE(both.size() == 2);
  CHECK(both[0].variants ==
        std::vector<std::string>{"Right effusions, moderate on the left.", "Left effusions, moderate on the left."});
  CHECK(both[1].variants == std::vector<std::string>{"Bilateral effusions, small on the left.",
                                                     "Bilateral effusions, large on the left."});
  CHECK(AttributeContrasts("Right middle lobe consolidation.")[1].variants ==
        std::vector<std::string>{"Right upper lobe consolidation.", "Right lower lobe consolidation."});
  // Whole words only: "cleft", "smaller", "uppermost" are no attribute.
  CHECK(AttributeContrasts("Cleft in the smaller uppermost segment.").empty());
  CHECK(AttributeContrasts("Cardiomegaly.").empty());
  CHECK(AttributeContrasts("").empty());
}

TEST_CASE("stated sizes in mm and cm, the largest of a sentence") {
  CHECK(StatedSizeMm("A 6 mm nodule in the right lower lobe (series 2, image 40).") == 6.0);
  CHECK(StatedSizeMm("Nodule measuring 4.5mm.") == 4.5);
  CHECK(StatedSizeMm("A 1.2 cm mass.") == doctest::Approx(12.0));
  CHECK(StatedSizeMm("Nodules of 3 mm and 8 x 6 mm.") == 8.0);
  CHECK(StatedSizeMm("Lymph node 15 mm, another 2 cm.") == doctest::Approx(20.0));
  // Numbers without a unit, units inside words, and no number at all.
  CHECK_FALSE(StatedSizeMm("Nodule (series 2, image 40).").has_value());
  CHECK_FALSE(StatedSizeMm("3 mmHg gradient; 2 cms.").has_value());
  CHECK_FALSE(StatedSizeMm("Segment 4x abnormal, 3 xylem.").has_value());
  CHECK_FALSE(StatedSizeMm("Cardiomegaly.").has_value());
  CHECK_FALSE(StatedSizeMm("A5 mm").has_value());
}

}  // namespace
}  // namespace ctdb::embed
