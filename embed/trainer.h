// Training the native model (`ctdb train`) with the objectives of the seed
// papers, each switchable:
//   siglip        sigmoid loss between global image and report embeddings (seed 001)
//   disease       each disease query token's feature against report sentences
//                 about that disease, same-existence pairs positive (seed 000)
//   localization  softmax over a study's slab similarities against the slab
//                 of the slice a sentence references (seed 001)
//   anatomy       organ-mask-pooled token features against the sentences
//                 about that organ (seed 002)
//   augment       reports with shuffled and dropped sentences, sentences
//                 replaced by catalog phrases of the same meaning (seeds 003, 000)
//   augment_volumes  volumes shifted in-plane by a few voxels, with HU
//                 gain/offset jitter and extra noise (the synthetic sets are
//                 small; a CNN memorizes them otherwise)
//   false_neg     studies with identical label sets and impressions (and
//                 anatomy pairs with identical sentences) are not pushed
//                 apart (seed 002; embed/batch_order.h)
//   hard_negatives  batches hold pairs of studies with the same label set
//                 and different impressions, the pairs text -> image
//                 retrieval confuses (embed/batch_order.h)
//   attributes    (off by default) within the disease loss, a study's own sentence stating a
//                 finding present in a region ("5 mm nodule in the right
//                 lower lobe") is a positive only for studies with that
//                 finding in that region, not for every study with the
//                 finding: the token feature learns where, text search
//                 reads it (QueryEngineOptions::sentence_weight); catalog
//                 phrases and absent statements stay existence-level
//   lesions       (off by default) where the data has lesion maps (tools/synth),
//                 each present finding's query token is taught where the
//                 finding is: -log of its attention weight on the tokens
//                 holding the lesion (the token feature then reads them)
//   labels        binary cross-entropy of the zero-shot score itself, per
//                 disease, against the study's labels: the global and the
//                 disease-token embeddings against the catalog prototypes'
//                 direction p+ - p- (CT-CLIP's supervised fine-tuning with the
//                 text tower as classifier: a dense signal for the image
//                 tower, and the prompts learn to point where it looks),
//                 plus "prompts": the squared cosines between different
//                 diseases' directions (else "X." - "No X." is the direction
//                 of "no" for every X); with a detector head
//                 (architecture.detect.stage) or a peaks readout
//                 (architecture.readout), "detect": its per-disease
//                 scores against the labels
//   candidates    with nodule candidates (architecture.candidates) and
//                 lesion maps: each candidate's logit against whether the
//                 lesion map has the nodule within one filter voxel of it
//                 (binary cross-entropy, positives weighted 5: a nodule
//                 phantom has one or two among 24 candidates)
// Checkpoints (model, optimizer, step) go to <out>/checkpoint/ every epoch;
// training resumes from them. A run may start from a trained model's
// weights (fine-tuning) instead of a random initialization. CPU by
// default, CUDA when LibTorch has it.
//
// Thread contract: one Train call owns its model; progress is called on the
// calling thread.
#pragma once

#include <functional>
#include <array>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ctdb/status.h"
#include "embed/disease_catalog.h"
#include "embed/model_manifest.h"
#include "embed/train_data.h"

namespace ctdb::embed {

struct TrainObjectives {
  bool siglip = true, disease = true, localization = true, anatomy = true, augment = true, false_negatives = true;
  bool augment_volumes = true;
  bool labels = true;
  bool hard_negatives = true;
  bool attributes = false;  // opt-in: no gain measured yet (README, Training, session 21)
  bool lesions = false;     // opt-in: needs lesion maps (README, Training, session 23)
  bool candidates = true;   // with architecture.candidates; needs lesion maps
};

struct TrainOptions {
  std::string out;              // model directory: weights.pt, vocab.txt, checkpoint/
  ModelManifest manifest;       // the model's layout (a resumed run keeps its own)
  std::vector<std::string> vocab;
  int epochs = 12;
  int batch = 16;
  double lr = 1e-3;             // AdamW, linear warm-up then cosine decay
  double weight_decay = 1e-4;
  // With a peaks readout (architecture.readout): the peak learning rate of
  // its weights and the evidence directions (same warm-up and decay as lr),
  // without weight decay. The readout is a logistic regression on centred
  // maxima, whose best rate does not follow the rest of the model's: fitted
  // alone by Adam in batches of 16 (414 steps, 500 phantoms), coronary
  // calcium held out reached 0.87 at 1e-2 with a held-out loss below the
  // base rates', 0.78 at 3e-3, 0.89 at 3e-2 with a loss above them; a
  // fine-tune's lr is 1e-4.
  double readout_lr = 1e-2;
  // Train the evidence path alone (IsEvidenceParameter: the readout, the
  // blob and candidate weights, the candidate network, the directions into
  // the features); every other weight stays as it was and runs as at
  // inference (its normalizations on their running statistics). For adding
  // a scorer to a trained model without moving what its retrieval rests
  // on: 176 steps of a whole-model fine-tune cost text -> image R@10 ~0.015
  // twice (README, Training, sessions 21 and 23). Needs the readout.
  bool only_evidence = false;
  int warmup_steps = 30;
  uint64_t seed = 1;
  TrainObjectives objectives;
  // Phrases per manifest disease, in the manifest's order (the model
  // directory's diseases.json); empty = DefaultPromptsFor each disease.
  // Every entry needs a positive and a negative phrase.
  std::vector<DiseasePrompts> catalog;
  bool cuda = false;            // use CUDA when LibTorch has it
  // Fine-tuning: the weights.pt of a trained native model of this very
  // layout and vocabulary to start from (step 0, fresh optimizer), instead
  // of a random initialization; ignored when <out>/checkpoint resumes.
  std::string init_weights;
  // The layout init_weights were trained in when it is not `manifest` but
  // `manifest` is it grown onto a finer input (FinerInput; the weights move
  // over by GrowFromCoarser) and/or given a detector head (architecture.
  // detect.stage; the head starts fresh, adding nothing to the embeddings
  // until trained). Unset = the same layout.
  std::optional<ModelManifest> init_manifest;
  // Stop (with a checkpoint) once this many steps are done in total, to
  // split a run into time-boxed sessions; 0 = run to the end.
  int64_t stop_at_step = 0;
  // After each step, from the calling thread.
  struct Progress {
    int epoch = 0, epochs = 0;
    int64_t step = 0, steps = 0;
    std::map<std::string, double> losses;  // this step's, by objective
    // Collapse watch: mean cosine between different studies' global image
    // embeddings and between their report embeddings in this batch (near 1 =
    // the tower maps everything to one direction).
    double image_cos = 0, text_cos = 0;
    bool checkpointed = false;
  };
  std::function<void(const Progress&)> progress;
};

struct TrainResult {
  int64_t steps = 0;         // steps done in total (== planned unless stopped early)
  bool finished = false;     // all epochs done; weights.pt written
  int64_t resumed_from = 0;  // step a checkpoint restored (0 = fresh start)
  bool initialized = false;  // started from options.init_weights
  std::map<std::string, double> final_losses;  // mean over the last epoch
  double seconds = 0;
  std::string device;
};

// The report augmentation (`augment`, seed 003): a quarter of the time the
// impression alone (the short text a user queries with; CT-RATE-style
// impressions restate the positive findings), otherwise the report's sentences with those that state
// no present finding dropped at 0.3 and the rest shuffled half the time.
inline constexpr double kImpressionOnlyFraction = 0.25;
std::string AugmentReport(const TrainStudy& s, std::mt19937_64& rng);

// The volume augmentation (`augment_volumes`): `in` (z, y, x) row-major,
// shifted in-plane by up to 4 voxels (padding moves in), times a gain in
// [0.97, 1.03], plus an offset in [-0.015, 0.015] and noise of sd 0.01 (on
// CT-CLIP's scale, ~10 HU). z stays put: slab targets depend on it.
// Returns the in-plane shift (dy, dx) it applied, for targets on the grid.
std::array<int64_t, 2> AugmentVolume(const float* in, float* out, const std::array<int64_t, 3>& zyx, float pad,
                                     std::mt19937_64& rng);

// Whether the parameter `name` (as ClipModel names it) belongs to the
// evidence score of a peaks readout: its weights and bias, the blob and
// candidate weights, the candidate network, and the directions that carry
// the score into the features.
bool IsEvidenceParameter(const std::string& name);

// Trains on `data` and writes <out>/weights.pt and <out>/vocab.txt (the
// caller writes manifest.json). Resumes from <out>/checkpoint when present.
Result<TrainResult> Train(const TrainingSet& data, const TrainOptions& options);

}  // namespace ctdb::embed
