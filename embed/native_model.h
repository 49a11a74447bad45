// The native CT vision-language model as torch::nn modules (LibTorch stays
// inside embed/; only embed/*.cc include this header).
//
// Image (seed 000's hybrid, seed 001's slabs): a 3D CNN stem in place of ViT
// patch embedding -> factorized (z, y, x) position embeddings -> transformer
// layers over the token grid. From the visual tokens:
//   global    attention pooling with a learned query, plus the per-channel
//             maximum over tokens,
//   slabs     tokens averaged over (y, x): one feature per z token, i.e. one
//             per slab of (product of stem z strides) model slices,
//   diseases  K learned disease query tokens cross-attending to the tokens.
// Optionally (architecture.detect.stage) a detector head on an earlier stem
// stage scores each disease, log-sum-exp pooled over the volume; the scores
// are added to the disease and global features along learned directions,
// which start at zero (a head added to a trained model changes nothing
// until training moves them). Optionally (architecture.peaks) each channel's
// maximum over a token's block of the windowed input or of earlier stem
// stages reaches that token through a linear map that starts at zero, and
// (architecture.readout) a per-place linear readout of those maxima makes
// the evidence scores in the head's place.
// All three go through one projection into the joint space, L2-normalized.
// Text: token + position embeddings -> transformer with a padding mask ->
// mean plus per-channel max over the real tokens -> projection, L2-normalized.
//
// Thread contract: forward() in eval mode under torch::NoGradGuard mutates
// nothing; training (embed/ training code) owns its model exclusively. In
// training mode forward() needs batches of at least 2 (batch normalization).
#pragma once

#include <torch/nn.h>

#include "embed/model_manifest.h"
#include "embed/nodule_candidates.h"
#include "embed/torch_util.h"

namespace ctdb::embed {

// Modules per stem stage before the last (conv, [norm,] GELU), as the image
// encoder builds them: stem module k * this is where stage k's output is.
int64_t StemModulesPerStage(const NativeArchitecture& architecture);
// Input channels of the first stem stage: one per HU window, or 1 (the
// preprocessed volume itself).
int64_t StemInputChannels(const NativeArchitecture& architecture);
// Channels of stem stage `stage`'s output (1-based; 0 = the stem's input).
int64_t StageChannels(const NativeArchitecture& architecture, int64_t stage);

// The grid (z, y, x counts) after the first `stages` stem stages (all of
// them at most) of a preprocessed volume.
std::array<int64_t, 3> StageGrid(const ModelManifest& manifest, size_t stages);
// The visual token grid a preprocessed volume yields: (z, y, x) counts.
std::array<int64_t, 3> TokenGrid(const ModelManifest& manifest);
// Model slices per slab (product of the stem's z strides).
int64_t SlabSlices(const ModelManifest& manifest);

struct ImageOutput {
  torch::Tensor global;    // (B, d)
  torch::Tensor slabs;     // (B, Z', d)
  torch::Tensor diseases;  // (B, K, d); (B, 0, d) when K = 0
  torch::Tensor tokens;    // (B, Z', Y', X', width), before pooling (anatomy pooling)
  // Where each disease query looks: (B, K, Z' x Y' x X') attention weights
  // (mean over heads, each row sums to 1); undefined when K = 0.
  torch::Tensor disease_attention;
  // Per-disease evidence scores (B, K) from the detector head
  // (architecture.detect.stage > 0) or the peaks' readout
  // (architecture.readout), log-odds once trained; undefined otherwise.
  torch::Tensor evidence;
  // Nodule candidates (architecture.candidates): where they are on the blob
  // filter's grid (B, N, 3) int64 and on the input grid (their response
  // voxel's centre, (B, N, 3) int64), which are real (B, N) bool, and the
  // network's logit for each (B, N); undefined without candidates.
  torch::Tensor candidate_sites, candidate_centres, candidate_valid, candidate_logits;
};

class ImageEncoderImpl : public torch::nn::Module {
 public:
  explicit ImageEncoderImpl(const ModelManifest& manifest);
  // x: (B, 1, Z, Y, X) preprocessed volumes.
  ImageOutput forward(const torch::Tensor& x);
  // The shared projection + normalization, for features pooled elsewhere
  // (e.g. over an organ mask during training): (..., width) -> (..., d).
  torch::Tensor Project(const torch::Tensor& features);
  // What the stem sees: one clamped channel per HU window (B, W, Z, Y, X),
  // or x itself without windows.
  torch::Tensor StemInput(const torch::Tensor& x) const;
  // Sets the evidence biases (K) of the detector head or the readout: their
  // scores start at each disease's base rate. No-op without either.
  void InitDetectBias(const torch::Tensor& log_odds);
  // conv, [norm,] GELU per stage; the last stage is its conv alone.
  torch::nn::Sequential& stem() { return stem_; }

 private:
  torch::nn::Sequential stem_{nullptr};
  bool stem_pool_ = false;  // manifest architecture.stem_pool
  // Detector head (detect.stage > 0): reads the stem's module
  // `detect_after_` - 1 output.
  torch::nn::Sequential detect_{nullptr};
  size_t detect_after_ = 0;
  double detect_sharpness_ = 1;
  torch::Tensor detect_token_;   // (K, 1, width): evidence -> disease feature
  torch::Tensor detect_global_;  // (K, width): evidence -> global feature
  // Peak skips: after which stem module each listed stage's output is taken
  // (0 = the windowed input; ascending), and the map from their block
  // maxima, concatenated, to the token width.
  std::vector<size_t> peak_after_;
  torch::nn::Linear peaks_{nullptr};
  // Per-place readout (architecture.readout): evidence = flatten(peaks)
  // (B, C x T), standardized per feature, times readout_w_' (K, C x T) plus
  // readout_b_ (K); it uses detect_token_ and detect_global_ as the head's
  // score does.
  torch::nn::BatchNorm1d readout_norm_{nullptr};
  torch::Tensor readout_w_, readout_b_;
  // Blob features (architecture.blobs): per scale the fixed dot filter's
  // maximum over the volume and the mean of its 16 largest values (B, 2S),
  // standardized as the peaks are, times blob_w_' (K, 2S), added to the
  // readout's evidence. Not per place, unlike the peaks: a nodule may lie
  // anywhere in the lungs, and per-place weights fitted on 480 phantoms
  // fell to AUC 0.59 where the volume's maximum alone reached 0.73. The
  // filter reads HU = x * divisor + offset on the input's grid.
  ModelManifest blob_input_;  // only preprocess and architecture.blobs are read
  torch::nn::BatchNorm1d blob_norm_{nullptr};
  torch::Tensor blob_w_;
  // Nodule candidates (architecture.candidates): the network's largest
  // logit and the log-sum-exp of its logits over a volume's candidates
  // (B, 2), standardized as the blobs are, times candidate_w_' (K, 2),
  // added to the readout's evidence.
  int64_t candidate_count_ = 0;
  std::array<int64_t, 3> candidate_half_{0, 0, 0};
  CandidateNet candidate_net_{nullptr};
  torch::nn::BatchNorm1d candidate_norm_{nullptr};
  torch::Tensor candidate_w_;
  torch::Tensor pos_z_, pos_y_, pos_x_;
  torch::nn::TransformerEncoder transformer_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::Tensor pool_query_;
  torch::nn::MultiheadAttention pool_{nullptr};
  torch::Tensor disease_queries_;
  torch::nn::MultiheadAttention disease_attn_{nullptr};
  torch::nn::LayerNorm disease_norm_{nullptr};
  // Batch normalization of the pooled features before the projection: at
  // initialization every study's pooled feature shares one dominant
  // component (pairwise cosine 0.98 between different studies), which left
  // the contrastive losses nothing to pull apart; centring each channel on
  // the batch (running statistics at inference) removes it.
  torch::nn::BatchNorm1d global_bn_{nullptr};
  torch::nn::BatchNorm1d disease_bn_{nullptr};  // per disease and channel
  torch::nn::Linear proj_{nullptr};
  std::array<int64_t, 3> grid_{0, 0, 0};
  int64_t num_diseases_ = 0;
  std::vector<float> window_scale_, window_shift_;  // per input channel, as the float arithmetic uses them
};
TORCH_MODULE(ImageEncoder);

class TextEncoderImpl : public torch::nn::Module {
 public:
  TextEncoderImpl(const ModelManifest& manifest, int64_t vocab_size);
  // ids, mask: (B, L) int64; mask 1 for real tokens, 0 for padding.
  // forward = Head(Pool(ids, mask)).
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& mask);
  // Mean plus per-channel max over the real tokens: (B, width). Padding
  // changes nothing, so texts may be pooled in groups of similar length and
  // concatenated before Head (training batches mix ~100-token reports with
  // ~8-token catalog phrases; one padded batch spent most of its work on pad).
  torch::Tensor Pool(const torch::Tensor& ids, const torch::Tensor& mask);
  // Batch norm (batch statistics in training mode), projection, L2
  // normalization: (B, width) -> (B, d).
  torch::Tensor Head(const torch::Tensor& pooled);
  // Texts grouped by TokenizeByLength, pooled per group on `device` and
  // joined before Head, rows in the texts' order: forward's numbers for one
  // padded batch of them, without the work on padding.
  torch::Tensor forward(const TokenGroups& groups, const torch::Device& device);

 private:
  torch::nn::Embedding tokens_{nullptr};
  torch::nn::Embedding positions_{nullptr};
  torch::nn::TransformerEncoder transformer_{nullptr};
  torch::nn::LayerNorm norm_{nullptr};
  torch::nn::BatchNorm1d bn_{nullptr};  // as the image tower's, same reason (cosine 0.95)
  torch::nn::Linear proj_{nullptr};
  int64_t max_tokens_ = 0;
};
TORCH_MODULE(TextEncoder);

// Both towers plus SigLIP's learned temperature and bias (seed 001).
class ClipModelImpl : public torch::nn::Module {
 public:
  ClipModelImpl(const ModelManifest& manifest, int64_t vocab_size);
  ImageEncoder image{nullptr};
  TextEncoder text{nullptr};
  torch::Tensor logit_scale;  // log t, initialized to log 10; shared by every objective
  // One bias b per objective, each started near its own base rate: SigLIP's
  // -10 suits 32k-pair batches, but at 16 studies it pins every logit
  // negative, and the towers collapse to one direction to lift the
  // positives back (the image tower then learns nothing). Only training
  // uses them: inference compares p+ against p-, where b cancels.
  torch::Tensor siglip_bias;   // one positive in B: -ln(B - 1) at B = 16
  torch::Tensor disease_bias;  // same-existence pairs: about half positive
  torch::Tensor anatomy_bias;  // one positive per row, as SigLIP
  // Training-only biases of the "labels" objective, one per disease: its
  // logits are 10 * e . w_k / |w_k| + b_k with w_k = p+ - p- from the
  // catalog's phrases, on the global embedding and on that disease's token
  // embedding (the form zero-shot scoring takes, where b_k drops out).
  torch::Tensor label_global_b, label_token_b;  // (K)
};
TORCH_MODULE(ClipModel);

// Multiply-adds x 2 of one forward pass (convolutions, attention, linear
// layers; normalizations and activations are left out as negligible).
double ImageFlops(const ModelManifest& manifest);
// The detector head's share of ImageFlops (0 without one).
double DetectFlops(const ModelManifest& manifest);
// The peak skips' share (block maxima and their map; 0 without them).
double PeakFlops(const ModelManifest& manifest);
// The peaks' readout share (0 without one).
double ReadoutFlops(const ModelManifest& manifest);
// The blob filter's and its readout's share (0 without blobs).
double BlobFlops(const ModelManifest& manifest);
// The candidates' share (their patches and network; 0 without them).
double CandidateFlops(const ModelManifest& manifest);
// The blob features of x (B, 1, Z, Y, X) preprocessed, (B, 2S): per scale
// the volume's maximum, then per scale the mean of its 16 largest values.
// Undefined without architecture.blobs.
torch::Tensor BlobFeatures(const ModelManifest& manifest, const torch::Tensor& x);
// The same from the filter's response (B, S, Z', Y', X') (BlobResponse).
torch::Tensor BlobFeaturesOf(const torch::Tensor& response);
// The preprocessed grid's spacing in (z, y, x) order.
std::array<double, 3> SpacingZyx(const ModelManifest& manifest);
double TextFlops(const ModelManifest& manifest, int64_t tokens);

}  // namespace ctdb::embed
