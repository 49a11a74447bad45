// The CT-RATE dataset layout as an import format:
//   {train,valid}/<patient>/<scan>/<name>.nii.gz
//   *_reports.csv           VolumeName, ClinicalInformation_EN, Technique_EN, Findings_EN, Impressions_EN
//   *_metadata.csv          VolumeName, ..., XYSpacing "[0.34, 0.34]", ZSpacing, RescaleSlope,
//                           RescaleIntercept, PatientSex, PatientAge "063Y", StudyDate, Manufacturer ...
//   *_predicted_labels.csv  VolumeName + the 18 labels below, 0/1
// The metadata CSV overrides the volume's slope, intercept and spacing: the
// released .nii.gz files do not carry them reliably.
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdb/result.h"
#include "ctdb/study.h"
#include "embed/nifti_io.h"
#include "embed/volume.h"

namespace ctdb::embed {

// CT-RATE's 18 abnormality labels, in its CSV column order.
inline constexpr int kNumCtRateLabels = 18;
extern const char* const kCtRateLabels[kNumCtRateLabels];
// The column (0-based) of a label in kCtRateLabels, exact spelling; -1 for none.
int CtRateLabelColumn(std::string_view name);

struct CtRateStudy {
  std::string volume_name;  // "train_1_a_1.nii.gz"
  std::string key;          // "train_1_a_1"
  std::string path;         // the volume file
  std::string mask_path;    // "<key>_mask.nii.gz" beside it (synthetic studies), or ""
  std::string lesion_mask_path;  // "<key>_lesion_mask.nii.gz" beside it (synthetic studies), or ""
  std::string split;        // "train" or "valid"
  std::string patient_id;   // "train_1"
  bool has_report = false;
  std::string clinical_information, technique, findings, impression;
  bool has_labels = false;
  std::vector<std::string> labels;  // names of positive labels
  std::map<std::string, std::string> metadata;  // every metadata column, verbatim
  std::optional<double> rescale_slope, rescale_intercept, z_spacing_mm;
  std::optional<std::array<double, 2>> xy_spacing_mm;
  Sex sex = Sex::kUnknown;
  int age_years = -1;   // from "063Y"
  int study_date = 0;   // YYYYMMDD
  std::string manufacturer;
  // Why this study cannot be read ("" when it can), e.g. a bad spacing value.
  std::string problem;
};

// True for organ-mask files, "<name>_mask.nii[.gz]" (written beside the
// synthetic volumes): segmentations, not studies.
bool IsOrganMaskName(const std::string& name);

// Every volume under root/{train,valid}/ (files named *_mask.nii.gz are
// organ masks, not volumes), joined by file name with the
// CSVs found anywhere under root, sorted by key. A CSV that does not parse
// is an error naming it; a bad value in one row marks only that study
// (CtRateStudy::problem). NotFound when root has no volumes.
Result<std::vector<CtRateStudy>> ScanCtRate(const std::string& root);

// Reads the volume with the metadata overrides applied.
Result<Volume> ReadCtRateVolume(const CtRateStudy& study, const NiftiReadOptions& options = {});

}  // namespace ctdb::embed
