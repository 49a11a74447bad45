#include "embed/blob_filter.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>

namespace ctdb::embed {
namespace {

namespace F = torch::nn::functional;

// Replicate-pads `x` (B, 1, Z, Y, X) by `r` on both sides of `axis` (2, 3 or 4).
torch::Tensor PadAxis(const torch::Tensor& x, int axis, int64_t r) {
  std::vector<int64_t> pad(6, 0);  // x, y, z pairs, as F::pad counts from the last axis
  pad[static_cast<size_t>(2 * (4 - axis))] = r;
  pad[static_cast<size_t>(2 * (4 - axis) + 1)] = r;
  return F::pad(x, F::PadFuncOptions(pad).mode(torch::kReplicate));
}

// Correlates `x` along `axis` with the symmetric taps w[-r..r] (w.size() = 2r + 1).
torch::Tensor FilterAxis(const torch::Tensor& x, int axis, const std::vector<double>& w) {
  const int64_t r = static_cast<int64_t>(w.size() / 2), n = x.size(axis);
  if (r == 0) return x * w[0];
  const auto p = PadAxis(x, axis, r);
  auto out = p.narrow(axis, 0, n) * w[0];
  for (int64_t i = 1; i < static_cast<int64_t>(w.size()); ++i) out.add_(p.narrow(axis, i, n), w[static_cast<size_t>(i)]);
  return out;
}

// Taps out to 3 sigma on each side.
int64_t GaussianRadius(double sigma_mm, double spacing_mm) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(3 * sigma_mm / spacing_mm)));
}

std::vector<double> GaussianTaps(double sigma_mm, double spacing_mm) {
  const int64_t r = GaussianRadius(sigma_mm, spacing_mm);
  std::vector<double> w;
  double sum = 0;
  for (int64_t i = -r; i <= r; ++i) {
    const double t = static_cast<double>(i) * spacing_mm / sigma_mm;
    w.push_back(std::exp(-0.5 * t * t));
    sum += w.back();
  }
  for (double& v : w) v /= sum;
  return w;
}

// Fraction of a cube of side ~`side_mm` around each voxel that is below
// `hu` (box filter, separable). Window sums by differences of running
// sums: two passes per axis whatever the side, where 2r + 1 shifted adds
// cost a third of the whole filter; counts stay whole numbers, exact in
// float.
torch::Tensor FractionBelow(const torch::Tensor& x, double hu, double side_mm, const std::array<double, 3>& h) {
  auto f = x.lt(hu).to(torch::kFloat);
  double cells = 1;
  for (int a = 0; a < 3; ++a) {
    const int64_t r = std::max<int64_t>(1, static_cast<int64_t>(std::lround(side_mm / h[static_cast<size_t>(a)] / 2)));
    const int64_t n = f.size(a + 2);
    const auto c = PadAxis(f, a + 2, r).cumsum(a + 2);
    // Window [i - r, i + r] of the padded axis = c[i + 2r] - c[i - 1].
    const auto before = torch::cat({torch::zeros_like(c.narrow(a + 2, 0, 1)), c.narrow(a + 2, 0, n - 1)}, a + 2);
    f = c.narrow(a + 2, 2 * r, n) - before;
    cells *= static_cast<double>(2 * r + 1);
  }
  return f / cells;
}

// One volume (1, 1, Z, Y, X) at spacing h: (1, S, Z, Y, X).
torch::Tensor DotMaps(const torch::Tensor& x, const std::array<double, 3>& h, const std::vector<double>& sigmas) {
  // The lung's interior: most of a 16 mm cube is aerated lung (-400 HU
  // separates it from soft tissue at any reconstruction).
  const auto in_lung = FractionBelow(x, -400, 16, h).gt(0.5);
  const int64_t z = x.size(2), y = x.size(3), w = x.size(4);
  std::vector<torch::Tensor> maps;
  for (double s : sigmas) {
    auto g = x;
    for (int a = 0; a < 3; ++a) g = FilterAxis(g, a + 2, GaussianTaps(s, h[static_cast<size_t>(a)]));
    const auto p = F::pad(g, F::PadFuncOptions({1, 1, 1, 1, 1, 1}).mode(torch::kReplicate));
    auto at = [&](int64_t dz, int64_t dy, int64_t dx) {
      return p.narrow(2, 1 + dz, z).narrow(3, 1 + dy, y).narrow(4, 1 + dx, w);
    };
    const auto c2 = at(0, 0, 0) * 2;
    const auto hzz = (at(1, 0, 0) + at(-1, 0, 0) - c2) / (h[0] * h[0]);
    const auto hyy = (at(0, 1, 0) + at(0, -1, 0) - c2) / (h[1] * h[1]);
    const auto hxx = (at(0, 0, 1) + at(0, 0, -1) - c2) / (h[2] * h[2]);
    const auto hzy = (at(1, 1, 0) - at(1, -1, 0) - at(-1, 1, 0) + at(-1, -1, 0)) / (4 * h[0] * h[1]);
    const auto hzx = (at(1, 0, 1) - at(1, 0, -1) - at(-1, 0, 1) + at(-1, 0, -1)) / (4 * h[0] * h[2]);
    const auto hyx = (at(0, 1, 1) - at(0, 1, -1) - at(0, -1, 1) + at(0, -1, -1)) / (4 * h[1] * h[2]);
    // Negative definite needs every diagonal entry negative: the
    // eigenvalues are solved only there (inside the lung, ~1 voxel in 8:
    // the filter's costliest part, on an eighth of the volume).
    const auto candidate = (hzz.lt(0) & hyy.lt(0) & hxx.lt(0) & in_lung).flatten().nonzero().squeeze(1);
    const auto pick = [&](const torch::Tensor& t) { return t.flatten().index_select(0, candidate); };
    const auto l = SymmetricEigenvalues3(pick(hzz), pick(hyy), pick(hxx), pick(hzy), pick(hzx), pick(hyx));
    // sigma^2 makes the response scale-free (a ball's curvature falls as
    // 1/sigma^2 once sigma exceeds its radius); / 100 HU keeps it O(1).
    auto dot = (l[0] * l[0] / (-l[2]).clamp_min(1e-6)) * (s * s / 100.0);
    dot = torch::where(l[0].lt(0), dot, torch::zeros_like(dot));
    maps.push_back(torch::zeros({1, 1, z, y, w}, x.options()).flatten().index_copy_(0, candidate, dot).view({1, 1, z, y, w}));
  }
  return torch::cat(maps, 1);
}

}  // namespace

std::array<torch::Tensor, 3> SymmetricEigenvalues3(const torch::Tensor& a11, const torch::Tensor& a22,
                                                   const torch::Tensor& a33, const torch::Tensor& a12,
                                                   const torch::Tensor& a13, const torch::Tensor& a23) {
  // A = q I + p B with q = tr(A) / 3, p = sqrt(tr((A - qI)^2) / 6); the
  // eigenvalues are q + 2p cos(acos(det(B) / 2) / 3 + 2 pi k / 3).
  const auto q = (a11 + a22 + a33) / 3;
  const auto b11 = a11 - q, b22 = a22 - q, b33 = a33 - q;
  const auto off = a12 * a12 + a13 * a13 + a23 * a23;
  const auto p = ((b11 * b11 + b22 * b22 + b33 * b33 + 2 * off) / 6).sqrt();
  const auto safe = p.clamp_min(1e-12);
  const auto det = b11 * (b22 * b33 - a23 * a23) - a12 * (a12 * b33 - a23 * a13) + a13 * (a12 * a23 - b22 * a13);
  const auto r = (det / (2 * safe * safe * safe)).clamp(-1, 1);
  const auto phi = r.acos() / 3;
  const auto largest = q + 2 * p * phi.cos();
  const auto smallest = q + 2 * p * (phi + 2 * M_PI / 3).cos();
  return {largest, 3 * q - largest - smallest, smallest};
}

std::array<int64_t, 3> BlobPoolFactors(const std::array<double, 3>& spacing, const std::vector<double>& sigmas) {
  const double finest = sigmas.empty() ? 0 : *std::min_element(sigmas.begin(), sigmas.end());
  std::array<int64_t, 3> f{1, 1, 1};
  for (size_t a = 0; a < 3; ++a) {
    // A voxel as wide as the smallest scale still samples its Gaussian
    // (taps out to 3 sigma); finer only costs work (the shipped grid's
    // 0.75 mm in-plane: 4x the voxels of 1.5 mm).
    f[a] = std::max<int64_t>(1, static_cast<int64_t>(std::floor(finest / spacing[a] + 1e-9)));
  }
  return f;
}

torch::Tensor BlobResponse(const torch::Tensor& hu, const std::array<double, 3>& spacing,
                           const std::vector<double>& sigmas) {
  torch::NoGradGuard no_grad;  // fixed arithmetic, nothing to learn
  const auto f = BlobPoolFactors(spacing, sigmas);
  const std::array<double, 3> h{spacing[0] * static_cast<double>(f[0]), spacing[1] * static_cast<double>(f[1]),
                                spacing[2] * static_cast<double>(f[2])};
  auto x = hu.to(torch::kFloat);
  if (f[0] * f[1] * f[2] > 1) x = F::avg_pool3d(x, F::AvgPool3dFuncOptions({f[0], f[1], f[2]}));
  // One volume at a time: the filter's temporaries for a batch of 16 at the
  // shipped grid would be ~1.5 GB beside a training step.
  std::vector<torch::Tensor> out;
  for (int64_t b = 0; b < x.size(0); ++b) out.push_back(DotMaps(x.narrow(0, b, 1), h, sigmas));
  return torch::cat(out, 0);
}

double BlobResponseFlops(const std::array<int64_t, 3>& size, const std::array<double, 3>& spacing,
                         const std::vector<double>& sigmas) {
  if (sigmas.empty()) return 0;
  const auto f = BlobPoolFactors(spacing, sigmas);
  double voxels = 1;
  for (size_t a = 0; a < 3; ++a) voxels *= static_cast<double>(size[a] / f[a]);
  // The lung mask once (a comparison, per axis a running sum and a
  // difference, a division); per scale the Gaussian's taps per axis (a
  // multiply-add each), the six second differences (~30), the eigenvalues
  // (~60, counted on every voxel: an upper bound) and the response (~10).
  double flops = voxels * 8;
  for (double s : sigmas) {
    double taps = 0;
    for (size_t a = 0; a < 3; ++a) {
      taps += static_cast<double>(2 * GaussianRadius(s, spacing[a] * static_cast<double>(f[a])) + 1);
    }
    flops += voxels * (2 * taps + 100);
  }
  return flops;
}

}  // namespace ctdb::embed
