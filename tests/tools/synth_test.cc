#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "embed/ctrate.h"
#include "embed/nifti_io.h"
#include "embed/report_parser.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace ctdb::synth {
namespace {

SynthOptions Small() {
  SynthOptions o;
  o.inplane = 64;
  return o;
}


TEST_CASE("synthetic studies are deterministic for a seed and differ across indexes") {
  const SynthOptions o = Small();
  const SynthStudy a = MakeStudy(7, 3, 10, o), b = MakeStudy(7, 3, 10, o), c = MakeStudy(7, 4, 10, o);
  CHECK(a.volume.hu == b.volume.hu);
  CHECK(a.findings == b.findings);
  CHECK(a.labels == b.labels);
  CHECK(a.volume.hu != c.volume.hu);
  CHECK(MakeStudy(8, 3, 10, o).volume.hu != a.volume.hu);
}

TEST_CASE("synthetic anatomy has realistic HU, spacing and organ masks") {
  for (int idx = 0; idx < 6; ++idx) {
    const SynthStudy s = MakeStudy(11, idx, 6, Small());
    CAPTURE(s.name);
    const auto& v = s.volume;
    CHECK(v.spacing_mm[0] >= 0.6);
    CHECK(v.spacing_mm[0] <= 0.9);
    CHECK(v.spacing_mm[2] >= 1.0);
    CHECK(v.spacing_mm[2] <= 5.0);
    std::vector<float> lung, mediastinum;
    double heart = 0;
    size_t nh = 0;
    float hi = -2000;
    for (size_t t = 0; t < v.hu.size(); ++t) {
      if (s.mask[t] == 1 || s.mask[t] == 2) lung.push_back(v.hu[t]);
      if (s.mask[t] == 5) mediastinum.push_back(v.hu[t]);
      if (s.mask[t] == 3) {
        heart += v.hu[t];
        ++nh;
      }
      hi = std::max(hi, v.hu[t]);
    }
    REQUIRE(lung.size() > 100);
    REQUIRE(nh > 100);
    // Mostly air-filled lung (about -850 HU), even with effusion or consolidation.
    std::nth_element(lung.begin(), lung.begin() + static_cast<long>(lung.size() / 2), lung.end());
    CHECK(lung[lung.size() / 2] < -700);
    CHECK(heart / nh > 0);
    CHECK(heart / nh < 80);
    CHECK(hi > 600);  // bone
    // Mediastinal fat (about -90 HU): lymph nodes (38 HU) stand out against it.
    REQUIRE(mediastinum.size() > 100);
    std::nth_element(mediastinum.begin(), mediastinum.begin() + static_cast<long>(mediastinum.size() / 2),
                     mediastinum.end());
    CHECK(mediastinum[mediastinum.size() / 2] < -50);
    CHECK(v.hu[0] < -900);  // air outside the body
  }
}

TEST_CASE("reports state every rendered finding, and the parser reads them back") {
  std::set<std::string> seen;
  for (int idx = 0; idx < 40; ++idx) {
    const SynthStudy s = MakeStudy(5, idx, 40, Small());
    CAPTURE(s.findings);
    const embed::ParsedReport r = embed::ParseReport(s.findings);
    for (const auto& label : s.labels) {
      seen.insert(label);
      bool present = false;
      for (const auto& f : r.findings) present |= f.finding == label && f.existence == embed::Existence::kPresent;
      CHECK_MESSAGE(present, label);
    }
    for (const auto& f : r.findings) {
      if (f.existence == embed::Existence::kAbsent) {
        CHECK_MESSAGE(std::find(s.labels.begin(), s.labels.end(), f.finding) == s.labels.end(), f.finding);
      }
    }
    // A referenced slice is where the finding is.
    for (const auto& [finding, k] : s.referenced_slices) {
      bool found = false;
      for (const auto& ref : r.references) found |= ref.slice_index() == k && ref.series == 2;
      CHECK(found);
    }
  }
  CHECK(seen.size() >= 12);  // at least 12 of the 18 CT-RATE abnormalities occur
}

TEST_CASE("impressions name every present finding, in varied words") {
  std::set<std::string> impressions, normal;
  const int n = 200;
  for (int idx = 0; idx < n; ++idx) {
    const SynthStudy s = MakeStudy(7, idx, n, Small());
    CAPTURE(s.impression);
    const embed::ParsedReport r = embed::ParseReport(s.impression);
    for (const auto& label : s.labels) {
      bool present = false;
      for (const auto& f : r.findings) present |= f.finding == label && f.existence == embed::Existence::kPresent;
      CHECK_MESSAGE(present, label);
    }
    // Nothing the study does not have, and nothing stated as absent.
    for (const auto& f : r.findings) {
      CHECK_MESSAGE(f.existence == embed::Existence::kPresent, f.finding);
      CHECK_MESSAGE(std::find(s.labels.begin(), s.labels.end(), f.finding) != s.labels.end(), f.finding);
    }
    impressions.insert(s.impression);
    if (s.labels.empty()) normal.insert(s.impression);
  }
  // Only studies with no finding share a generic impression; text -> image
  // recall is bounded by how many studies an impression could name.
  CHECK(normal.size() <= 2);
  CHECK(impressions.size() >= static_cast<size_t>(n * 0.85));
}

TEST_CASE("a rendered nodule sits at the referenced slice") {
  int checked = 0;
  for (int idx = 0; idx < 60 && checked < 3; ++idx) {
    const SynthStudy s = MakeStudy(9, idx, 60, Small());
    for (const auto& [finding, k] : s.referenced_slices) {
      if (finding != "Lung nodule") continue;
      // Some voxel of slice k inside a lung mask is solid (the nodule).
      const auto& v = s.volume;
      float best = -2000;
      for (int64_t j = 0; j < v.shape[1]; ++j) {
        for (int64_t i = 0; i < v.shape[0]; ++i) {
          const size_t t = static_cast<size_t>((k * v.shape[1] + j) * v.shape[0] + i);
          if (s.mask[t] == 1 || s.mask[t] == 2) best = std::max(best, v.hu[t]);
        }
      }
      CHECK(best > -100);
      ++checked;
    }
  }
  CHECK(checked > 0);
}

TEST_CASE("the lesion map marks where each finding is drawn, and only the study's findings") {
  CHECK(LesionCode("Medical material") == 1);
  CHECK(LesionCode("Lung nodule") == 10);
  CHECK(LesionCode("Interlobular septal thickening") == 18);
  CHECK(LesionCode("lung nodule") == 0);
  CHECK(LesionCode("") == 0);
  const uint8_t nodule = LesionCode("Lung nodule"), coronary = LesionCode("Coronary artery wall calcification"),
                effusion = LesionCode("Pleural effusion");
  int nodules = 0, drawn = 0, sized = 0;
  for (int idx = 0; idx < 40; ++idx) {
    const SynthStudy s = MakeStudy(9, idx, 40, Small());
    CAPTURE(s.name);
    REQUIRE(s.lesions.size() == s.volume.hu.size());
    const std::set<std::string> labels(s.labels.begin(), s.labels.end());
    std::vector<size_t> count(embed::kNumCtRateLabels + 1, 0);
    std::vector<double> hu_sum(embed::kNumCtRateLabels + 1, 0);
    for (size_t t = 0; t < s.lesions.size(); ++t) {
      REQUIRE(s.lesions[t] <= embed::kNumCtRateLabels);
      ++count[s.lesions[t]];
      hu_sum[s.lesions[t]] += s.volume.hu[t];
    }
    // Only findings the labels name are drawn; no lesion of the organs' own.
    for (int c = 1; c <= embed::kNumCtRateLabels; ++c) {
      if (count[c] > 0) CHECK_MESSAGE(labels.count(embed::kCtRateLabels[c - 1]), embed::kCtRateLabels[c - 1]);
    }
    CHECK(count[LesionCode("Cardiomegaly")] == 0);
    CHECK(count[LesionCode("Mosaic attenuation pattern")] == 0);
    CHECK(count[0] > s.lesions.size() / 2);
    // The voxels carry their finding's HU: solid nodules, calcium, fluid.
    auto mean_hu = [&](uint8_t c) { return hu_sum[c] / static_cast<double>(count[c]); };
    if (count[coronary] > 0) CHECK(mean_hu(coronary) > 600);
    if (count[effusion] > 0) CHECK(std::fabs(mean_hu(effusion) - 12) < 10);
    if (!labels.count("Lung nodule")) continue;
    ++nodules;
    if (count[nodule] == 0) continue;  // drawn over (by an effusion, say)
    ++drawn;
    CHECK(std::fabs(mean_hu(nodule) - 45) < 10);
    for (const auto& [finding, k] : s.referenced_slices) {
      if (finding != "Lung nodule") continue;
      // The referenced slice cuts the nodule (its centre's slice).
      const size_t plane = static_cast<size_t>(s.volume.shape[0] * s.volume.shape[1]);
      size_t in_slice = 0;
      for (size_t t = static_cast<size_t>(k) * plane; t < static_cast<size_t>(k + 1) * plane; ++t) in_slice += s.lesions[t] == nodule;
      CHECK(in_slice > 0);
    }
  }
  CHECK(nodules >= 5);
  CHECK(drawn >= nodules - 2);
  // At full size (the small phantoms' nodules are 1-3 mm), a nodule's
  // voxels make the ball of the diameter its report states.
  SynthOptions full;
  for (int idx = 0; idx < 40 && sized < 3; ++idx) {
    const SynthStudy s = MakeStudy(9, idx, 40, full);
    size_t voxels = 0;
    for (uint8_t c : s.lesions) voxels += c == nodule;
    for (const auto& st : embed::ParseReport(s.findings).sentences) {
      auto mm = embed::StatedSizeMm(st);
      if (!mm || st.find("odule") == std::string::npos || *mm < 5) continue;
      CAPTURE(st);
      const auto& sp = s.volume.spacing_mm;
      const double ball = 4.0 / 3.0 * M_PI * std::pow(*mm / 2, 3), got = static_cast<double>(voxels) * sp[0] * sp[1] * sp[2];
      CHECK_MESSAGE(got > 0.4 * ball, got << " mm3 against " << ball);
      CHECK_MESSAGE(got < 1.8 * ball, got << " mm3 against " << ball);
      ++sized;
    }
  }
  CHECK(sized == 3);
}

TEST_CASE("synth writes a CT-RATE tree that reads back, identically for any thread count") {
  test::TempDir dir;
  SynthOptions o = Small();
  o.n = 6;
  o.seed = 4;
  o.threads = 1;
  o.out = dir.Sub("one");
  REQUIRE(Synthesize(o).ok());
  o.threads = 3;
  o.out = dir.Sub("three");
  REQUIRE(Synthesize(o).ok());
  for (const char* f : {"train_reports.csv", "valid_metadata.csv", "train_predicted_labels.csv",
                        "train/train_2/train_2_a/train_2_a_1.nii.gz"}) {
    CAPTURE(f);
    CHECK(test::ReadFileBytes(dir.Sub(std::string("one/") + f)) == test::ReadFileBytes(dir.Sub(std::string("three/") + f)));
  }
  auto studies = embed::ScanCtRate(dir.Sub("one"));
  REQUIRE_MESSAGE(studies.ok(), studies.status().ToString());
  REQUIRE(studies->size() == 6);
  size_t valid = 0;
  for (const auto& st : *studies) {
    CHECK(st.has_report);
    CHECK(st.has_labels);
    CHECK(st.problem.empty());
    CHECK_FALSE(st.mask_path.empty());
    CHECK_FALSE(st.lesion_mask_path.empty());
    valid += st.split == "valid";
  }
  CHECK(valid == 2);  // ceil(6 * 0.2)
  // HU survive the CT-RATE convention (stored = HU + 1024, intercept in the CSV).
  const SynthStudy ref = MakeStudy(4, 0, 6, o);
  auto v = embed::ReadCtRateVolume((*studies)[0].key == ref.name ? (*studies)[0] : (*studies)[1]);
  REQUIRE(v.ok());
  REQUIRE(v->hu.size() == ref.volume.hu.size());
  double worst = 0;
  for (size_t t = 0; t < ref.volume.hu.size(); t += 97) worst = std::max(worst, std::fabs(double(v->hu[t]) - ref.volume.hu[t]));
  CHECK(worst <= 0.5);
  CHECK(v->spacing_mm[0] == doctest::Approx(ref.volume.spacing_mm[0]).epsilon(1e-3));
  auto mask = embed::ReadNifti((*studies)[0].mask_path);
  REQUIRE(mask.ok());
  CHECK(mask->stored_type == "uint8");
  // The lesion map reads back voxel for voxel.
  const SynthStudy& first = (*studies)[0].key == ref.name ? ref : MakeStudy(4, 1, 6, o);
  auto lesions = embed::ReadNifti((*studies)[0].key == ref.name ? (*studies)[0].lesion_mask_path : (*studies)[1].lesion_mask_path);
  REQUIRE(lesions.ok());
  CHECK(lesions->stored_type == "uint8");
  REQUIRE(lesions->hu.size() == first.lesions.size());
  size_t differ = 0;
  for (size_t t = 0; t < first.lesions.size(); ++t) differ += lesions->hu[t] != first.lesions[t];
  CHECK(differ == 0);

  o.out = "";
  CHECK(Synthesize(o).IsInvalidArgument());
  o.out = dir.Sub("x");
  o.n = 0;
  CHECK(Synthesize(o).IsInvalidArgument());
}

}  // namespace
}  // namespace ctdb::synth
