// Creating a native model directory: manifest.json, vocab.txt (from an
// existing BERT vocabulary or learnt from a corpus of reports) and freshly
// initialized weights. `ctdb model init` and training start here.
#pragma once

#include <string>
#include <vector>

#include "ctdb/status.h"
#include "embed/disease_catalog.h"
#include "embed/model_manifest.h"

namespace ctdb {

struct NewModelSpec {
  // name, version, dimension, preprocessing, diseases, architecture... The
  // default is the demo model's layout: 96 x 96 x 64 voxels at 1.5 x 1.5 x 3
  // mm (a 144 x 144 x 192 mm box: the synthetic chests), 12 mm slabs, the
  // 18 CT-RATE diseases, d = 256, about 0.9 GFLOP per volume.
  embed::ModelManifest manifest = DefaultManifest();
  // Vocabulary: an existing vocab.txt, or learnt from these texts.
  std::string vocab_file;
  std::vector<std::string> corpus;
  size_t vocab_size = 8000;
  uint64_t seed = 1;

  static embed::ModelManifest DefaultManifest();
  // The layout `ctdb train` starts from (and the shipped model's): the
  // default input and transformer, with a 4-stage batch-normalized CNN stem
  // (16-32-64-128 channels, 3^3 kernels, strides 2, 2, 1x2x2, 1x2x2 -> a
  // 16 x 6 x 6 token grid, 12 mm slabs) over three HU windows (lung
  // -1000..-400, soft tissue -200..200, calcium and bone 150..1000). The
  // default's 2-stage stem never beat chance on the synthetic phantoms; this
  // one does, at about 1.6 GFLOP per volume (over DESIGN's ~1 GFLOP budget).
  // The stem's own mean and max over tokens join the pooled features
  // (stem_pool).
  static embed::ModelManifest TrainingManifest();
  // A few-MFLOP model (32 x 32 x 16 input, width 32) for tests.
  static embed::ModelManifest TinyManifest();
};

// The built-in phrases for the manifest's diseases (diseases.json of a new model).
std::vector<embed::DiseasePrompts> DefaultCatalogFor(const embed::ModelManifest& manifest);

// Writes the model into `dir` (manifest.json, weights.pt, vocab.txt,
// diseases.json) (created; existing model files are replaced).
Status CreateNativeModel(const std::string& dir, const NewModelSpec& spec);

}  // namespace ctdb
