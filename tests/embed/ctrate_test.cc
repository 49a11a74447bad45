#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include "embed/ctrate.h"
#include "tests/test_util.h"

namespace ctdb::embed {
namespace {

Volume Raw(float stored) {
  Volume v;
  v.shape = {8, 8, 4};
  v.spacing_mm = {1, 1, 1};
  v.ijk_to_ras = IdentityAffine();
  v.ijk_to_ras[0][0] = -1;
  v.ijk_to_ras[1][1] = -1;
  v.hu.assign(static_cast<size_t>(v.voxels()), stored);
  return v;
}

// A two-study CT-RATE tree: stored values without slope/intercept in the
// NIfTI (as released), the real ones in the metadata CSV.
std::string MakeTree(const test::TempDir& dir) {
  namespace fs = std::filesystem;
  const std::string root = dir.Sub("ctrate");
  fs::create_directories(root + "/train/train_1/train_1_a");
  fs::create_directories(root + "/valid/valid_7/valid_7_b");
  fs::create_directories(root + "/dataset/radiology_text_reports");
  REQUIRE(WriteNifti(root + "/train/train_1/train_1_a/train_1_a_1.nii.gz", Raw(1000), NiftiType::kInt16).ok());
  REQUIRE(WriteNifti(root + "/valid/valid_7/valid_7_b/valid_7_b_2.nii.gz", Raw(24), NiftiType::kInt16).ok());
  std::ofstream(root + "/dataset/radiology_text_reports/train_reports.csv")
      << "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n"
      << "train_1_a_1.nii.gz,Cough.,Non-contrast.,\"Right pleural effusion, moderate.\nNo nodule.\",Effusion.\n";
  std::ofstream(root + "/dataset/train_metadata.csv")
      << "VolumeName,Manufacturer,PatientSex,PatientAge,StudyDate,XYSpacing,ZSpacing,RescaleSlope,RescaleIntercept\n"
      << "train_1_a_1.nii.gz,SIEMENS,F,063Y,20200105,\"[0.75, 0.8]\",1.5,1,-1024\n"
      << "valid_7_b_2.nii.gz,PHILIPS,M,045Y,20210304,[0.5 0.5],abc,1,-1024\n";
  std::string header = "VolumeName";
  for (const char* l : kCtRateLabels) header += std::string(",") + l;
  std::string row = "train_1_a_1.nii.gz";
  for (int i = 0; i < kNumCtRateLabels; ++i) row += i == 12 || i == 2 ? ",1" : ",0";
  std::ofstream(root + "/dataset/train_predicted_labels.csv") << header << "\n" << row << "\n";
  return root;
}

TEST_CASE("CT-RATE layout: volumes joined with reports, labels and metadata") {
  test::TempDir dir;
  const std::string root = MakeTree(dir);
  auto studies = ScanCtRate(root);
  REQUIRE_MESSAGE(studies.ok(), studies.status().ToString());
  REQUIRE(studies->size() == 2);
  const CtRateStudy& a = (*studies)[0];
  CHECK(a.key == "train_1_a_1");
  CHECK(a.split == "train");
  CHECK(a.patient_id == "train_1");
  CHECK(a.has_report);
  CHECK(a.findings == "Right pleural effusion, moderate.\nNo nodule.");
  CHECK(a.impression == "Effusion.");
  CHECK(a.labels == std::vector<std::string>{"Cardiomegaly", "Pleural effusion"});
  CHECK(a.sex == Sex::kFemale);
  CHECK(a.age_years == 63);
  CHECK(a.study_date == 20200105);
  CHECK(a.manufacturer == "SIEMENS");
  CHECK(a.problem.empty());

  // Overrides: HU = 1 * stored - 1024; spacing from the CSV, not the file.
  auto v = ReadCtRateVolume(a);
  REQUIRE(v.ok());
  CHECK(v->hu[0] == doctest::Approx(1000 - 1024));
  CHECK(v->spacing_mm[0] == doctest::Approx(0.75));
  CHECK(v->spacing_mm[1] == doctest::Approx(0.8));
  CHECK(v->spacing_mm[2] == doctest::Approx(1.5));
  CHECK(v->ijk_to_ras[0][0] == doctest::Approx(-0.75));  // direction kept, length rescaled
  CHECK(v->ijk_to_ras[2][2] == doctest::Approx(1.5));

  // A bad value marks only its own study.
  const CtRateStudy& b = (*studies)[1];
  CHECK(b.key == "valid_7_b_2");
  CHECK_FALSE(b.has_report);
  CHECK(b.problem.find("ZSpacing") != std::string::npos);
  auto bad = ReadCtRateVolume(b);
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("valid_7_b_2") != std::string::npos);
}

TEST_CASE("CT-RATE errors: no volumes, broken CSV") {
  test::TempDir dir;
  CHECK(ScanCtRate(dir.Sub("missing")).status().IsNotFound());
  std::filesystem::create_directories(dir.Sub("empty/train"));
  CHECK(ScanCtRate(dir.Sub("empty")).status().IsNotFound());
  const std::string root = MakeTree(dir);
  std::ofstream(root + "/dataset/valid_reports.csv") << "VolumeName,Findings_EN\nx.nii.gz,\"unterminated\n";
  auto r = ScanCtRate(root);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().message().find("valid_reports.csv") != std::string::npos);
}

TEST_CASE("CT-RATE label columns: exact names, in the CSV's order") {
  for (int c = 0; c < kNumCtRateLabels; ++c) CHECK(CtRateLabelColumn(kCtRateLabels[c]) == c);
  CHECK(CtRateLabelColumn("Lung nodule") == 9);
  CHECK(CtRateLabelColumn("lung nodule") == -1);
  CHECK(CtRateLabelColumn("Lung nodule ") == -1);
  CHECK(CtRateLabelColumn("") == -1);
}

}  // namespace
}  // namespace ctdb::embed
