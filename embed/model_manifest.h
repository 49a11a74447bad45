// What a model directory's manifest.json says (see DESIGN.md "Encoders"):
// the embedding, the preprocessing the model expects, the tokenizer, the
// slab thickness, the diseases and, for native models, the architecture.
// The JSON codec lives in api/ (nlohmann_json stays there); this is the
// plain struct the encoders are built from.
//
// Thread contract: plain value type.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "embed/preprocess.h"
#include "embed/tokenizer.h"

namespace ctdb::embed {

// Layout of the native hybrid CNN-ViT model (seed 000). Defaults: about 0.9
// GFLOP per 96 x 96 x 64 volume, trainable on a 2-core CPU.
struct NativeArchitecture {
  // CNN stem, one entry per stage: output channels, kernel and stride along
  // (k, j, i) = (z, y, x). The last stage acts as the patch embedding.
  struct Stage {
    int64_t channels = 0;
    std::array<int64_t, 3> kernel{3, 3, 3};
    std::array<int64_t, 3> stride{2, 2, 2};
  };
  std::vector<Stage> stem = {
      {8, {3, 3, 3}, {2, 2, 2}}, {32, {3, 3, 3}, {2, 2, 2}}, {128, {1, 4, 4}, {1, 4, 4}}};
  // Normalization after each stem stage but the last: "group" (GroupNorm,
  // 4 groups), "batch" (BatchNorm3d) or "none". GroupNorm normalizes each
  // volume by its own statistics, which erases global composition (how much
  // of the chest is lung, fluid, heart); BatchNorm keeps it.
  std::string stem_norm = "group";
  // HU windows (lo, hi) the first stem stage sees, one input channel each,
  // scaled to [-1, 1] from the preprocessed volume; empty = the preprocessed
  // volume itself as one channel. Radiologists read lungs, soft tissue and
  // calcium in different windows; a fluid-vs-muscle difference of 30 HU is
  // 1.5% of the [-1000, 1000] input range but 7.5% of a 400 HU soft-tissue
  // window.
  std::vector<std::array<float, 2>> windows;
  // The stem's own mean and max over its tokens (before the transformer)
  // added to the pooled global and disease features: a plain CNN probe with
  // exactly that pooling learned aortic calcification and hiatal hernia,
  // which the transformer-only path never did. false = models made before.
  bool stem_pool = false;
  // Finding detectors (stage 0 = none): a small convolutional head on the
  // output of stem stage `stage` (1-based, before the last) with `channels`
  // hidden channels and one output map per disease, pooled over the volume
  // into one evidence score per disease by log-sum-exp at `sharpness` r:
  // (1/r) log mean exp(r * map). The score is added to that disease's token
  // and (through a learned map) to the global feature. Small findings (a
  // 3-10 mm nodule among vessels, 2-4 mm coronary calcium beside aortic wall
  // calcium) are a few voxels of a 6 x 6 in-plane token grid; a detector at
  // a finer stage keeps them, and training (the labels objective) supervises
  // its scores directly. r = 1 pools like a mean while the maps are flat, and
  // a head trained so learned the findings of composition only
  // (cardiomegaly, emphysema: AUC 0.99; medical material 0.61 after 621
  // steps); a large r pools like the maximum (multiple-instance learning:
  // the strongest voxel of a negative study is the hard negative). One
  // struct, copied whole: the head is one choice. Defaults: off, 32
  // channels, r = 10.
  struct Detect {
    int64_t stage = 0;
    int64_t channels = 32;
    double sharpness = 10;
  };
  Detect detect;
  // Peak skips (empty = none): for each listed stem stage (0 = the windowed
  // input itself, k = stage k's output, before the last), each channel's
  // maximum over a token's block is added to that token through one learned
  // linear map, which starts at zero (a model given peaks computes what it
  // did until trained). Strided convolutions average a 1-2 mm calcification
  // away before it reaches a 24 mm token; a block's maximum keeps it, where
  // the transformer can weigh it by place (beside the heart or in the aortic
  // wall). Stages ascending, each once.
  std::vector<int64_t> peaks;
  // Per-place readout of the peaks (needs `peaks` and diseases; not with a
  // detector head, whose place it takes): each disease's evidence score is
  // one linear function of every token place's peak values, (K, C x T)
  // weights, bias at the disease's base rate, trained by the "detect" loss
  // and added to the disease and global features along directions that
  // start at zero, as the head's score is. A position-blind map (the peaks'
  // own) never learned that bright calcium beside the heart is coronary and
  // in the aortic wall is not; a logistic regression on exactly these peaks,
  // one weight per place, found coronary calcium at AUC 0.90 held out.
  bool readout = false;
  // Blob scales for the readout (empty = none; needs `readout`): a fixed
  // Hessian "dot" filter (embed/blob_filter.h) at each scale sigma (mm) on
  // the input in HU, kept inside the lungs; per scale the volume's maximum
  // and the mean of its 16 largest values join the readout's evidence, with
  // their own weights that start at zero. A nodule is no brighter than the
  // vessels beside it (every readout of maxima stayed at chance); the filter
  // tells a ball from a tube (its maximum alone at sigma 1.5 mm: AUC 0.73
  // on 600 phantoms). Ascending, each in (0, 10].
  std::vector<double> blobs;
  // Nodule candidates (count 0 = none; needs `blobs`, and a disease named
  // "Lung nodule"): the `count` strongest local maxima of the first blob
  // scale's response, each a patch `patch_mm` across judged by a small CNN
  // (`channels` wide; embed/nodule_candidates.h); the largest logit and the
  // log-sum-exp of the logits join the readout's evidence with their own
  // weights, which start at zero. Trained on the lesion maps' nodule voxels
  // (the "candidates" loss). The blob filter's maximum alone tells nodule
  // phantoms at AUC 0.74, yet ranks the nodule first among their maxima in
  // two of three: vessel junctions answer as strongly elsewhere, and the
  // patch tells them apart. Defaults: off, 8 channels, 14 mm.
  struct Candidates {
    int64_t count = 0;
    int64_t channels = 8;
    double patch_mm = 14;
  };
  Candidates candidates;
  int64_t width = 128;        // transformer width (= last stem channels)
  int64_t layers = 2;         // image transformer layers
  int64_t heads = 4;
  int64_t ffn = 256;          // feed-forward width
  int64_t text_width = 128;
  int64_t text_layers = 2;
  int64_t text_heads = 4;
  int64_t text_ffn = 256;
};

struct ModelManifest {
  std::string format = "native";  // "native" (torch::nn weights) or "torchscript"
  std::string name;               // e.g. "ctdb-synthetic-small"
  std::string version;            // e.g. "1"
  int64_t dimension = 256;        // embedding dimension
  std::string orientation = "LPS";  // the only one supported: preprocessing's canonical order
  PreprocessSpec preprocess;      // spacing, size, HU window and scaling, pad value
  TokenizerOptions tokenizer;
  int64_t max_tokens = 128;       // per text, including [CLS] and [SEP]
  double slab_mm = 12;            // thickness of one slab feature along z
  std::vector<std::string> diseases;  // one query token per disease, in this order
  NativeArchitecture architecture;    // native models only
  // Files, relative to the model directory.
  std::string weights = "weights.pt";     // native
  std::string image_module = "image.pt";  // torchscript
  std::string text_module = "text.pt";    // torchscript
  std::string vocab = "vocab.txt";
  // Free-form provenance (what it was trained on); shown by `ctdb model info`.
  std::string description;
};

}  // namespace ctdb::embed
