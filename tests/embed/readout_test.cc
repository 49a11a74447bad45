// The peaks readout (architecture.readout): added to a trained model it
// changes no embedding, its evidence starts at the base rates and is one
// weight per disease, channel and token place; it is validated, written to
// the manifest only when present, in the id and the flops, kept by growth;
// training moves it at its own rate and its weights load only with it.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include <torch/serialize.h>

#include <cmath>
#include <map>
#include <string>

#include "api/src/model_builder.h"
#include "api/src/model_manifest_json.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "tests/embed/native_test_util.h"
#include "tests/embed/train_test_data.h"

namespace ctdb::embed {
namespace {

using test::MaxDiff;

ModelManifest Peaked(ModelManifest m = test::WindowedTiny()) {
  m.architecture.peaks = {0};
  return m;
}

ModelManifest WithReadout(ModelManifest m) {
  m.architecture.readout = true;
  return m;
}

// A handle on the parameter `name` (the named_parameters() dict is a temporary).
torch::Tensor Param(ClipModel& model, const std::string& name) {
  for (auto& p : model->named_parameters()) {
    if (p.key() == name) return p.value();
  }
  FAIL("no parameter " << name);
  return {};
}

TEST_CASE("peaks readout: added to a trained model it changes no embedding -- its score is one weight per place") {
  torch::manual_seed(11);
  const ModelManifest pm = Peaked(), rm = WithReadout(pm);
  ClipModel peaked(pm, 50), ro(rm, 50);
  test::AsTrained(peaked);
  REQUIRE(CopyShared(peaked, ro).ok());
  const int64_t k = static_cast<int64_t>(rm.diseases.size());
  REQUIRE(k > 1);
  const auto log_odds = torch::linspace(-3, 1, k);
  ro->image->InitDetectBias(log_odds);
  peaked->eval();
  ro->eval();
  const auto& size = rm.preprocess.size;  // (x, y, z)
  const auto x = torch::rand({3, 1, size[2], size[1], size[0]}) * 2.4 - 1.2;
  {
    torch::NoGradGuard ng;
    const auto a = peaked->image->forward(x), b = ro->image->forward(x);
    CHECK(MaxDiff(a.global, b.global) == 0);
    CHECK(MaxDiff(a.diseases, b.diseases) == 0);
    CHECK(MaxDiff(a.slabs, b.slabs) == 0);
    CHECK(!a.evidence.defined());
    REQUIRE(b.evidence.defined());
    CHECK(MaxDiff(b.evidence, log_odds.expand({3, k})) == 0);  // the base rates until trained
  }

  // One weight per disease x (channel, place): a bright voxel counts where
  // its weight is and nowhere else.
  const auto grid = TokenGrid(rm);
  const int64_t places = grid[0] * grid[1] * grid[2], channels = 3;  // the three windows
  auto w = Param(ro, "image.readout_w");
  CHECK(w.sizes() == torch::IntArrayRef({k, channels * places}));
  const int64_t bz = size[2] / grid[0], by = size[1] / grid[1], bx = size[0] / grid[2];
  REQUIRE(bz * grid[0] == size[2]);
  REQUIRE(by * grid[1] == size[1]);
  REQUIRE(bx * grid[2] == size[0]);
  const auto value = [&](double hu) { return (hu - rm.preprocess.offset) / rm.preprocess.divisor; };
  const auto dark = torch::full({1, 1, size[2], size[1], size[0]}, value(-1000));
  // A 1000 HU voxel inside token (tz, ty, tx)'s block.
  const auto bright_in = [&](int64_t tz, int64_t ty, int64_t tx) {
    auto v = dark.clone();
    v[0][0][tz * bz + bz / 2][ty * by + by / 2][tx * bx + 1] = value(1000);
    return v;
  };
  const int64_t tz = grid[0] - 1, ty = 1, tx = grid[2] - 2, place = (tz * grid[1] + ty) * grid[2] + tx;
  {
    torch::NoGradGuard ng;
    w[1][2 * places + place] = 1;  // disease 1, the bright window (150..1000 HU: -1 -> +1)
    const auto base = ro->image->forward(dark).evidence;
    const auto here = ro->image->forward(bright_in(tz, ty, tx)).evidence;
    const auto elsewhere = ro->image->forward(bright_in(0, 0, 0)).evidence;
    // Scaled by the running statistics (eps 1).
    const double var = ro->named_buffers()["image.readout_norm.running_var"][2 * places + place].item<double>();
    CHECK((here[0][1] - base[0][1]).item<double>() == doctest::Approx(2 / std::sqrt(var + 1)).epsilon(1e-5));
    CHECK(MaxDiff(elsewhere, base) == 0);
    CHECK(MaxDiff(here.narrow(1, 2, k - 2), base.narrow(1, 2, k - 2)) == 0);  // other diseases' weights are 0

    // Once its directions move, the score reaches the disease and global features.
    Param(ro, "image.detect_token").fill_(0.1);
    Param(ro, "image.detect_global").fill_(0.1);
    const auto a = peaked->image->forward(x), moved = ro->image->forward(x);
    CHECK(MaxDiff(moved.diseases, a.diseases) > 1e-4);
    CHECK(MaxDiff(moved.global, a.global) > 1e-4);
    CHECK(MaxDiff(moved.slabs, a.slabs) == 0);  // slabs are the tokens'; the readout does not touch them
  }

  // Zero-started: the labels' loss moves the readout from the first step;
  // its directions follow once the scores differ between studies (a score
  // shared by the whole batch is what batch normalization takes away).
  ClipModel fresh(rm, 50);
  REQUIRE(CopyShared(peaked, fresh).ok());
  fresh->train();
  // Sparse bright voxels, elsewhere in each study: block maxima that differ
  // between studies (uniform noise saturates every block's maximum).
  const auto sparse = torch::full({3, 1, size[2], size[1], size[0]}, value(-1000)) +
                      (torch::rand({3, 1, size[2], size[1], size[0]}) > 0.998).to(torch::kFloat) * (value(1000) - value(-1000));
  const auto y = torch::randint(0, 2, {3, k}).to(torch::kFloat);
  const auto grads = [&] {
    fresh->zero_grad();
    const auto out = fresh->image->forward(sparse);
    (torch::binary_cross_entropy_with_logits(out.evidence, y) + out.global.sum() + out.diseases.sum()).backward();
    std::map<std::string, double> g;
    for (const std::string name : {"image.readout_w", "image.readout_b", "image.detect_token", "image.detect_global"}) {
      CHECK_MESSAGE(IsEvidenceParameter(name), name);
      const auto grad = Param(fresh, name).grad();
      g[name] = grad.defined() ? grad.abs().max().item<double>() : 0.0;
    }
    return g;
  };
  auto g = grads();
  CHECK(g["image.readout_w"] > 0);
  CHECK(g["image.readout_b"] > 0);
  {
    torch::NoGradGuard ng;
    Param(fresh, "image.readout_w").normal_(0, 0.01);
  }
  g = grads();
  for (const auto& [name, v] : g) CHECK_MESSAGE(v > 0, name);
  CHECK(!IsEvidenceParameter("image.peaks.weight"));

  // The other way round the readout has nowhere to go: refused by name.
  const Status s = CopyShared(ro, peaked);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("image.readout_w") != std::string::npos);
}

TEST_CASE("peaks readout: needs peaks and diseases, not a head -- manifest, id, flops and growth keep it") {
  const ModelManifest pm = Peaked(), rm = WithReadout(pm);
  CHECK(ValidateManifest(rm).ok());
  ModelManifest with_head = rm, no_diseases = rm;
  with_head.architecture.detect.stage = 1;
  no_diseases.diseases.clear();
  for (const ModelManifest& bad : {WithReadout(test::WindowedTiny()), with_head, no_diseases}) {
    const Status s = ValidateManifest(bad);
    CHECK(s.IsInvalidArgument());
    CHECK_MESSAGE(s.message().find("architecture.readout") != std::string::npos, s.ToString());
  }

  // Written only when present; read back as written; a non-boolean refused by name.
  CHECK(ManifestToJson(pm).find("readout") == std::string::npos);
  auto back = ParseManifest(ManifestToJson(rm));
  REQUIRE(back.ok());
  CHECK(back->architecture.readout);
  CHECK(ManifestToJson(*back) == ManifestToJson(rm));
  auto m = ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8,"architecture":{"readout":1}})");
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("architecture.readout") != std::string::npos);
  // In the id: it changes the vectors.
  CHECK(ManifestFingerprint(rm) != ManifestFingerprint(pm));

  const auto g = TokenGrid(rm);
  const double k = static_cast<double>(rm.diseases.size()), places = static_cast<double>(g[0] * g[1] * g[2]);
  CHECK(ReadoutFlops(pm) == 0);
  CHECK(ReadoutFlops(rm) == doctest::Approx(2 * k * 3 * places));
  CHECK(ImageFlops(rm) == doctest::Approx(ImageFlops(pm) + ReadoutFlops(rm)));

  // Growth keeps the readout, its peaks and the token grid (so its weights' shape).
  auto fine = FinerInput(rm, {2, 2, 2}, 8);
  REQUIRE(fine.ok());
  CHECK(fine->architecture.readout);
  CHECK(fine->architecture.peaks == std::vector<int64_t>{0});
  CHECK(TokenGrid(*fine) == TokenGrid(rm));
  CHECK(ValidateManifest(*fine).ok());
}

TEST_CASE("training: a peaks readout learns at its own rate from the base rates -- its weights load only with it") {
  test::TrainData d;
  const ModelManifest pm = Peaked(d.m), rm = WithReadout(pm);
  TrainOptions plain = d.Options("peaked", 1);
  plain.manifest = pm;
  REQUIRE(Train(d.set, plain).ok());
  const int64_t vocab = static_cast<int64_t>(d.vocab.size());
  ClipModel start(pm, vocab);
  torch::load(start, plain.out + "/weights.pt");
  const auto peaks_start = Param(start, "image.peaks.weight").clone();

  // max |change| of the readout's weights over that of the peaks' own map
  // (both trained by Adam from the same run start): about the scale.
  const auto ratio = [&](const std::string& out, double scale) {
    TrainOptions o = d.Options(out, 1);
    o.manifest = rm;
    o.init_weights = plain.out + "/weights.pt";
    o.init_manifest = pm;
    o.lr = 1e-3;
    o.readout_lr = o.lr * scale;
    double first_detect = NAN;
    o.progress = [&](const TrainOptions::Progress& p) {
      if (std::isnan(first_detect)) first_detect = p.losses.at("detect");
    };
    auto r = Train(d.set, o);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    CHECK(r->final_losses.count("detect"));
    CHECK(first_detect < 0.6);  // starts at the labels' entropy, not log 2
    ClipModel after(rm, vocab);
    torch::load(after, o.out + "/weights.pt");
    const double readout = Param(after, "image.readout_w").abs().max().item<double>();  // started at 0
    const double peaks = (Param(after, "image.peaks.weight") - peaks_start).abs().max().item<double>();
    REQUIRE(peaks > 0);
    return readout / peaks;
  };
  const double at30 = ratio("ro30", 30), at1 = ratio("ro1", 1);
  MESSAGE("readout/peaks change: x30 " << at30 << ", x1 " << at1);
  CHECK(at30 / at1 > 15);
  CHECK(at30 / at1 < 60);

  // Read by a manifest without the readout, its weights are refused by name.
  auto without = LoadEncoder(d.dir.Sub("ro30"), pm, {});
  REQUIRE(!without.ok());
  CHECK_MESSAGE(without.status().message().find("image.readout") != std::string::npos, without.status().ToString());
  CHECK(LoadEncoder(d.dir.Sub("ro30"), rm, {}).ok());

  TrainOptions bad = d.Options("bad", 1);
  bad.readout_lr = 0;
  CHECK(Train(d.set, bad).status().message().find("readout_lr") != std::string::npos);
}

}  // namespace
}  // namespace ctdb::embed
