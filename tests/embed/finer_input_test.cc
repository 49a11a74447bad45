// Growing a model onto a finer input grid: the layout arithmetic, the
// weight transplant reproducing the base model exactly, and refusals.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include "api/src/model_builder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "tests/embed/native_test_util.h"

namespace ctdb::embed {
namespace {

ModelManifest Base(const std::string& norm) { return test::WindowedTiny(norm); }

// Every voxel repeated f times along each axis: the fine grid's view of a
// coarse volume, whose box averages are the coarse volume again.
torch::Tensor Repeat(const torch::Tensor& x, const std::array<int64_t, 3>& f) {
  return x.repeat_interleave(f[0], 2).repeat_interleave(f[1], 3).repeat_interleave(f[2], 4);
}

using test::MaxDiff;

TEST_CASE("finer input: the layout halves the spacing, keeps the tokens and slabs in millimetres") {
  const ModelManifest base = Base("batch");
  auto m = FinerInput(base, {2, 2, 2}, 8);
  REQUIRE_MESSAGE(m.ok(), m.status().ToString());
  CHECK(m->preprocess.spacing_mm == std::array<double, 3>{3, 3, 6});
  CHECK(m->preprocess.size == std::array<int64_t, 3>{64, 64, 32});
  REQUIRE(m->architecture.stem.size() == base.architecture.stem.size() + 1);
  CHECK(m->architecture.stem[0].channels == 8);
  CHECK(m->architecture.stem[0].kernel == std::array<int64_t, 3>{2, 2, 2});
  CHECK(m->architecture.stem[0].stride == std::array<int64_t, 3>{2, 2, 2});
  CHECK(TokenGrid(*m) == TokenGrid(base));
  CHECK(SlabSlices(*m) == 2 * SlabSlices(base));
  CHECK(m->slab_mm == base.slab_mm);
  // (z, y, x) factors; the manifest's spacing is (x, y, z).
  auto inplane = FinerInput(base, {1, 2, 2}, 6);
  REQUIRE(inplane.ok());
  CHECK(inplane->preprocess.spacing_mm == std::array<double, 3>{3, 3, 12});
  CHECK(inplane->preprocess.size == std::array<int64_t, 3>{64, 64, 16});
  CHECK(SlabSlices(*inplane) == SlabSlices(base));

  CHECK(FinerInput(base, {1, 1, 1}, 8).status().message().find("above 1") != std::string::npos);
  CHECK(FinerInput(base, {5, 2, 2}, 8).status().message().find("1-4") != std::string::npos);
  CHECK(FinerInput(base, {2, 2, 2}, 5).status().message().find("at least 6 channels") != std::string::npos);
  CHECK(FinerInput(Base("group"), {2, 2, 2}, 8).status().message().find("group") != std::string::npos);
  ModelManifest ts = base;
  ts.format = "torchscript";
  CHECK(!FinerInput(ts, {2, 2, 2}, 8).ok());
}

TEST_CASE("finer input: the grown model computes what its base did on the same scan") {
  for (const std::string norm : {"batch", "none"}) {
    for (const std::array<int64_t, 3> f : {std::array<int64_t, 3>{2, 2, 2}, std::array<int64_t, 3>{1, 2, 2}}) {
      CAPTURE(norm);
      CAPTURE(f[0]);
      torch::manual_seed(3);
      const ModelManifest bm = Base(norm);
      auto fm = FinerInput(bm, f, 2 * 3 + 3);
      REQUIRE(fm.ok());
      ClipModel base(bm, 50), grown(*fm, 50);
      test::AsTrained(base);
      // Coarse volumes in CT-CLIP's scale: air, soft tissue and bone all occur.
      const auto coarse = torch::rand({4, 1, bm.preprocess.size[2], bm.preprocess.size[1], bm.preprocess.size[0]}) * 2.4 - 1.2;
      const auto fine = Repeat(coarse, f);
      REQUIRE(GrowFromCoarser(base, grown, *fm, fine).ok());
      torch::NoGradGuard ng;
      // Training mode (batch statistics): the sample the new stage was set on.
      base->train();
      grown->train();
      auto a = base->image->forward(coarse), b = grown->image->forward(fine);
      CHECK(MaxDiff(a.global, b.global) < 1e-3);
      CHECK(MaxDiff(a.diseases, b.diseases) < 1e-3);
      // Inference (running statistics), on other volumes.
      base->eval();
      grown->eval();
      const auto other = torch::rand_like(coarse) * 2.4 - 1.2;
      a = base->image->forward(other);
      b = grown->image->forward(Repeat(other, f));
      CHECK(MaxDiff(a.global, b.global) < 1e-3);
      CHECK(MaxDiff(a.slabs, b.slabs) < 1e-3);
      CHECK(MaxDiff(a.diseases, b.diseases) < 1e-3);
      // The text tower and the training biases moved over unchanged.
      CHECK(MaxDiff(base->logit_scale, grown->logit_scale) == 0);
      CHECK(MaxDiff(base->label_global_b, grown->label_global_b) == 0);
    }
  }
}

TEST_CASE("finer input: a base of another layout is refused, naming the tensor") {
  const ModelManifest bm = Base("batch");
  auto fm = FinerInput(bm, {2, 2, 2}, 8);
  REQUIRE(fm.ok());
  ModelManifest other = bm;
  other.architecture.stem[0].channels = 12;
  ClipModel base(other, 50), grown(*fm, 50);
  const auto fine = torch::zeros({2, 1, fm->preprocess.size[2], fm->preprocess.size[1], fm->preprocess.size[0]});
  const Status s = GrowFromCoarser(base, grown, *fm, fine);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("image.stem.0") != std::string::npos);
  ClipModel same(bm, 50);
  CHECK(!GrowFromCoarser(same, grown, *fm, torch::zeros({1, 1, 4, 4, 4})).ok());  // one study: no statistics
}

}  // namespace
}  // namespace ctdb::embed
