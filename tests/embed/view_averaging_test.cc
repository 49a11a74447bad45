// Test-time augmentation (embed/view_averaging.h): the shifted views, the
// averaging, and the decorator through LoadEncoder on a real model.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include <cmath>
#include <set>

#include "api/src/model_manifest_json.h"
#include "embed/encoder.h"
#include "embed/view_averaging.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace ctdb::embed {
namespace {

Tensor3 Numbered(int64_t nx, int64_t ny, int64_t nz) {
  Tensor3 t;
  t.shape = {nx, ny, nz};
  t.spacing_mm = {0.75, 0.75, 1.5};
  for (int64_t i = 0; i < nx * ny * nz; ++i) t.data.push_back(static_cast<float>(i));
  for (int64_t k = 0; k < nz; ++k) t.slice_z_mm.push_back(-100.f + 1.5f * static_cast<float>(k));
  t.slice_inside.assign(static_cast<size_t>(nz), 1);
  return t;
}

float At(const Tensor3& t, int64_t x, int64_t y, int64_t z) {
  return t.data[static_cast<size_t>((z * t.shape[1] + y) * t.shape[0] + x)];
}

// Records what it was asked to encode; each view's global is (1, its first
// voxel), its one slab and disease feature (its first voxel, 1), and it
// detects one thing at (first voxel, 0, 0).
class Recording final : public Encoder {
 public:
  Recording() {
    manifest_.preprocess.pad_value = -1;
    manifest_.dimension = 2;
  }
  const ModelManifest& manifest() const override { return manifest_; }
  const std::string& id() const override { return id_; }
  Result<std::vector<VolumeEncoding>> EncodeVolumes(const std::vector<const Tensor3*>& volumes) override {
    std::vector<VolumeEncoding> out;
    for (const Tensor3* v : volumes) {
      seen.push_back(*v);
      const float f = v->data[0];
      VolumeEncoding e;
      e.global = {1, f};
      e.slabs = {{v->slice_z_mm[0], {f, 1}}};
      e.diseases = {{f, 1}};
      e.detections = {{"Lung nodule", 0.5f, {f, 0, 0}}};
      out.push_back(std::move(e));
    }
    return out;
  }
  Result<std::vector<std::vector<float>>> EncodeTexts(const std::vector<std::string>& texts) override {
    return std::vector<std::vector<float>>(texts.size(), {0, 1});
  }
  double VolumeFlops() const override { return 10; }
  double TextFlops(int) const override { return 1; }
  double LogitScale() const override { return 7; }

  std::vector<Tensor3> seen;

 private:
  ModelManifest manifest_;
  std::string id_ = "recording@1#0";
};

TEST_CASE("views: a shifted copy moves every voxel in-plane and pads what moves in") {
  const Tensor3 t = Numbered(5, 4, 2);
  const Tensor3 s = ShiftInPlane(t, 1, -2, -1.f);
  CHECK(s.shape == t.shape);
  CHECK(s.slice_z_mm == t.slice_z_mm);
  CHECK(s.spacing_mm == t.spacing_mm);
  for (int64_t z = 0; z < 2; ++z) {
    for (int64_t y = 0; y < 4; ++y) {
      for (int64_t x = 0; x < 5; ++x) {
        const int64_t sy = y - 1, sx = x + 2;  // out(y, x) = in(y - dy, x - dx)
        const float want = (sy < 0 || sx >= 5) ? -1.f : At(t, sx, sy, z);
        CHECK(At(s, x, y, z) == want);
      }
    }
  }
  CHECK(ShiftInPlane(t, 0, 0, -1.f).data == t.data);
  // Shifted out entirely: all padding.
  for (float v : ShiftInPlane(t, 4, 0, -1.f).data) CHECK(v == -1.f);
}

TEST_CASE("views: the volume first, then four distinct diagonal shifts of 3 voxels") {
  CHECK(ViewShift(0) == std::array<int64_t, 2>{0, 0});
  std::set<std::array<int64_t, 2>> shifts;
  for (int v = 1; v < kMaxViews; ++v) {
    const auto s = ViewShift(v);
    CHECK(std::abs(s[0]) == kViewShiftVoxels);
    CHECK(std::abs(s[1]) == kViewShiftVoxels);
    shifts.insert(s);
  }
  CHECK(shifts.size() == static_cast<size_t>(kMaxViews - 1));
}

TEST_CASE("views: features are the views' normalized means, detections the volume's own") {
  auto owned = std::make_unique<Recording>();
  Recording* inner = owned.get();
  auto wrapped = AverageViews(std::move(owned), 3);
  REQUIRE(wrapped.ok());
  Encoder& e = **wrapped;
  CHECK(e.id() == "recording@1#0");
  CHECK(e.VolumeFlops() == 30);  // three passes
  CHECK(e.LogitScale() == 7);
  CHECK(e.EncodeTexts({"a"})->at(0) == std::vector<float>{0, 1});
  Tensor3 a = Numbered(8, 8, 2), b = Numbered(8, 8, 2);
  for (float& v : b.data) v += 1000;
  auto r = e.EncodeVolumes({&a, &b});
  REQUIRE(r.ok());
  REQUIRE(r->size() == 2);
  REQUIRE(inner->seen.size() == 6);  // three views of each, each volume's together
  for (int v = 0; v < 3; ++v) {
    const auto s = ViewShift(v);
    CHECK(inner->seen[static_cast<size_t>(v)].data == ShiftInPlane(a, s[0], s[1], -1.f).data);
    CHECK(inner->seen[static_cast<size_t>(3 + v)].data == ShiftInPlane(b, s[0], s[1], -1.f).data);
  }
  // a's first voxel in each view: 0 (itself), padding (-1) in view (3, 3),
  // voxel (3, 3) = 27 in view (-3, -3).
  const float f0 = inner->seen[0].data[0], f1 = inner->seen[1].data[0], f2 = inner->seen[2].data[0];
  CHECK(f0 == 0);
  CHECK(f1 == -1);
  CHECK(f2 == 27);
  const float mean = (f0 + f1 + f2) / 3;
  const double n = std::sqrt(1.0 + static_cast<double>(mean) * mean);
  const VolumeEncoding& ea = (*r)[0];
  CHECK(ea.global[0] == doctest::Approx(1 / n));
  CHECK(ea.global[1] == doctest::Approx(mean / n));
  REQUIRE(ea.slabs.size() == 1);
  CHECK(ea.slabs[0].z_mm == -100.f);
  CHECK(ea.slabs[0].vector[0] == doctest::Approx(mean / n));
  CHECK(ea.diseases[0][1] == doctest::Approx(1 / n));
  REQUIRE(ea.detections.size() == 1);
  CHECK(ea.detections[0].position_mm[0] == f0);  // the unshifted view's
  CHECK((*r)[1].detections[0].position_mm[0] == inner->seen[3].data[0]);
}

TEST_CASE("views: out of range refused, one view is the encoder itself") {
  for (int bad : {0, -1, kMaxViews + 1}) {
    auto r = AverageViews(std::make_unique<Recording>(), bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsInvalidArgument());
    CHECK(r.status().message().find("views must be in [1, 5]") != std::string::npos);
  }
  auto owned = std::make_unique<Recording>();
  Encoder* raw = owned.get();
  auto one = AverageViews(std::move(owned), 1);
  REQUIRE(one.ok());
  CHECK(one->get() == raw);
}

TEST_CASE("views: a real model through LoadEncoder averages shifted passes into unit vectors") {
  test::TempDir dir;
  const std::string model = test::MakeTinyModel(dir.Sub("model"), 1);
  auto manifest = ctdb::ReadManifest(model);
  REQUIRE(manifest.ok());
  EncoderRuntime one, three;
  one.threads = three.threads = 1;
  three.views = 3;
  auto e1 = LoadEncoder(model, *manifest, one);
  auto e3 = LoadEncoder(model, *manifest, three);
  REQUIRE(e1.ok());
  REQUIRE(e3.ok());
  CHECK((*e3)->VolumeFlops() == doctest::Approx(3 * (*e1)->VolumeFlops()));
  synth::SynthOptions o;
  o.inplane = 64;
  auto study = synth::MakeStudy(5, 0, 8, o);
  auto t = Preprocess(study.volume, manifest->preprocess);
  REQUIRE(t.ok());
  auto r1 = (*e1)->EncodeVolumes({&*t});
  auto r3 = (*e3)->EncodeVolumes({&*t});
  REQUIRE(r1.ok());
  REQUIRE(r3.ok());
  const auto& a = (*r1)[0];
  const auto& b = (*r3)[0];
  double norm = 0, dot = 0;
  for (size_t i = 0; i < b.global.size(); ++i) norm += b.global[i] * b.global[i], dot += a.global[i] * b.global[i];
  CHECK(norm == doctest::Approx(1).epsilon(1e-4));
  CHECK(dot < 0.99999);  // the shifted passes count
  CHECK(a.slabs.size() == b.slabs.size());
  CHECK(a.diseases.size() == b.diseases.size());
  CHECK(a.detections.size() == b.detections.size());
  EncoderRuntime bad;
  bad.views = 6;
  CHECK(LoadEncoder(model, *manifest, bad).status().IsInvalidArgument());
}

}  // namespace
}  // namespace ctdb::embed
