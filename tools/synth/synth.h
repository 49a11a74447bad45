// Synthetic CT studies in CT-RATE's layout, for the demo, tests, training
// and benchmarks (no real data set can be fetched here). Each study is a
// chest phantom with realistic HU (fat, lungs with vessels, airways,
// mediastinum, heart, aorta, spine, ribs), varied patient size, position,
// noise and spacing, and a random set of rendered abnormalities with
// location and severity; its report describes them in varied radiology
// phrasing with explicit negatives and "(series 2, image N)" references.
//
// Layout written under `out`:
//   {train,valid}/<patient>/<scan>/<name>.nii.gz      int16 stored values
//   {train,valid}/<patient>/<scan>/<name>_mask.nii.gz organ label map (uint8):
//       1 right lung, 2 left lung, 3 heart, 4 aorta, 5 mediastinum
//   {train,valid}/<patient>/<scan>/<name>_lesion_mask.nii.gz lesion map (uint8):
//       LesionCode(label) where that finding drew the voxel's HU last, else 0
//       (ground truth of where each finding is: localization targets and
//       checks; cardiomegaly and mosaic attenuation have no focal lesion)
//   {train,valid}_reports.csv, {train,valid}_metadata.csv,
//   {train,valid}_predicted_labels.csv
// Stored value = HU + 1024 with NIfTI scl 1/0; the metadata CSV records
// RescaleSlope 1 and RescaleIntercept -1024, as CT-RATE does. Image numbers
// in reports are 1-based slice indices k of the stored volume.
//
// Deterministic for a seed, whatever the thread count.
// Thread contract: Synthesize is thread-safe for distinct output folders.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ctdb/status.h"
#include "embed/volume.h"

namespace ctdb::synth {

struct SynthOptions {
  std::string out;               // output folder (created)
  int n = 100;                   // studies
  uint64_t seed = 1;
  double valid_fraction = 0.2;   // share of patients in valid/
  int64_t inplane = 160;         // voxels per in-plane axis; spacing 0.6-0.9 mm keeps it realistic
  int threads = 0;               // 0 = hardware concurrency
};

// One generated study, before it is written.
struct SynthStudy {
  std::string name;      // e.g. "train_12_a_1"
  std::string split;     // train or valid
  std::string patient;   // e.g. "train_12"
  std::string scan;      // e.g. "train_12_a"
  embed::Volume volume;  // HU, LPS voxel order
  std::vector<uint8_t> mask;  // organ labels, same shape
  std::vector<uint8_t> lesions;  // LesionCode of the finding drawn there, 0 for none; same shape
  std::vector<std::string> labels;  // positive CT-RATE labels
  std::string findings, impression, clinical_information, technique;
  char sex = 'F';
  int age = 50;
  int study_date = 20200101;
  std::string manufacturer;
  // Slice (k) at which each referenced finding sits, for localization tests.
  std::vector<std::pair<std::string, int>> referenced_slices;
};

// A finding's value in the lesion map: 1 + its column in embed::kCtRateLabels
// (1..18), 0 for a name that is not a CT-RATE label.
uint8_t LesionCode(const std::string& label);

// Generates study `index` of a data set with `seed`.
SynthStudy MakeStudy(uint64_t seed, int index, int n_total, const SynthOptions& options);

// Writes the whole data set; progress(done, total) after each study.
Status Synthesize(const SynthOptions& options, const std::function<void(int, int)>& progress = {});

}  // namespace ctdb::synth
