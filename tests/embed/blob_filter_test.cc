// The blob filter (embed/blob_filter.h) and its place in the readout
// (architecture.blobs): eigenvalues against LibTorch's own solver, a ball
// answers and a tube of the same HU and width does not, nothing answers
// outside the lungs; the manifest field is validated, written only when
// present, in the id and the flops; added to a trained readout it changes no
// embedding until its zero-started weights move, and they learn with the
// readout's.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include <torch/linalg.h>

#include <cmath>
#include <string>

#include "api/src/model_manifest_json.h"
#include "embed/blob_filter.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "embed/trainer.h"
#include "tests/embed/native_test_util.h"

namespace ctdb::embed {
namespace {

using test::MaxDiff;

TEST_CASE("blob filter: closed-form eigenvalues agree with LibTorch's solver, largest first") {
  torch::manual_seed(3);
  auto a = torch::randn({500, 3, 3}, torch::kDouble);
  a = a + a.transpose(1, 2);
  const auto at = [&](int i, int j) { return a.select(1, i).select(1, j); };
  const auto l = SymmetricEigenvalues3(at(0, 0), at(1, 1), at(2, 2), at(0, 1), at(0, 2), at(1, 2));
  const auto want = torch::linalg::eigvalsh(a, "L");  // ascending
  CHECK(MaxDiff(l[0], want.select(1, 2)) < 1e-9);
  CHECK(MaxDiff(l[1], want.select(1, 1)) < 1e-9);
  CHECK(MaxDiff(l[2], want.select(1, 0)) < 1e-9);
  // Repeated eigenvalues (a multiple of I: p = 0) are no division by zero.
  const auto two = torch::full({1}, 2.0, torch::kDouble), zero = torch::zeros({1}, torch::kDouble);
  const auto d = SymmetricEigenvalues3(two, two, two, zero, zero, zero);
  for (const auto& v : d) CHECK(v.item<double>() == doctest::Approx(2));
}

TEST_CASE("blob filter: pooled to the smallest scale, never below the input's spacing") {
  CHECK(BlobPoolFactors({1.5, 0.75, 0.75}, {2, 3.5}) == std::array<int64_t, 3>{1, 2, 2});
  CHECK(BlobPoolFactors({1.5, 0.75, 0.75}, {3, 5}) == std::array<int64_t, 3>{2, 4, 4});
  CHECK(BlobPoolFactors({12, 6, 6}, {2}) == std::array<int64_t, 3>{1, 1, 1});
}

// Lung (-850 HU) everywhere but a soft-tissue block at x >= 80: a ball of
// radius 4 mm at 45 HU, a vessel (radius 3 mm, 40 HU) along z, and a ball in
// the soft tissue (120 HU).
struct Phantom {
  static constexpr int64_t kZ = 40, kY = 64, kX = 96;
  const std::array<double, 3> spacing{1.5, 0.75, 0.75};  // z, y, x mm, as the shipped model's
  torch::Tensor hu = torch::full({1, 1, kZ, kY, kX}, -850.0f);
  Phantom() {
    auto a = hu.accessor<float, 5>();
    for (int64_t z = 0; z < kZ; ++z) {
      for (int64_t y = 0; y < kY; ++y) {
        for (int64_t x = 0; x < kX; ++x) {
          const double pz = static_cast<double>(z) * spacing[0], py = static_cast<double>(y) * spacing[1],
                       px = static_cast<double>(x) * spacing[2];
          const auto d2 = [&](double cz, double cy, double cx) {
            return (pz - cz) * (pz - cz) + (py - cy) * (py - cy) + (px - cx) * (px - cx);
          };
          if (x >= 80) a[0][0][z][y][x] = 40;
          if (d2(30, 24, 18) < 16) a[0][0][z][y][x] = 45;                                  // the nodule
          if ((py - 24) * (py - 24) + (px - 42) * (px - 42) < 9) a[0][0][z][y][x] = 40;    // the vessel
          if (d2(30, 24, 68) < 16) a[0][0][z][y][x] = 120;                                 // in the soft tissue
        }
      }
    }
  }
};

TEST_CASE("blob filter: a nodule answers, a vessel of the same HU and width does not, nor the chest wall") {
  Phantom p;
  const std::vector<double> sigmas{2, 3.5};
  const auto r = BlobResponse(p.hu, p.spacing, sigmas);
  const auto f = BlobPoolFactors(p.spacing, sigmas);
  REQUIRE(r.sizes() == torch::IntArrayRef({1, 2, Phantom::kZ / f[0], Phantom::kY / f[1], Phantom::kX / f[2]}));
  CHECK(!r.requires_grad());
  // Regions on the filter's grid (x in mm / 1.5): the ball's 10 mm, the
  // vessel's 10 mm wide slab along z (away from its ends), the rest.
  const auto region = [&](double x0_mm, double x1_mm) {
    const int64_t x0 = static_cast<int64_t>(x0_mm / 1.5), x1 = static_cast<int64_t>(x1_mm / 1.5);
    return r.narrow(4, x0, x1 - x0);
  };
  for (int64_t s = 0; s < 2; ++s) {
    CAPTURE(s);
    const double ball = region(13, 23).select(1, s).narrow(1, 14, 12).max().item<double>();
    const double vessel = region(37, 47).select(1, s).narrow(1, 8, 24).max().item<double>();
    const double wall = region(57, 72).select(1, s).max().item<double>();
    MESSAGE("sigma " << sigmas[static_cast<size_t>(s)] << ": ball " << ball << ", vessel " << vessel << ", wall " << wall);
    CHECK(ball > 0.5);
    CHECK(vessel < ball / 5);
    CHECK(wall < 1e-3);  // a flat edge has one curvature; the soft tissue is outside the lung mask
  }
  // Per volume: a batch of two is each volume alone.
  const auto both = BlobResponse(torch::cat({p.hu, torch::full_like(p.hu, -850)}, 0), p.spacing, sigmas);
  CHECK(MaxDiff(both.narrow(0, 0, 1), r) == 0);
  CHECK(both.narrow(0, 1, 1).abs().max().item<double>() == 0);  // flat lung: nothing
}

ModelManifest Blobbed(std::vector<double> sigmas = {8}) {
  ModelManifest m = test::WindowedTiny();
  m.architecture.peaks = {0};
  m.architecture.readout = true;
  m.architecture.blobs = std::move(sigmas);
  return m;
}

TEST_CASE("blobs: need the readout, ascending scales above 0 and at most 10 mm -- manifest, id and flops carry them") {
  const ModelManifest bm = Blobbed({4, 8}), rm = Blobbed({});
  CHECK(ValidateManifest(bm).ok());
  ModelManifest no_readout = bm;
  no_readout.architecture.readout = false;
  for (const auto& [m, why] : {std::pair{no_readout, "readout"}, std::pair{Blobbed({8, 4}), "ascend"},
                               std::pair{Blobbed({4, 4}), "ascend"}, std::pair{Blobbed({0}), "(0, 10]"},
                               std::pair{Blobbed({12}), "(0, 10]"},
                               std::pair{Blobbed({1, 2, 3, 4, 5, 6, 7, 8, 9}), "at most 8"}}) {
    const Status s = ValidateManifest(m);
    CHECK(s.IsInvalidArgument());
    CHECK_MESSAGE(s.message().find("architecture.blobs") != std::string::npos, s.ToString());
    CHECK_MESSAGE(s.message().find(why) != std::string::npos, s.ToString());
  }
  CHECK(ManifestToJson(rm).find("blobs") == std::string::npos);
  auto back = ParseManifest(ManifestToJson(bm));
  REQUIRE(back.ok());
  CHECK(back->architecture.blobs == std::vector<double>{4, 8});
  CHECK(ManifestToJson(*back) == ManifestToJson(bm));
  for (const char* bad : {R"("blobs":2)", R"("blobs":[2,"x"])"}) {
    auto m = ParseManifest(std::string(R"({"format":"native","name":"x","version":"1","dimension":8,"architecture":{)") + bad + "}}");
    REQUIRE(!m.ok());
    CHECK(m.status().message().find("architecture.blobs") != std::string::npos);
  }
  CHECK(ManifestFingerprint(bm) != ManifestFingerprint(rm));
  CHECK(ManifestFingerprint(bm) != ManifestFingerprint(Blobbed({4, 9})));
  CHECK(BlobFlops(rm) == 0);
  CHECK(BlobFlops(bm) > 0);
  CHECK(ImageFlops(bm) == doctest::Approx(ImageFlops(rm) + BlobFlops(bm)));
}

TEST_CASE("blobs: added to a trained readout they change nothing until trained -- two weights per scale and disease") {
  torch::manual_seed(5);
  const ModelManifest rm = Blobbed({}), bm = Blobbed({8});
  ClipModel ro(rm, 50), bl(bm, 50);
  test::AsTrained(ro);
  REQUIRE(CopyShared(ro, bl).ok());
  ro->eval();
  bl->eval();
  const auto& size = bm.preprocess.size;  // (x, y, z)
  const auto value = [&](double hu) { return (hu - bm.preprocess.offset) / bm.preprocess.divisor; };
  // Lung with one 13 mm ball in it (the tiny grid is 6 x 6 x 12 mm).
  auto x = torch::full({2, 1, size[2], size[1], size[0]}, static_cast<float>(value(-850)));
  {
    auto a = x.accessor<float, 5>();
    for (int64_t z = 0; z < size[2]; ++z) {
      for (int64_t y = 0; y < size[1]; ++y) {
        for (int64_t i = 0; i < size[0]; ++i) {
          const double dz = (static_cast<double>(z) - 8) * 12, dy = (static_cast<double>(y) - 16) * 6,
                       dx = (static_cast<double>(i) - 16) * 6;
          if (dz * dz + dy * dy + dx * dx < 13 * 13) a[0][0][z][y][i] = static_cast<float>(value(40));
        }
      }
    }
  }
  const auto features = BlobFeatures(bm, x);
  const int64_t k = static_cast<int64_t>(bm.diseases.size());
  REQUIRE(features.sizes() == torch::IntArrayRef({2, 2}));  // one scale: the maximum, the top 16's mean
  CHECK(features[0][0].item<double>() > 0.5);
  CHECK(features[0][0].item<double>() >= features[0][1].item<double>());
  CHECK(features[0][1].item<double>() > 0);
  CHECK(features[1].abs().max().item<double>() == 0);  // no ball, no answer
  CHECK(!BlobFeatures(rm, x).defined());
  torch::Tensor w;
  for (auto& p : bl->named_parameters()) {
    if (p.key() == "image.blob_w") w = p.value();
  }
  REQUIRE(w.defined());
  CHECK(w.sizes() == torch::IntArrayRef({k, 2}));
  CHECK(w.abs().max().item<double>() == 0);
  CHECK(IsEvidenceParameter("image.blob_w"));
  {
    torch::NoGradGuard ng;
    const auto a = ro->image->forward(x), b = bl->image->forward(x);
    CHECK(MaxDiff(a.global, b.global) == 0);
    CHECK(MaxDiff(a.diseases, b.diseases) == 0);
    CHECK(MaxDiff(a.evidence, b.evidence) == 0);
    // The volume maximum's weight on disease 2 moves only the ball's study, only there.
    w[2][0] = 1;
    const auto c = bl->image->forward(x).evidence;
    const double var = bl->named_buffers()["image.blob_norm.running_var"][0].item<double>();
    const double mean = bl->named_buffers()["image.blob_norm.running_mean"][0].item<double>();
    CHECK((c[0][2] - a.evidence[0][2]).item<double>() ==
          doctest::Approx((features[0][0].item<double>() - mean) / std::sqrt(var + 1)).epsilon(1e-4));
    CHECK(MaxDiff(c.narrow(1, 0, 2), a.evidence.narrow(1, 0, 2)) == 0);
  }
  // Trained: the labels' loss reaches the zero-started weights.
  ClipModel fresh(bm, 50);
  REQUIRE(CopyShared(ro, fresh).ok());
  fresh->train();
  fresh->zero_grad();
  const auto out = fresh->image->forward(x);
  torch::binary_cross_entropy_with_logits(out.evidence, torch::ones_like(out.evidence)).backward();
  torch::Tensor grad;
  for (auto& p : fresh->named_parameters()) {
    if (p.key() == "image.blob_w") grad = p.value().grad();
  }
  REQUIRE(grad.defined());
  CHECK(grad.abs().max().item<double>() > 0);
  // The other way round the weights have nowhere to go: refused by name.
  const Status s = CopyShared(bl, ro);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("image.blob") != std::string::npos);
}

}  // namespace
}  // namespace ctdb::embed
