// Fixed (weight-free) blob filter for small round findings: a Hessian "dot"
// response (Li, Sone, Doi 2003) inside the lungs. A lung nodule of a few mm
// is no brighter than the vessels around it; what tells them apart is shape:
// at a ball's centre all three second derivatives of the smoothed intensity
// are strongly negative, along a vessel one of them is ~0, on a wall two are.
// Internal to embed/ (LibTorch).
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <torch/types.h>

#include <array>
#include <vector>

namespace ctdb::embed {

// Eigenvalues of symmetric 3x3 matrices given as six tensors of one shape
// (a11, a22, a33, a12, a13, a23), largest first: closed form (trigonometric
// solution of the characteristic cubic), elementwise.
std::array<torch::Tensor, 3> SymmetricEigenvalues3(const torch::Tensor& a11, const torch::Tensor& a22,
                                                   const torch::Tensor& a33, const torch::Tensor& a12,
                                                   const torch::Tensor& a13, const torch::Tensor& a23);

// The filter's working spacing (z, y, x in mm): each axis pooled by the
// largest whole factor that keeps its voxels no coarser than the smallest
// scale. `spacing_zyx` is the input's.
std::array<int64_t, 3> BlobPoolFactors(const std::array<double, 3>& spacing_zyx, const std::vector<double>& sigmas_mm);

// hu: (B, 1, Z, Y, X) in HU on a grid of `spacing_zyx` mm. Per scale sigma
// (mm): Gaussian smoothing, the Hessian by central differences, and
// sigma^2 * l1^2 / |l3| where all eigenvalues are negative (l1 the largest,
// i.e. the weakest curvature), 0 elsewhere, in units of 100 HU; kept only
// where most of a 16 mm neighbourhood is lung (below -400 HU), so the heart,
// chest wall and mediastinum answer 0. Returns (B, S, Z', Y', X') on the
// grid pooled by BlobPoolFactors (average pooling, the remainder dropped).
torch::Tensor BlobResponse(const torch::Tensor& hu, const std::array<double, 3>& spacing_zyx,
                           const std::vector<double>& sigmas_mm);

// Multiply-adds x 2 (roughly: elementwise passes counted as one operation
// per value) of BlobResponse on one volume of `size_zyx` voxels.
double BlobResponseFlops(const std::array<int64_t, 3>& size_zyx, const std::array<double, 3>& spacing_zyx,
                         const std::vector<double>& sigmas_mm);

}  // namespace ctdb::embed
