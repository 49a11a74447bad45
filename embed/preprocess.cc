#include "embed/preprocess.h"

#include <algorithm>
#include <cmath>

namespace ctdb::embed {
namespace {

// Direction of each LPS axis in the RAS world: L = -x, P = -y, S = +z.
constexpr double kLpsSign[3] = {-1, -1, +1};

}  // namespace

namespace {

// Source axis and flip for each LPS target axis.
struct AxisMap {
  int perm[3];
  bool flip[3];
  bool identity() const {
    return perm[0] == 0 && perm[1] == 1 && perm[2] == 2 && !flip[0] && !flip[1] && !flip[2];
  }
};

AxisMap LpsAxisMap(const Affine& m) {
  // perm[t] = source axis feeding target axis t; pick the permutation whose
  // axes best align with the world axes.
  static const int kPerms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  int best = 0;
  double best_score = -1;
  for (int p = 0; p < 6; ++p) {
    double score = 0;
    for (int t = 0; t < 3; ++t) {
      const int a = kPerms[p][t];
      const double norm = std::sqrt(m[0][a] * m[0][a] + m[1][a] * m[1][a] + m[2][a] * m[2][a]);
      score += norm > 0 ? std::fabs(m[t][a]) / norm : 0;
    }
    if (score > best_score) {
      best_score = score;
      best = p;
    }
  }
  AxisMap map;
  for (int t = 0; t < 3; ++t) {
    map.perm[t] = kPerms[best][t];
    map.flip[t] = m[t][map.perm[t]] * kLpsSign[t] < 0;
  }
  return map;
}

// One output voxel's source taps along an axis: indices and weights summing
// to 1; empty where the output lies outside the scan.
using AxisTaps = std::vector<std::vector<std::pair<int64_t, float>>>;

// Tent filter of half-width max(1, step) source voxels around each output
// centre: plain linear interpolation when the output is as fine or finer,
// an average over the output voxel's footprint when it is coarser.
AxisTaps TentTaps(const std::vector<double>& centres, double step, int64_t n) {
  AxisTaps taps(centres.size());
  const double half = std::max(1.0, step), maxi = static_cast<double>(n - 1);
  std::vector<int64_t> at;
  std::vector<double> w, d;
  for (size_t o = 0; o < centres.size(); ++o) {
    const double s = centres[o];
    if (s < -1e-6 || s > maxi + 1e-6) continue;
    const int64_t lo = static_cast<int64_t>(std::ceil(s - half)), hi = static_cast<int64_t>(std::floor(s + half));
    at.clear();
    w.clear();
    d.clear();
    for (int64_t i = std::max<int64_t>(0, lo); i <= std::min(n - 1, hi); ++i) {
      const double x = static_cast<double>(i) - s;
      if (1 - std::fabs(x) / half <= 0) continue;
      at.push_back(i);
      w.push_back(1 - std::fabs(x) / half);
      d.push_back(x);
    }
    // Sampled at whole voxels the tent's centroid drifts up to ~0.09 voxel
    // from s; tilting the weights by (1 + c d) puts it back, so a linear
    // ramp comes out exact as with trilinear sampling. Not where the scan's
    // edge cuts the filter: that lopsided a window is not worth tilting.
    double m1 = 0, m2 = 0;
    for (size_t t = 0; t < w.size(); ++t) {
      m1 += w[t] * d[t];
      m2 += w[t] * d[t] * d[t];
    }
    const bool whole = lo >= 0 && hi <= n - 1;
    const double c = whole && m2 > 0 ? -m1 / m2 : 0;
    double sum = 0;  // > 0: the nearest voxel is within half a voxel of s
    for (size_t t = 0; t < w.size(); ++t) sum += w[t] * (1 + c * d[t]);
    for (size_t t = 0; t < w.size(); ++t) {
      taps[o].push_back({at[t], static_cast<float>(w[t] * (1 + c * d[t]) / sum)});
    }
  }
  return taps;
}

// Separable tent resampling of the window-clipped HU into out (x fastest),
// in three passes: along i, then j, then k. Source rows no output voxel
// reads are skipped.
void ResampleAntialiased(const Volume& v, const PreprocessSpec& spec, const std::array<AxisTaps, 3>& taps,
                         std::vector<float>* out) {
  const int64_t nx = v.shape[0], ny = v.shape[1], nz = v.shape[2];
  const int64_t ox = spec.size[0], oy = spec.size[1], oz = spec.size[2];
  std::vector<uint8_t> need_k(static_cast<size_t>(nz), 0), need_j(static_cast<size_t>(ny), 0);
  for (const auto& t : taps[2]) for (const auto& [k, w] : t) need_k[static_cast<size_t>(k)] = 1;
  for (const auto& t : taps[1]) for (const auto& [j, w] : t) need_j[static_cast<size_t>(j)] = 1;
  const float lo = spec.hu_min, hi = spec.hu_max;
  // Clip each source voxel first, so bone next to air does not smear past the window.
  std::vector<float> along_i(static_cast<size_t>(nz * ny * ox), 0.0f);
  for (int64_t k = 0; k < nz; ++k) {
    if (!need_k[static_cast<size_t>(k)]) continue;
    for (int64_t j = 0; j < ny; ++j) {
      if (!need_j[static_cast<size_t>(j)]) continue;
      const float* row = &v.hu[static_cast<size_t>((k * ny + j) * nx)];
      float* dst = &along_i[static_cast<size_t>((k * ny + j) * ox)];
      for (int64_t i = 0; i < ox; ++i) {
        float acc = 0;
        for (const auto& [src, w] : taps[0][static_cast<size_t>(i)]) acc += w * std::clamp(row[src], lo, hi);
        dst[i] = acc;
      }
    }
  }
  std::vector<float> along_j(static_cast<size_t>(nz * oy * ox), 0.0f);
  for (int64_t k = 0; k < nz; ++k) {
    if (!need_k[static_cast<size_t>(k)]) continue;
    for (int64_t j = 0; j < oy; ++j) {
      float* dst = &along_j[static_cast<size_t>((k * oy + j) * ox)];
      for (const auto& [src, w] : taps[1][static_cast<size_t>(j)]) {
        const float* row = &along_i[static_cast<size_t>((k * ny + src) * ox)];
        for (int64_t i = 0; i < ox; ++i) dst[i] += w * row[i];
      }
    }
  }
  const float off = spec.offset, inv = 1.0f / spec.divisor;
  for (int64_t k = 0; k < oz; ++k) {
    for (int64_t j = 0; j < oy; ++j) {
      float* dst = &(*out)[static_cast<size_t>((k * oy + j) * ox)];
      const bool outside_kj = taps[2][static_cast<size_t>(k)].empty() || taps[1][static_cast<size_t>(j)].empty();
      for (int64_t i = 0; i < ox; ++i) {
        if (outside_kj || taps[0][static_cast<size_t>(i)].empty()) {
          dst[i] = spec.pad_value;
          continue;
        }
        float acc = 0;
        for (const auto& [src, w] : taps[2][static_cast<size_t>(k)]) {
          acc += w * along_j[static_cast<size_t>((src * oy + j) * ox + i)];
        }
        dst[i] = (acc - off) * inv;
      }
    }
  }
}

}  // namespace

const char* ResampleName(Resample r) { return r == Resample::kAntialias ? "antialias" : "linear"; }

std::optional<Resample> ParseResample(const std::string& name) {
  for (Resample r : {Resample::kLinear, Resample::kAntialias}) {
    if (name == ResampleName(r)) return r;
  }
  return std::nullopt;
}

Volume ReorientToLps(const Volume& in) {
  const Affine& m = in.ijk_to_ras;
  const AxisMap map = LpsAxisMap(m);
  if (map.identity()) return in;
  const int* perm = map.perm;
  const bool* flip = map.flip;
  Volume out;
  out.rescale_slope = in.rescale_slope;
  out.rescale_intercept = in.rescale_intercept;
  out.stored_type = in.stored_type;
  out.source = in.source;
  for (int t = 0; t < 3; ++t) {
    out.shape[t] = in.shape[perm[t]];
    out.spacing_mm[t] = in.spacing_mm[perm[t]];
  }
  // New affine: permuted, sign-flipped columns; origin = old position of new (0,0,0).
  double origin_idx[3];
  for (int t = 0; t < 3; ++t) origin_idx[perm[t]] = flip[t] ? static_cast<double>(out.shape[t] - 1) : 0.0;
  out.ijk_to_ras = IdentityAffine();
  for (int r = 0; r < 3; ++r) {
    for (int t = 0; t < 3; ++t) out.ijk_to_ras[r][t] = m[r][perm[t]] * (flip[t] ? -1 : 1);
    out.ijk_to_ras[r][3] = m[r][3] + m[r][0] * origin_idx[0] + m[r][1] * origin_idx[1] + m[r][2] * origin_idx[2];
  }
  out.hu.resize(in.hu.size());
  int64_t src[3];
  size_t o = 0;
  for (int64_t k = 0; k < out.shape[2]; ++k) {
    for (int64_t j = 0; j < out.shape[1]; ++j) {
      for (int64_t i = 0; i < out.shape[0]; ++i, ++o) {
        const int64_t idx[3] = {i, j, k};
        for (int t = 0; t < 3; ++t) src[perm[t]] = flip[t] ? out.shape[t] - 1 - idx[t] : idx[t];
        out.hu[o] = in.at(src[0], src[1], src[2]);
      }
    }
  }
  return out;
}

Result<Tensor3> Preprocess(const Volume& volume, const PreprocessSpec& spec) {
  for (int a = 0; a < 3; ++a) {
    if (!(spec.spacing_mm[a] > 0) || spec.size[a] <= 0) {
      return Status::InvalidArgument("preprocess spacing and size must be > 0");
    }
    if (!(volume.spacing_mm[a] > 0)) return Status::InvalidArgument("volume spacing must be > 0 mm");
  }
  if (!(spec.hu_max > spec.hu_min)) return Status::InvalidArgument("HU window is empty");
  if (!(spec.divisor != 0)) return Status::InvalidArgument("scaling divisor is zero");
  if (spec.size[0] * spec.size[1] * spec.size[2] > (int64_t{1} << 28)) {
    return Status::InvalidArgument("preprocess output over 2^28 voxels");
  }
  if (volume.voxels() <= 0 || static_cast<int64_t>(volume.hu.size()) != volume.voxels()) {
    return Status::InvalidArgument("volume is empty or its data does not match its shape");
  }
  // Already LPS (the common case) is used in place; anything else is copied once.
  Volume reoriented;
  const bool canonical = LpsAxisMap(volume.ijk_to_ras).identity();
  if (!canonical) reoriented = ReorientToLps(volume);
  const Volume& v = canonical ? volume : reoriented;
  Tensor3 out;
  out.shape = spec.size;
  out.spacing_mm = spec.spacing_mm;
  out.data.resize(static_cast<size_t>(spec.size[0] * spec.size[1] * spec.size[2]));
  // Source spacing along each (reoriented) axis: the affine's column length.
  double src_step[3], centre[3];
  for (int t = 0; t < 3; ++t) {
    const auto& m = v.ijk_to_ras;
    const double len = std::sqrt(m[0][t] * m[0][t] + m[1][t] * m[1][t] + m[2][t] * m[2][t]);
    src_step[t] = spec.spacing_mm[t] / (len > 0 ? len : v.spacing_mm[t]);
    centre[t] = (static_cast<double>(v.shape[t]) - 1) / 2;
  }
  // Continuous source index of output index o along axis t.
  auto src_index = [&](int t, int64_t o) {
    return centre[t] + (static_cast<double>(o) - (static_cast<double>(spec.size[t]) - 1) / 2) * src_step[t];
  };
  const float lo = spec.hu_min, hi = spec.hu_max, off = spec.offset, inv = 1.0f / spec.divisor;
  // Per-axis interpolation tables: base index and weight, or -1 outside.
  struct Tap {
    int64_t i0;
    float w;
  };
  std::array<std::vector<Tap>, 3> taps;
  for (int t = 0; t < 3; ++t) {
    taps[t].resize(static_cast<size_t>(spec.size[t]));
    for (int64_t o = 0; o < spec.size[t]; ++o) {
      const double s = src_index(t, o);
      const double maxi = static_cast<double>(v.shape[t] - 1);
      if (s < -1e-6 || s > maxi + 1e-6) {
        taps[t][o] = {-1, 0};
        continue;
      }
      const double c = std::clamp(s, 0.0, maxi);
      int64_t i0 = static_cast<int64_t>(std::floor(c));
      if (i0 >= v.shape[t] - 1) i0 = std::max<int64_t>(0, v.shape[t] - 2);
      taps[t][o] = {i0, static_cast<float>(c - static_cast<double>(i0))};
    }
  }
  if (spec.resample == Resample::kAntialias) {
    std::array<AxisTaps, 3> tent;
    for (int t = 0; t < 3; ++t) {
      std::vector<double> centres(static_cast<size_t>(spec.size[t]));
      for (int64_t o = 0; o < spec.size[t]; ++o) centres[static_cast<size_t>(o)] = src_index(t, o);
      tent[t] = TentTaps(centres, src_step[t], v.shape[t]);
    }
    ResampleAntialiased(v, spec, tent, &out.data);
  } else {
    const int64_t sx = v.shape[0], sxy = v.shape[0] * v.shape[1];
    const bool one[3] = {v.shape[0] == 1, v.shape[1] == 1, v.shape[2] == 1};
    size_t o = 0;
    for (int64_t k = 0; k < spec.size[2]; ++k) {
      const Tap tk = taps[2][k];
      for (int64_t j = 0; j < spec.size[1]; ++j) {
        const Tap tj = taps[1][j];
        for (int64_t i = 0; i < spec.size[0]; ++i, ++o) {
          const Tap ti = taps[0][i];
          if (ti.i0 < 0 || tj.i0 < 0 || tk.i0 < 0) {
            out.data[o] = spec.pad_value;
            continue;
          }
          const float* p = &v.hu[static_cast<size_t>(tk.i0 * sxy + tj.i0 * sx + ti.i0)];
          const int64_t dx = one[0] ? 0 : 1, dy = one[1] ? 0 : sx, dz = one[2] ? 0 : sxy;
          // Clip each corner first, so bone next to air does not smear past the window.
          auto c = [&](int64_t off_idx) { return std::clamp(p[off_idx], lo, hi); };
          const float c00 = c(0) + ti.w * (c(dx) - c(0));
          const float c10 = c(dy) + ti.w * (c(dy + dx) - c(dy));
          const float c01 = c(dz) + ti.w * (c(dz + dx) - c(dz));
          const float c11 = c(dz + dy) + ti.w * (c(dz + dy + dx) - c(dz + dy));
          const float c0 = c00 + tj.w * (c10 - c00);
          const float c1 = c01 + tj.w * (c11 - c01);
          out.data[o] = (c0 + tk.w * (c1 - c0) - off) * inv;
        }
      }
    }
  }
  out.slice_z_mm.resize(static_cast<size_t>(spec.size[2]));
  out.slice_inside.resize(static_cast<size_t>(spec.size[2]));
  for (int64_t k = 0; k < spec.size[2]; ++k) {
    out.slice_inside[static_cast<size_t>(k)] = taps[2][k].i0 >= 0;
    const auto& m = v.ijk_to_ras;
    const double ci = centre[0], cj = centre[1], ck = src_index(2, k);
    out.slice_z_mm[static_cast<size_t>(k)] = static_cast<float>(m[2][0] * ci + m[2][1] * cj + m[2][2] * ck + m[2][3]);
  }
  return out;
}

}  // namespace ctdb::embed
