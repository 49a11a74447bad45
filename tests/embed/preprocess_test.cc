#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "embed/nifti_io.h"
#include "embed/preprocess.h"
#include "tests/test_util.h"

namespace ctdb::embed {
namespace {

// HU as a function of the patient position (RAS mm).
using Field = double (*)(double x, double y, double z);

// Samples `f` on a grid of the given shape and spacing whose voxel axes point
// along `code` ("RAS" or "LPS"), centred on the world origin.
Volume Sample(Field f, const char* code, std::array<int64_t, 3> shape, std::array<double, 3> spacing) {
  Volume v;
  v.shape = shape;
  v.spacing_mm = spacing;
  v.ijk_to_ras = IdentityAffine();
  for (int a = 0; a < 3; ++a) {
    const double sign = (code[a] == 'R' || code[a] == 'A' || code[a] == 'S') ? 1 : -1;
    v.ijk_to_ras[a][a] = sign * spacing[a];
    v.ijk_to_ras[a][3] = -sign * spacing[a] * (static_cast<double>(shape[a]) - 1) / 2;
  }
  v.hu.resize(static_cast<size_t>(v.voxels()));
  for (int64_t k = 0; k < shape[2]; ++k) {
    for (int64_t j = 0; j < shape[1]; ++j) {
      for (int64_t i = 0; i < shape[0]; ++i) {
        const auto& m = v.ijk_to_ras;
        const double x = m[0][0] * i + m[0][3], y = m[1][1] * j + m[1][3], z = m[2][2] * k + m[2][3];
        v.at(i, j, k) = static_cast<float>(f(x, y, z));
      }
    }
  }
  return v;
}

double Linear(double x, double y, double z) { return 3 * x - 2 * y + 5 * z; }

double Body(double x, double y, double z) {
  // Soft tissue ellipse with a "lung" on the patient's right and a bright spot.
  const double r = (x * x) / (60.0 * 60) + (y * y) / (40.0 * 40);
  if (r > 1) return -1000;
  if ((x - 25) * (x - 25) + y * y + z * z < 15 * 15) return -850;
  if (x < -20 && y > 10) return 700;
  return 40 + 0.5 * z;
}

TEST_CASE("reorientation: LPS is canonical -- an RAS volume is flipped in x and y") {
  const Volume ras = Sample(Body, "RAS", {20, 16, 8}, {4, 5, 6});
  CHECK(OrientationCode(ras.ijk_to_ras) == "RAS");
  const Volume lps = ReorientToLps(ras);
  CHECK(OrientationCode(lps.ijk_to_ras) == "LPS");
  CHECK(lps.shape == ras.shape);
  // Voxel (0,0,0) of the LPS volume is the RAS volume's (nx-1, ny-1, 0).
  CHECK(lps.at(0, 0, 0) == ras.at(19, 15, 0));
  CHECK(lps.at(3, 4, 5) == ras.at(16, 11, 5));
  // Same world position for the same voxel.
  for (int r = 0; r < 3; ++r) {
    const auto& a = lps.ijk_to_ras;
    const auto& b = ras.ijk_to_ras;
    CHECK(a[r][0] * 3 + a[r][1] * 4 + a[r][2] * 5 + a[r][3] ==
          doctest::Approx(b[r][0] * 16 + b[r][1] * 11 + b[r][2] * 5 + b[r][3]));
  }
  // Permuted axes (k stored first) are put back in order.
  Volume swapped = ras;
  std::swap(swapped.ijk_to_ras[0][0], swapped.ijk_to_ras[0][2]);
  std::swap(swapped.ijk_to_ras[2][0], swapped.ijk_to_ras[2][2]);
  CHECK(OrientationCode(ReorientToLps(swapped).ijk_to_ras) == "LPS");
}

TEST_CASE("known HU at known mm positions after resampling") {
  // A linear field is reproduced exactly by trilinear interpolation, and by
  // the antialiasing tent (symmetric; the output stays a filter width away
  // from the scan's edges here).
  const Volume v = Sample(Linear, "LPS", {60, 50, 40}, {0.7, 0.9, 2.0});
  PreprocessSpec spec;
  for (Resample mode : {Resample::kLinear, Resample::kAntialias}) {
  CAPTURE(static_cast<int>(mode));
  spec.resample = mode;
  spec.spacing_mm = {2.5, 2.5, 5.0};
  spec.size = {12, 10, 8};
  spec.hu_min = -5000;
  spec.hu_max = 5000;
  spec.offset = 0;
  spec.divisor = 1;
  auto t = Preprocess(v, spec);
  REQUIRE(t.ok());
  CHECK(t->shape == spec.size);
  for (int64_t k = 0; k < 8; ++k) {
    for (int64_t j = 0; j < 10; ++j) {
      for (int64_t i = 0; i < 12; ++i) {
        // Output voxel centre in LPS mm relative to the volume centre (= world origin).
        const double l = (i - 5.5) * 2.5, p = (j - 4.5) * 2.5, s = (k - 3.5) * 5.0;
        const double expect = Linear(-l, -p, s);
        CHECK(t->data[static_cast<size_t>((k * 10 + j) * 12 + i)] == doctest::Approx(expect).epsilon(1e-4));
      }
    }
    CHECK(t->slice_z_mm[static_cast<size_t>(k)] == doctest::Approx((k - 3.5) * 5.0));
  }
  }
}

TEST_CASE("window, scaling and padding follow the spec") {
  const Volume v = Sample(Body, "LPS", {40, 30, 10}, {4, 4, 4});
  PreprocessSpec spec;  // CT-CLIP scaling: clip [-1000, 1000], /1000, pad -1
  spec.spacing_mm = {4, 4, 4};
  spec.size = {60, 30, 10};  // wider than the scan along i: padded
  auto t = Preprocess(v, spec);
  REQUIRE(t.ok());
  float lo = 10, hi = -10;
  for (float x : t->data) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  CHECK(lo >= -1.0f);
  CHECK(hi <= 1.0f);
  CHECK(t->data[0] == -1.0f);  // pad
  CHECK(t->data[10] == doctest::Approx(-1.0));  // first real column is air: -1000 HU -> -1
  // Same spacing: the antialiased path is plain linear interpolation, pad included.
  spec.resample = Resample::kAntialias;
  auto same = Preprocess(v, spec);
  REQUIRE(same.ok());
  REQUIRE(same->data.size() == t->data.size());
  for (size_t i = 0; i < t->data.size(); ++i) CHECK(same->data[i] == doctest::Approx(t->data[i]).epsilon(1e-6));
  CHECK(same->slice_inside == t->slice_inside);
  spec.size = {0, 1, 1};
  CHECK(Preprocess(v, spec).status().IsInvalidArgument());
  spec.size = {4, 4, 4};
  spec.divisor = 0;
  CHECK(Preprocess(v, spec).status().IsInvalidArgument());
}

TEST_CASE("antialiased resampling keeps a small bright spot that trilinear sampling skips") {
  // 0.5 mm voxels to a 2 mm grid: output centres sit at source indices 1.5,
  // 5.5, ..., so trilinear sampling reads indices 1-2, 5-6, ... and never 3.
  Volume v;
  v.shape = {64, 64, 64};
  v.spacing_mm = {0.5, 0.5, 0.5};
  v.ijk_to_ras = IdentityAffine();
  for (int a = 0; a < 3; ++a) v.ijk_to_ras[a][a] = a < 2 ? -0.5 : 0.5;  // LPS
  v.hu.assign(static_cast<size_t>(v.voxels()), 0.0f);
  v.at(27, 27, 27) = 1000;  // a calcification of one voxel (0.125 mm^3)
  PreprocessSpec spec;
  spec.spacing_mm = {2, 2, 2};
  spec.size = {16, 16, 16};
  spec.offset = 0;
  spec.divisor = 1;
  auto sum_max = [&](Resample mode) {
    spec.resample = mode;
    auto t = Preprocess(v, spec);
    REQUIRE(t.ok());
    double sum = 0, peak = 0;
    for (float x : t->data) {
      sum += x;
      peak = std::max(peak, double(x));
    }
    return std::pair{sum, peak};
  };
  const auto [linear_sum, linear_peak] = sum_max(Resample::kLinear);
  CHECK(linear_peak == 0);  // gone
  const auto [aa_sum, aa_peak] = sum_max(Resample::kAntialias);
  CHECK(aa_peak > 0);
  // Every source voxel counts once: the spot's HU x volume is kept (4^3 source voxels per output voxel).
  CHECK(aa_sum * 64 == doctest::Approx(1000).epsilon(0.02));

  // Noise averages down: independent +-100 HU voxels, 64 per output voxel.
  std::mt19937 rng(7);
  for (float& x : v.hu) x = rng() % 2 ? 100.0f : -100.0f;
  for (Resample mode : {Resample::kLinear, Resample::kAntialias}) {
    spec.resample = mode;
    auto t = Preprocess(v, spec);
    REQUIRE(t.ok());
    double ss = 0;
    for (float x : t->data) ss += double(x) * x;
    const double rms = std::sqrt(ss / static_cast<double>(t->data.size()));
    CAPTURE(static_cast<int>(mode));
    // Trilinear at x.5 positions averages 8 voxels (100 / sqrt 8 = 35); the tent ~140 (about 7).
    if (mode == Resample::kLinear) CHECK(rms > 25);
    if (mode == Resample::kAntialias) CHECK(rms < 12);
  }
}

TEST_CASE("the same phantom stored in LPS and in RAS preprocesses to the same tensor") {
  test::TempDir dir;
  const Volume ras = Sample(Body, "RAS", {64, 48, 20}, {2, 2, 3});
  const Volume lps = Sample(Body, "LPS", {64, 48, 20}, {2, 2, 3});
  REQUIRE(WriteNifti(dir.Sub("ras.nii.gz"), ras, NiftiType::kInt16).ok());
  REQUIRE(WriteNifti(dir.Sub("lps.nii.gz"), lps, NiftiType::kInt16).ok());
  auto a = ReadNifti(dir.Sub("ras.nii.gz"));
  auto b = ReadNifti(dir.Sub("lps.nii.gz"));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(OrientationCode(a->ijk_to_ras) == "RAS");
  CHECK(OrientationCode(b->ijk_to_ras) == "LPS");
  PreprocessSpec spec;
  spec.spacing_mm = {2.5, 2.5, 5};
  spec.size = {48, 40, 12};
  auto ta = Preprocess(*a, spec);
  auto tb = Preprocess(*b, spec);
  REQUIRE(ta.ok());
  REQUIRE(tb.ok());
  REQUIRE(ta->data.size() == tb->data.size());
  double worst = 0;
  for (size_t i = 0; i < ta->data.size(); ++i) worst = std::max(worst, std::fabs(double(ta->data[i]) - tb->data[i]));
  CHECK(worst < 1e-5);
  // And the bright spot on the patient's right-posterior... is on the same side in both.
  CHECK(ta->data == tb->data);
}

}  // namespace
}  // namespace ctdb::embed
