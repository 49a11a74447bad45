// Training examples: CT-RATE-layout studies read once, preprocessed to the
// model grid and kept in memory (decoding .nii.gz every epoch would cost
// more than the forward pass), with what the objectives need: labels, the
// report's sentences with their disease, existence, organ region and
// referenced slab, per-token organ fractions from the organ masks, and
// per-token lesion fractions from the lesion maps where a data set has them
// (tools/synth writes them; CT-RATE has none).
//
// Thread contract: LoadTrainingSet is thread-safe; a TrainingSet is
// read-only once loaded.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ctdb/result.h"
#include "embed/model_manifest.h"

namespace ctdb::embed {

// Organ labels of the synthetic masks (tools/synth): 1 right lung, 2 left
// lung, 3 heart, 4 aorta, 5 mediastinum.
inline constexpr int kNumOrgans = 5;

struct TrainSentence {
  std::string text;
  int disease = -1;     // index into the manifest's diseases; -1 = none named
  int existence = -1;   // 1 present, 0 absent, -1 uncertain or none
  int organs = 0;       // bit (1 << (label - 1)) per organ the sentence's region covers
  std::string region;   // the parser's region of the finding ("right lower lobe"); "" = none
  int slab = -1;        // slab holding the referenced slice; -1 = no reference
};

// A preprocessed volume kept in 16 bits: v = lo + step * (q + 32768), step
// = (max - min) / 65535 of the volume (~0.03 HU for CT-CLIP's [-1, 1]).
// Half the memory of floats, so a training set at a finer model grid
// (4-8x the voxels) still fits in RAM.
struct PackedVolume {
  std::vector<int16_t> q;
  float lo = 0, step = 0;

  static PackedVolume Pack(const std::vector<float>& v);
  void Unpack(float* out) const;  // q.size() floats
  std::vector<float> Unpack() const;
  size_t size() const { return q.size(); }
};

struct TrainStudy {
  std::string key;
  PackedVolume volume;              // the model grid, (z, y, x) row-major
  std::vector<uint8_t> labels;      // one 0/1 per manifest disease
  std::string findings, impression;
  std::vector<TrainSentence> sentences;
  std::vector<float> organ_tokens;  // kNumOrgans x tokens: organ fraction of each token's block
  // Each present finding the lesion map shows: its manifest disease and
  // the fraction of each token's block that is that lesion (tokens floats).
  struct Lesion {
    int disease = -1;
    std::vector<float> tokens;
  };
  std::vector<Lesion> lesions;
  // Whether the study has a lesion map, and the model-grid voxels where it
  // shows the candidates' disease (kCandidateDisease, embed/nodule_candidates.h):
  // (z, y, x) row-major index and the lesion's fraction there. A map
  // without them says "no visible nodule", which a study without a map
  // cannot say.
  bool lesion_map = false;
  std::vector<uint32_t> candidate_voxels;
  std::vector<float> candidate_fractions;
};

struct TrainingSet {
  std::vector<TrainStudy> studies;
  size_t skipped = 0;          // studies that could not be read
  std::vector<std::string> problems;  // why (first few)
};

// Organ label set of a report region ("right lower lobe" -> right lung).
int OrgansOfRegion(const std::string& region);

// Reads the `split` ("" = all) of a CT-RATE root; `limit` > 0 keeps the
// first N studies. progress(done, total) after each study.
Result<TrainingSet> LoadTrainingSet(const std::string& root, const std::string& split, size_t limit,
                                    const ModelManifest& manifest, int threads,
                                    const std::function<void(size_t, size_t)>& progress = {});

}  // namespace ctdb::embed
