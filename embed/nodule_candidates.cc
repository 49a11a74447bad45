#include "embed/nodule_candidates.h"

#include <algorithm>
#include <cmath>

namespace ctdb::embed {

namespace F = torch::nn::functional;

CandidateSites FindCandidates(const torch::Tensor& response, int64_t count) {
  torch::NoGradGuard no_grad;
  const int64_t b = response.size(0), y = response.size(2), x = response.size(3);
  const auto r = response.unsqueeze(1);
  const auto peak = F::max_pool3d(r, F::MaxPool3dFuncOptions(3).stride(1).padding(1));
  // Plateaus keep every voxel of them; the response is a float of smoothed
  // data, where exact ties between neighbours are rare.
  const auto is_max = r.eq(peak) & r.gt(0);
  const auto scored = torch::where(is_max, r, torch::full_like(r, -1)).flatten(1);  // (B, V)
  const int64_t n = std::min<int64_t>(count, scored.size(1));
  auto [value, index] = scored.topk(n, 1);
  CandidateSites s;
  s.valid = value.gt(0);
  s.response = value.clamp_min(0);
  s.where = torch::stack({index.div(y * x, "floor"), index.div(x, "floor").remainder(y), index.remainder(x)}, 2);
  if (n < count) {  // a volume smaller than the count: pad with unused sites
    const auto pad = count - n;
    s.valid = torch::cat({s.valid, torch::zeros({b, pad}, s.valid.options())}, 1);
    s.response = torch::cat({s.response, torch::zeros({b, pad}, s.response.options())}, 1);
    s.where = torch::cat({s.where, torch::zeros({b, pad, 3}, s.where.options())}, 1);
  }
  return s;
}

std::array<int64_t, 3> CandidateHalfSize(double mm, const std::array<double, 3>& spacing) {
  std::array<int64_t, 3> h{};
  for (size_t a = 0; a < 3; ++a) h[a] = std::max<int64_t>(1, std::lround(mm / 2 / spacing[a]));
  return h;
}

torch::Tensor CandidateCentres(const torch::Tensor& where, const std::array<int64_t, 3>& factors) {
  const auto f = torch::tensor({factors[0], factors[1], factors[2]}, where.options());
  return where * f + torch::div(f, 2, "floor");
}

torch::Tensor CandidatePatches(const torch::Tensor& hu, const torch::Tensor& centres,
                               const std::array<int64_t, 3>& half) {
  torch::NoGradGuard no_grad;
  const int64_t b = centres.size(0), n = centres.size(1);
  const std::array<int64_t, 3> size{hu.size(2), hu.size(3), hu.size(4)};
  const auto at = centres.to(torch::kCPU).contiguous();
  const auto* w = at.data_ptr<int64_t>();
  std::vector<torch::Tensor> patches;
  patches.reserve(static_cast<size_t>(b * n));
  for (int64_t i = 0; i < b; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      const int64_t* c = w + (i * n + j) * 3;
      // The part of the patch inside the volume, windowed; the rest is
      // padded with 0, the window's air, as the preprocessing pads. Only
      // the patches are windowed, not the whole volume.
      auto p = hu[i];
      std::array<int64_t, 6> pad{};  // F::pad order: x before/after, y, z
      for (int a = 0; a < 3; ++a) {
        const int64_t lo = c[a] - half[static_cast<size_t>(a)];
        const int64_t hi = lo + 2 * half[static_cast<size_t>(a)] + 1;
        const int64_t from = std::clamp<int64_t>(lo, 0, size[static_cast<size_t>(a)]);
        const int64_t to = std::clamp<int64_t>(hi, from, size[static_cast<size_t>(a)]);
        p = p.narrow(a + 1, from, to - from);
        pad[static_cast<size_t>(2 * (2 - a))] = from - lo;
        pad[static_cast<size_t>(2 * (2 - a) + 1)] = hi - to;
      }
      p = ((p.to(torch::kFloat) + 1000) / 1400).clamp_(0, 1);
      patches.push_back(F::pad(p, F::PadFuncOptions({pad[0], pad[1], pad[2], pad[3], pad[4], pad[5]})));
    }
  }
  return torch::stack(patches);
}

void AddLesionCells(const std::vector<uint32_t>& voxels, const std::vector<float>& fractions,
                    const std::array<int64_t, 3>& input, const std::array<int64_t, 2>& shift,
                    const std::array<int64_t, 3>& f, float* cells) {
  const int64_t gz = input[0] / f[0], gy = input[1] / f[1], gx = input[2] / f[2];
  const float inv = 1.0f / static_cast<float>(f[0] * f[1] * f[2]);
  for (size_t i = 0; i < voxels.size() && i < fractions.size(); ++i) {
    const int64_t v = voxels[i];
    const int64_t z = v / (input[1] * input[2]), y = (v / input[2]) % input[1] + shift[0], x = v % input[2] + shift[1];
    if (y < 0 || y >= input[1] || x < 0 || x >= input[2]) continue;
    const int64_t cz = z / f[0], cy = y / f[1], cx = x / f[2];
    if (cz >= gz || cy >= gy || cx >= gx) continue;
    cells[(cz * gy + cy) * gx + cx] += fractions[i] * inv;
  }
}

torch::Tensor CandidateTargets(const torch::Tensor& cells, const torch::Tensor& where) {
  torch::NoGradGuard no_grad;
  // Within one voxel: a 2 mm nodule's peak may sit beside its centre.
  const auto l = F::max_pool3d(cells.to(torch::kFloat).unsqueeze(1), F::MaxPool3dFuncOptions(3).stride(1).padding(1))
                     .squeeze(1);  // (B, Z, Y, X)
  const int64_t y = l.size(2), x = l.size(3);
  const auto w = where.to(l.device());
  const auto flat = (w.select(2, 0) * y + w.select(2, 1)) * x + w.select(2, 2);
  return l.flatten(1).gather(1, flat);
}

CandidateNetImpl::CandidateNetImpl(int64_t c) {
  auto conv = [](int64_t in, int64_t out) { return torch::nn::Conv3d(torch::nn::Conv3dOptions(in, out, 3).padding(1)); };
  features_ = register_module(
      "features",
      torch::nn::Sequential(conv(1, c), torch::nn::BatchNorm3d(c), torch::nn::GELU(),
                            torch::nn::MaxPool3d(torch::nn::MaxPool3dOptions({1, 2, 2}).ceil_mode(true)),
                            conv(c, 2 * c), torch::nn::BatchNorm3d(2 * c), torch::nn::GELU(),
                            torch::nn::MaxPool3d(torch::nn::MaxPool3dOptions(2).ceil_mode(true)),
                            conv(2 * c, 2 * c), torch::nn::BatchNorm3d(2 * c), torch::nn::GELU()));
  head_ = register_module("head", torch::nn::Linear(4 * c + 1, 1));
}

torch::Tensor CandidateNetImpl::forward(const torch::Tensor& patches, const torch::Tensor& response) {
  auto f = features_->forward(patches);
  auto pooled = torch::cat({f.amax({2, 3, 4}), f.mean({2, 3, 4}), torch::log1p(response).unsqueeze(1)}, 1);
  return head_->forward(pooled).squeeze(1);
}

double CandidateNetFlops(int64_t c, const std::array<int64_t, 3>& p) {
  // Pooling rounds up (a patch of any size passes).
  const auto up = [](int64_t n, int64_t d) { return (n + d - 1) / d; };
  const double v1 = static_cast<double>(p[0] * p[1] * p[2]);
  const double v2 = static_cast<double>(p[0] * up(p[1], 2) * up(p[2], 2));
  const double v3 = static_cast<double>(up(p[0], 2) * up(p[1], 4) * up(p[2], 4));
  const double cc = static_cast<double>(c);
  return 2 * 27 * (v1 * cc + v2 * cc * 2 * cc + v3 * 4 * cc * cc) + 2 * (4 * cc + 1);
}

}  // namespace ctdb::embed
