// Peak skips (architecture.peaks): added to a trained model they change no
// embedding until trained, yet get a gradient from the start; the stages
// are validated, written to the manifest only when present, counted in the
// flops, and kept on the same stages when the stem grows.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include "api/src/model_builder.h"
#include "api/src/model_manifest_json.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "tests/embed/native_test_util.h"

namespace ctdb::embed {
namespace {

ModelManifest Base() { return test::WindowedTiny(); }

ModelManifest WithPeaks(ModelManifest m, std::vector<int64_t> peaks) {
  m.architecture.peaks = std::move(peaks);
  return m;
}

using test::MaxDiff;

TEST_CASE("peak skips: added to a trained model, every embedding stays as it was until trained") {
  torch::manual_seed(7);
  const ModelManifest bm = Base(), pm = WithPeaks(bm, {0, 1});
  ClipModel base(bm, 50), peaked(pm, 50);
  test::AsTrained(base);
  REQUIRE(CopyShared(base, peaked).ok());
  base->eval();
  peaked->eval();
  const auto x = torch::rand({3, 1, bm.preprocess.size[2], bm.preprocess.size[1], bm.preprocess.size[0]}) * 2.4 - 1.2;
  {
    torch::NoGradGuard ng;
    const auto a = base->image->forward(x), b = peaked->image->forward(x);
    CHECK(MaxDiff(a.global, b.global) == 0);
    CHECK(MaxDiff(a.diseases, b.diseases) == 0);
    CHECK(MaxDiff(a.slabs, b.slabs) == 0);
  }
  // Zero weights, live gradient: the maxima reach the map's gradient at once.
  torch::Tensor w;  // a handle: the named_parameters() dict is a temporary
  for (auto& p : peaked->named_parameters()) {
    if (p.key() == "image.peaks.weight") w = p.value();
  }
  REQUIRE(w.defined());
  const int64_t width = bm.architecture.width, channels = 3 + bm.architecture.stem[0].channels;
  CHECK(w.sizes() == torch::IntArrayRef({width, channels}));
  peaked->image->forward(x).global.sum().backward();
  REQUIRE(w.grad().defined());
  CHECK(w.grad().abs().max().item<double>() > 0);

  // Once the map moves, the peaks reach every output through the tokens.
  {
    torch::NoGradGuard ng;
    w.fill_(0.05);
    const auto a = base->image->forward(x), moved = peaked->image->forward(x);
    CHECK(MaxDiff(moved.global, a.global) > 1e-4);
    CHECK(MaxDiff(moved.diseases, a.diseases) > 1e-4);
    CHECK(MaxDiff(moved.slabs, a.slabs) > 1e-4);
  }

  // The other way round the map has nowhere to go: refused by name.
  ClipModel plain(bm, 50);
  const Status s = CopyShared(peaked, plain);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("image.peaks") != std::string::npos);
}

TEST_CASE("peak skips: stages ascend and precede the last -- manifest, flops and growth keep them") {
  const ModelManifest bm = Base();
  const int64_t stages = static_cast<int64_t>(bm.architecture.stem.size());
  CHECK(ValidateManifest(WithPeaks(bm, {0})).ok());
  CHECK(ValidateManifest(WithPeaks(bm, {0, stages - 1})).ok());
  for (const auto& bad : std::vector<std::vector<int64_t>>{{stages}, {-1}, {1, 0}, {0, 0}}) {
    CHECK(ValidateManifest(WithPeaks(bm, bad)).message().find("architecture.peaks") != std::string::npos);
  }

  // Written only when present; read back as written; a non-list refused by name.
  CHECK(ManifestToJson(bm).find("peaks") == std::string::npos);
  auto back = ParseManifest(ManifestToJson(WithPeaks(bm, {0, 1})));
  REQUIRE(back.ok());
  CHECK(back->architecture.peaks == std::vector<int64_t>{0, 1});
  for (const char* bad : {R"("peaks":2)", R"("peaks":[0,"x"])", R"("peaks":[0.5])"}) {
    CAPTURE(bad);
    auto m = ParseManifest(std::string(R"({"format":"native","name":"x","version":"1","dimension":8,"architecture":{)") +
                           bad + "}}");
    REQUIRE(!m.ok());
    CHECK(m.status().message().find("architecture.peaks") != std::string::npos);
  }
  // In the id: they change the vectors.
  CHECK(ManifestFingerprint(WithPeaks(bm, {0})) != ManifestFingerprint(bm));
  CHECK(ManifestFingerprint(WithPeaks(bm, {0})) != ManifestFingerprint(WithPeaks(bm, {1})));

  CHECK(PeakFlops(bm) == 0);
  CHECK(PeakFlops(WithPeaks(bm, {0, 1})) > PeakFlops(WithPeaks(bm, {0})));
  CHECK(ImageFlops(WithPeaks(bm, {0})) == doctest::Approx(ImageFlops(bm) + PeakFlops(WithPeaks(bm, {0}))));

  // Growth: stage k is stage k + 1 of the grown stem; the windowed input stays 0.
  auto fine = FinerInput(WithPeaks(bm, {0, 1}), {2, 2, 2}, 8);
  REQUIRE(fine.ok());
  CHECK(fine->architecture.peaks == std::vector<int64_t>{0, 2});
  CHECK(ValidateManifest(*fine).ok());
}

}  // namespace
}  // namespace ctdb::embed
