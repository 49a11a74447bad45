// The detector head (architecture.detect.stage): added to a trained model it
// changes no embedding until trained, its scores are live, the layout is
// validated, and growth onto a finer grid keeps it on the same stage.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include "api/src/model_builder.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "tests/embed/native_test_util.h"

namespace ctdb::embed {
namespace {

ModelManifest Base() { return test::WindowedTiny(); }

ModelManifest WithHead(ModelManifest m, int64_t stage) {
  m.architecture.detect.stage = stage;
  m.architecture.detect.channels = 8;
  return m;
}

using test::MaxDiff;

TEST_CASE("detector head: added to a trained model, every embedding stays as it was until trained") {
  torch::manual_seed(5);
  const ModelManifest bm = Base(), hm = WithHead(bm, 1);
  REQUIRE(!bm.diseases.empty());
  ClipModel base(bm, 50), headed(hm, 50);
  test::AsTrained(base);
  REQUIRE(CopyShared(base, headed).ok());
  base->eval();
  headed->eval();
  torch::NoGradGuard ng;
  const auto x = torch::rand({3, 1, bm.preprocess.size[2], bm.preprocess.size[1], bm.preprocess.size[0]}) * 2.4 - 1.2;
  const auto a = base->image->forward(x), b = headed->image->forward(x);
  CHECK(!a.evidence.defined());
  REQUIRE(b.evidence.defined());
  CHECK(b.evidence.sizes() == torch::IntArrayRef({3, static_cast<int64_t>(bm.diseases.size())}));
  CHECK(MaxDiff(a.global, b.global) == 0);
  CHECK(MaxDiff(a.diseases, b.diseases) == 0);
  CHECK(MaxDiff(a.slabs, b.slabs) == 0);
  // Different volumes, different scores: the head reads the scan.
  CHECK(MaxDiff(b.evidence[0], b.evidence[1]) > 0);

  // Once its directions move, the scores reach the disease and global features.
  for (auto& p : headed->named_parameters()) {
    if (p.key() == "image.detect_token" || p.key() == "image.detect_global") p.value().fill_(0.05);
  }
  const auto moved = headed->image->forward(x);
  CHECK(MaxDiff(moved.diseases, a.diseases) > 1e-4);
  CHECK(MaxDiff(moved.global, a.global) > 1e-4);
  CHECK(MaxDiff(moved.slabs, a.slabs) == 0);  // slabs come from the tokens alone

  // The other way round the head has nowhere to go: refused by name.
  ClipModel plain(bm, 50);
  const Status s = CopyShared(headed, plain);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("image.detect") != std::string::npos);
}

TEST_CASE("detector head: the stage must precede the last, channels must be sane -- finer input keeps its stage") {
  const ModelManifest bm = Base();
  const int64_t stages = static_cast<int64_t>(bm.architecture.stem.size());
  CHECK(ValidateManifest(WithHead(bm, 1)).ok());
  CHECK(ValidateManifest(WithHead(bm, stages - 1)).ok());
  for (int64_t bad : {stages, int64_t{-1}}) {
    const Status s = ValidateManifest(WithHead(bm, bad));
    CHECK(s.message().find("architecture.detect.stage") != std::string::npos);
  }
  ModelManifest zero = WithHead(bm, 1);
  zero.architecture.detect.channels = 0;
  CHECK(ValidateManifest(zero).message().find("architecture.detect.channels") != std::string::npos);

  CHECK(DetectFlops(bm) == 0);
  CHECK(DetectFlops(WithHead(bm, 1)) > 0);
  CHECK(ImageFlops(WithHead(bm, 1)) == doctest::Approx(ImageFlops(bm) + DetectFlops(WithHead(bm, 1))));

  auto fine = FinerInput(WithHead(bm, 1), {2, 2, 2}, 8);
  REQUIRE(fine.ok());
  CHECK(fine->architecture.detect.stage == 2);  // the same stage, one later in the grown stem
  CHECK(DetectFlops(*fine) == doctest::Approx(DetectFlops(WithHead(bm, 1))));
}

}  // namespace
}  // namespace ctdb::embed
