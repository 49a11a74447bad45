// Nodule candidates: the blob filter's strongest local maxima, each judged
// by a small 3D CNN on the patch of lung around it (a CAD system's second
// stage: candidate generation, then false-positive reduction). The blob
// filter alone puts a visible nodule first among a phantom's candidates for
// two in three nodule phantoms, yet its volume maximum separates studies
// only at AUC 0.74: vessel junctions answer as strongly in studies without
// one. What tells them apart is the look of the neighbourhood (a ball
// beside a tube, a branching point), which the network learns from the
// lesion maps' voxel truth instead of from a study label.
// Internal to embed/ (LibTorch).
//
// Thread contract: the functions are stateless and thread-safe; a
// CandidateNet follows torch::nn's rules (forward in eval mode under
// NoGradGuard mutates nothing).
#pragma once

#include <torch/nn.h>

#include <array>
#include <cstdint>
#include <vector>

namespace ctdb::embed {

// The catalog disease the candidates score (architecture.candidates).
inline constexpr const char* kCandidateDisease = "Lung nodule";

// The `count` strongest local maxima (3x3x3) of positive response per volume.
struct CandidateSites {
  torch::Tensor where;     // (B, N, 3) int64: (z, y, x) on the response grid
  torch::Tensor response;  // (B, N) float: the response there; 0 where unused
  torch::Tensor valid;     // (B, N) bool: false where a volume has fewer maxima
};
// response: (B, Z, Y, X), >= 0 (BlobResponse's first scale).
CandidateSites FindCandidates(const torch::Tensor& response, int64_t count);

// The input-grid voxel (z, y, x) at the centre of each site's response
// voxel: where (B, N, 3) -> (B, N, 3) int64, `factors` the response grid's
// pooling of the input (BlobPoolFactors). Where the patches are cut and
// where the detections are said to be.
torch::Tensor CandidateCentres(const torch::Tensor& where, const std::array<int64_t, 3>& factors);

// Lung-window patches around the sites: hu (B, 1, Z, Y, X) on the input
// grid, `centres` (B, N, 3) the sites on it (CandidateCentres), `half` the
// patch's half size in input voxels per axis. Returns (B x N, 1, 2 half_z +
// 1, 2 half_y + 1, 2 half_x + 1), clamp((hu + 1000) / 1400, 0, 1): air 0,
// soft tissue ~0.75; outside the volume counts as air. Without gradients
// (the input is fixed).
torch::Tensor CandidatePatches(const torch::Tensor& hu, const torch::Tensor& centres,
                               const std::array<int64_t, 3>& half);

// Patch half sizes (input voxels) for a patch `mm` across at `spacing_zyx`.
std::array<int64_t, 3> CandidateHalfSize(double mm, const std::array<double, 3>& spacing_zyx);

// Adds a lesion's voxels (row-major indices into an input grid of
// `input_zyx` voxels, with their fractions) to `cells`, the response grid
// (input / factors, remainders dropped as the filter's pooling drops them)
// as mean fractions, after shifting them in-plane by `shift_yx` input
// voxels (the volume augmentation's shift). Voxels shifted out are dropped.
void AddLesionCells(const std::vector<uint32_t>& voxels, const std::vector<float>& fractions,
                    const std::array<int64_t, 3>& input_zyx, const std::array<int64_t, 2>& shift_yx,
                    const std::array<int64_t, 3>& factors, float* cells);

// The target of each site (training): the largest lesion fraction within
// one response voxel of it. cells: (B, Z, Y, X) on the response grid
// (AddLesionCells). Returns (B, N) floats.
torch::Tensor CandidateTargets(const torch::Tensor& cells, const torch::Tensor& where);

// Three 3x3x3 convolutions (c, 2c, 2c channels; batch norm, GELU; max
// pooling 1x2x2 then 2x2x2, rounding up), the channels' maximum and mean
// over the patch plus log(1 + the site's response), one linear logit.
class CandidateNetImpl : public torch::nn::Module {
 public:
  explicit CandidateNetImpl(int64_t channels);
  // patches (M, 1, D, H, W), response (M): logits (M).
  torch::Tensor forward(const torch::Tensor& patches, const torch::Tensor& response);

 private:
  torch::nn::Sequential features_{nullptr};
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(CandidateNet);

// Multiply-adds x 2 of CandidateNet on one patch of `patch` voxels (z, y, x).
double CandidateNetFlops(int64_t channels, const std::array<int64_t, 3>& patch);

}  // namespace ctdb::embed
