// ctdb::Model: a CT vision-language encoder loaded from a model directory
// (manifest.json, weights, vocab.txt), native or TorchScript. It turns CT
// volumes and report text into the vectors a Database stores.
//
//   auto model = ctdb::Model::Open("models/ctdb-synthetic");
//   auto study = (*model)->EmbedStudyFile("scan.nii.gz", record);  // -> Database::Put
//   auto q = (*model)->EmbedTexts({"right pleural effusion"});
//
// Thread contract: a Model is safe for concurrent use; forward passes
// serialize inside it and each uses ModelOptions::threads cores.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ctdb/result.h"
#include "ctdb/status.h"
#include "ctdb/study.h"

namespace ctdb {

struct ModelOptions {
  // LibTorch intra-op threads (process-wide; LibTorch starts with 1 here).
  // 0 = hardware concurrency. Default: 0.
  int threads = 0;
  // Test-time augmentation: each volume is encoded as this many views (the
  // volume and copies shifted in-plane by 3 voxels of the model grid,
  // ~2 mm), whose image, slab and disease features are averaged;
  // detections come from the volume itself. 1..5, InvalidArgument
  // otherwise; each view costs one forward pass. Vectors stay comparable
  // with a database embedded with any other count. Default: 1.
  int views = 1;
};

struct ModelInfo {
  std::string id;       // "<name>@<version>#<hash of the weights>", recorded by databases
  std::string name, version, format, description;
  size_t dimension = 0;
  std::array<double, 3> spacing_mm{0, 0, 0};  // model input grid (i, j, k), LPS
  std::array<int64_t, 3> size{0, 0, 0};
  std::string resample;  // how scans reach that grid: "linear" or "antialias"
  double slab_mm = 0;   // thickness of one slab feature along z
  int max_tokens = 0;
  std::vector<std::string> diseases;  // one visual feature per disease
  double volume_flops = 0;  // per forward pass; 0 when unknown (TorchScript)
  // 1/tau: P(disease | x) = sigmoid(logit_scale * (x.p+ - x.p-)). Learned
  // by native models; 10 for TorchScript modules.
  double logit_scale = 10;
};

// How to read a volume file.
struct VolumeReadOptions {
  // DICOM folders holding several series: the one to read. Default: the only one.
  std::string series_uid;
  // Overrides of what the file says (CT-RATE keeps these in its metadata
  // CSV); 0 / NaN-free defaults mean "use the file's". Default: none.
  bool override_rescale = false;
  double rescale_slope = 1, rescale_intercept = 0;
  std::array<double, 3> spacing_mm{0, 0, 0};  // 0 = keep the file's along that axis
};

// A disease of the model's catalog (diagnosis-aware prompts, seed 000):
// clinical phrases saying it is present or absent, and their mean embeddings.
// P(disease | x) = sigmoid((x . p+ - x . p-) / tau) is monotone in
// x . (p+ - p-), so ranking studies by a disease is one inner-product search.
struct DiseasePrototype {
  std::string name;
  std::vector<std::string> positive, negative;
  std::vector<float> p_positive, p_negative;  // means of the phrase embeddings
  // Calibration shipped with the model (diseases.json "calibration"), as
  // in DiseaseEntry; calibration_studies 0 = none.
  double calibration_scale = 1, calibration_bias = 0;
  uint64_t calibration_studies = 0;
};

class Model {
 public:
  // Reads dir/manifest.json and loads the weights. NotFound for a missing
  // directory or file; InvalidArgument for a bad manifest (the message names
  // the field); Corruption for weights that do not load.
  static Result<std::unique_ptr<Model>> Open(const std::string& dir, const ModelOptions& options = {});
  virtual ~Model() = default;

  virtual const ModelInfo& info() const = 0;
  const std::string& id() const { return info().id; }

  // L2-normalized embeddings of texts (queries, report sentences).
  virtual Result<std::vector<std::vector<float>>> EmbedTexts(const std::vector<std::string>& texts) = 0;

  // Embeds the volume of `preview`-like data (int16 HU, LPS, any spacing):
  // fills vectors.image, slabs and diseases. Used to re-embed stored previews.
  virtual Result<StudyVectors> EmbedVolume(const Preview& volume) = 0;

  // A complete study from a volume file (NIfTI, DICOM file or DICOM series
  // folder) and what is known about it: reads and preprocesses the volume,
  // embeds it and the report (findings + impression, and each sentence),
  // makes the preview, and fills shape, spacing, source_uri and model_id.
  // The key defaults to the file name without extension.
  virtual Result<Study> EmbedStudyFile(const std::string& path, const StudyRecord& record,
                                       const VolumeReadOptions& read = {}) = 0;

  // The disease catalog, embedded (computed once, then cached): the model
  // directory's diseases.json when present (users may edit its phrases and
  // add diseases), else the built-in phrases for the manifest's diseases.
  virtual Result<std::vector<DiseasePrototype>> DiseasePrototypes() = 0;
  // The same catalog without embedding it (p_positive, p_negative empty):
  // names, phrases and shipped calibrations, read each call.
  virtual Result<std::vector<DiseasePrototype>> DiseasePhrases() = 0;
};

}  // namespace ctdb
