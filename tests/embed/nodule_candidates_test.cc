// Nodule candidates (embed/nodule_candidates.h, architecture.candidates):
// the blob filter's strongest maxima in order, patches centred on them with
// air outside the volume, training targets that follow the volume's shift,
// the nodule first among a phantom's candidates; the manifest field is
// validated, written only when present, in the id and the flops; added to a
// trained readout it changes no embedding until trained; training with it
// (the "candidates" loss) and the evidence path alone (--only-evidence)
// leaves every other weight as it was.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include <torch/serialize.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "api/src/model_manifest_json.h"
#include "embed/blob_filter.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "embed/nodule_candidates.h"
#include "embed/trainer.h"
#include "tests/embed/native_test_util.h"
#include "tests/embed/train_test_data.h"

namespace ctdb::embed {
namespace {

using test::MaxDiff;

TEST_CASE("nodule candidates: the strongest local maxima first -- a volume with fewer leaves sites unused") {
  auto r = torch::zeros({2, 6, 8, 8});
  r[0][1][2][3] = 5;  // a maximum
  r[0][1][2][4] = 4;  // beside it: not one
  r[0][4][6][1] = 3;
  r[0][3][0][7] = 7;
  r[1][2][2][2] = 1;  // the second volume has one
  const auto s = FindCandidates(r, 3);
  REQUIRE(s.where.sizes() == torch::IntArrayRef({2, 3, 3}));
  CHECK(s.where[0][0].equal(torch::tensor({3, 0, 7}, torch::kLong)));
  CHECK(s.where[0][1].equal(torch::tensor({1, 2, 3}, torch::kLong)));
  CHECK(s.where[0][2].equal(torch::tensor({4, 6, 1}, torch::kLong)));
  CHECK(s.response[0].equal(torch::tensor({7.0f, 5.0f, 3.0f})));
  CHECK(s.valid[0].all().item<bool>());
  CHECK(s.valid[1].equal(torch::tensor({true, false, false})));
  CHECK(s.where[1][0].equal(torch::tensor({2, 2, 2}, torch::kLong)));
  CHECK(s.response[1][1].item<float>() == 0);
  // More sites than voxels: padded with unused ones.
  const auto tiny = FindCandidates(torch::ones({1, 1, 1, 2}) * torch::tensor({1.0f, 2.0f}), 4);
  CHECK(tiny.where.sizes() == torch::IntArrayRef({1, 4, 3}));
  CHECK(tiny.valid[0].equal(torch::tensor({true, false, false, false})));  // 1 is beside 2: no maximum
}

TEST_CASE("nodule candidates: patches centred on the site in the lung window, air outside the volume") {
  // Input grid 4 x 8 x 8, the response grid pooled 1 x 2 x 2.
  auto hu = torch::full({1, 1, 4, 8, 8}, -1000.0f);
  hu[0][0][2][5][3] = 400;  // response voxel (2, 2, 1) is input (2, 4-5, 2-3); its centre (2, 5, 3)
  const auto where = torch::tensor({2, 2, 1, 0, 0, 0}, torch::kLong).view({1, 2, 3});
  const auto centres = CandidateCentres(where, {1, 2, 2});
  CHECK(torch::equal(centres, torch::tensor({2, 5, 3, 0, 1, 1}, torch::kLong).view({1, 2, 3})));
  const auto p = CandidatePatches(hu, centres, {1, 2, 2});
  REQUIRE(p.sizes() == torch::IntArrayRef({2, 1, 3, 5, 5}));
  CHECK(p[0][0][1][2][2].item<float>() == doctest::Approx(1));  // 400 HU: the window's top
  CHECK(p[0].sum().item<float>() == doctest::Approx(1));         // the rest is air
  CHECK(p[1].abs().max().item<float>() == 0);                    // the corner: air and padding
  hu.fill_(40);
  const auto soft = CandidatePatches(hu, centres, {1, 2, 2});
  CHECK(soft[0].min().item<float>() == doctest::Approx(1040.0 / 1400));
  CHECK(soft[1][0][0][0][0].item<float>() == 0);  // outside the volume
  CHECK(soft[1][0][1][2][2].item<float>() == doctest::Approx(1040.0 / 1400));
  CHECK(CandidateHalfSize(14, {1.5, 0.75, 0.75}) == std::array<int64_t, 3>{5, 9, 9});
  CHECK(CandidateHalfSize(14, {12, 6, 6}) == std::array<int64_t, 3>{1, 1, 1});
}

TEST_CASE("nodule candidates: targets are the lesion within one filter voxel, shifted as the volume was") {
  const std::array<int64_t, 3> input{4, 8, 8}, f{1, 2, 2};
  const auto index = [&](int64_t z, int64_t y, int64_t x) { return static_cast<uint32_t>((z * 8 + y) * 8 + x); };
  // Two voxels of one lesion in response cell (1, 1, 1), fractions 1 and 0.5.
  const std::vector<uint32_t> voxels{index(1, 2, 2), index(1, 3, 3)};
  const std::vector<float> fractions{1, 0.5f};
  std::vector<float> cells(4 * 4 * 4, 0.0f);
  AddLesionCells(voxels, fractions, input, {0, 0}, f, cells.data());
  CHECK(cells[(1 * 4 + 1) * 4 + 1] == doctest::Approx(1.5 / 4));
  // Shifted by (+2, -2) input voxels: one cell down in y, one left in x.
  std::vector<float> shifted(cells.size(), 0.0f);
  AddLesionCells(voxels, fractions, input, {2, -2}, f, shifted.data());
  CHECK(shifted[(1 * 4 + 2) * 4 + 0] == doctest::Approx(1.5 / 4));
  // Shifted out of the volume: dropped.
  std::vector<float> out(cells.size(), 0.0f);
  AddLesionCells(voxels, fractions, input, {0, -4}, f, out.data());
  CHECK(std::accumulate(out.begin(), out.end(), 0.0f) == 0);
  const auto t = CandidateTargets(torch::from_blob(cells.data(), {1, 4, 4, 4}).clone(),
                                  torch::tensor({1, 1, 1, 2, 2, 2, 1, 3, 3}, torch::kLong).view({1, 3, 3}));
  CHECK(t[0][0].item<float>() == doctest::Approx(0.375));  // on it
  CHECK(t[0][1].item<float>() == doctest::Approx(0.375));  // next to it
  CHECK(t[0][2].item<float>() == 0);                        // two cells away
}

TEST_CASE("nodule candidates: in lung with a vessel and a nodule of the same HU, the nodule is the first") {
  // 1.5 x 0.75 x 0.75 mm like the shipped grid; lung at -850 HU, a vessel
  // (radius 1.5 mm, 40 HU) along z and a nodule (radius 2.5 mm, 45 HU)
  // beside it: a ball and a tube that no threshold tells apart.
  constexpr int64_t kZ = 32, kY = 64, kX = 64;
  const std::array<double, 3> h{1.5, 0.75, 0.75};
  auto hu = torch::full({1, 1, kZ, kY, kX}, -850.0f);
  auto a = hu.accessor<float, 5>();
  for (int64_t z = 0; z < kZ; ++z) {
    for (int64_t y = 0; y < kY; ++y) {
      for (int64_t x = 0; x < kX; ++x) {
        const double pz = static_cast<double>(z) * h[0], py = static_cast<double>(y) * h[1],
                     px = static_cast<double>(x) * h[2];
        if ((py - 24) * (py - 24) + (px - 14) * (px - 14) < 1.5 * 1.5) a[0][0][z][y][x] = 40;
        if ((pz - 24) * (pz - 24) + (py - 24) * (py - 24) + (px - 32) * (px - 32) < 2.5 * 2.5) a[0][0][z][y][x] = 45;
      }
    }
  }
  const auto r = BlobResponse(hu, h, {1.5});
  const auto s = FindCandidates(r.select(1, 0), 8);
  REQUIRE(s.valid[0][0].item<bool>());
  // Response grid 1.5 mm: the nodule's centre is (16, 16, 21.3).
  const auto first = s.where[0][0];
  MESSAGE("first candidate " << first << " response " << s.response[0][0].item<float>());
  CHECK(std::abs(first[0].item<int64_t>() - 16) <= 1);
  CHECK(std::abs(first[1].item<int64_t>() - 16) <= 1);
  CHECK(std::abs(first[2].item<int64_t>() - 21) <= 1);
}

ModelManifest WithCandidates(int64_t count = 4) {
  ModelManifest m = test::WindowedTiny();
  m.architecture.peaks = {0};
  m.architecture.readout = true;
  m.architecture.blobs = {8};
  m.architecture.candidates.count = count;
  return m;
}

TEST_CASE("candidates: need blobs and a nodule disease, counts and sizes in range -- manifest, id and flops carry them") {
  const ModelManifest cm = WithCandidates(), bm = WithCandidates(0);
  CHECK(ValidateManifest(cm).ok());
  CHECK(ValidateManifest(bm).ok());
  ModelManifest no_blobs = cm, no_nodule = cm, many = WithCandidates(1000), wide = cm, narrow = cm;
  no_blobs.architecture.blobs.clear();
  no_nodule.diseases = {"Emphysema"};
  wide.architecture.candidates.channels = 100;
  narrow.architecture.candidates.patch_mm = 1;
  for (const auto& [m, why] : {std::pair{no_blobs, "blobs"}, std::pair{no_nodule, "Lung nodule"},
                               std::pair{many, "[1, 256]"}, std::pair{wide, "[1, 64]"}, std::pair{narrow, "[4, 40]"}}) {
    const Status s = ValidateManifest(m);
    CHECK(s.IsInvalidArgument());
    CHECK_MESSAGE(s.message().find("architecture.candidates") != std::string::npos, s.ToString());
    CHECK_MESSAGE(s.message().find(why) != std::string::npos, s.ToString());
  }
  CHECK(ManifestToJson(bm).find("candidates") == std::string::npos);
  ModelManifest custom = cm;
  custom.architecture.candidates = {12, 6, 10};
  auto back = ParseManifest(ManifestToJson(custom));
  REQUIRE(back.ok());
  CHECK(back->architecture.candidates.count == 12);
  CHECK(back->architecture.candidates.channels == 6);
  CHECK(back->architecture.candidates.patch_mm == 10);
  CHECK(ManifestToJson(*back) == ManifestToJson(custom));
  auto bad = ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8,"architecture":{"candidates":{"channels":4}}})");
  REQUIRE(!bad.ok());
  CHECK(bad.status().message().find("architecture.candidates") != std::string::npos);
  CHECK(ManifestFingerprint(cm) != ManifestFingerprint(bm));
  CHECK(ManifestFingerprint(cm) != ManifestFingerprint(custom));
  CHECK(CandidateFlops(bm) == 0);
  CHECK(CandidateFlops(cm) > 0);
  CHECK(ImageFlops(cm) == doctest::Approx(ImageFlops(bm) + CandidateFlops(cm)));
  // The shipped grid's patch, 11 x 19 x 19 at 8 channels: ~11 MFLOP each.
  CHECK(CandidateNetFlops(8, {11, 19, 19}) == doctest::Approx(11.4e6).epsilon(0.05));
}

TEST_CASE("candidates: added to a trained readout they change nothing until trained -- a logit per site") {
  torch::manual_seed(9);
  const ModelManifest bm = WithCandidates(0), cm = WithCandidates(4);
  ClipModel bl(bm, 50), cd(cm, 50);
  test::AsTrained(bl);
  REQUIRE(CopyShared(bl, cd).ok());
  bl->eval();
  cd->eval();
  const auto& size = cm.preprocess.size;  // (x, y, z)
  const auto value = [&](double hu) { return (hu - cm.preprocess.offset) / cm.preprocess.divisor; };
  auto x = torch::full({2, 1, size[2], size[1], size[0]}, static_cast<float>(value(-850)));
  x[0][0][8][16][16] = static_cast<float>(value(40));
  x[0][0][8][16][17] = static_cast<float>(value(40));
  torch::NoGradGuard ng;
  const auto a = bl->image->forward(x), b = cd->image->forward(x);
  CHECK(MaxDiff(a.global, b.global) == 0);
  CHECK(MaxDiff(a.diseases, b.diseases) == 0);
  CHECK(MaxDiff(a.evidence, b.evidence) == 0);
  CHECK(!a.candidate_logits.defined());
  REQUIRE(b.candidate_logits.defined());
  CHECK(b.candidate_logits.sizes() == torch::IntArrayRef({2, 4}));
  CHECK(b.candidate_sites.sizes() == torch::IntArrayRef({2, 4, 3}));
  CHECK(b.candidate_valid.sizes() == torch::IntArrayRef({2, 4}));
  CHECK(b.candidate_valid[0][0].item<bool>());
  CHECK(!b.candidate_valid[1].any().item<bool>());  // flat lung: no maximum
  for (const char* name : {"image.candidate_w", "image.candidate_net.head.weight", "image.candidate_net.features.0.weight"}) {
    CHECK_MESSAGE(IsEvidenceParameter(name), name);
  }
  // A model with candidates read without them: refused by name.
  const Status s = CopyShared(cd, bl);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.message().find("image.candidate") != std::string::npos);
}

// The parameters and buffers of `model` by name, copied.
std::map<std::string, torch::Tensor> Snapshot(ClipModel& model) {
  std::map<std::string, torch::Tensor> out;
  for (auto& p : model->named_parameters()) out[p.key()] = p.value().detach().clone();
  for (auto& b : model->named_buffers()) out[b.key()] = b.value().detach().clone();
  return out;
}

TEST_CASE("training: the candidates loss trains on the lesion maps -- the evidence path alone moves nothing else") {
  test::TrainData d;
  d.m = WithCandidates(0);
  TrainOptions plain = d.Options("plain", 1);
  REQUIRE(Train(d.set, plain).ok());

  TrainOptions o = d.Options("cand", 3);
  o.manifest = WithCandidates(6);
  o.init_weights = plain.out + "/weights.pt";
  o.init_manifest = d.m;
  o.only_evidence = true;
  std::vector<double> losses;
  o.progress = [&](const TrainOptions::Progress& p) {
    if (p.losses.count("candidates")) losses.push_back(p.losses.at("candidates"));
  };
  auto r = Train(d.set, o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(!losses.empty());
  for (double l : losses) CHECK(std::isfinite(l));

  ClipModel before(d.m, static_cast<int64_t>(d.vocab.size())), after(o.manifest, static_cast<int64_t>(d.vocab.size()));
  torch::load(before, plain.out + "/weights.pt");
  torch::load(after, o.out + "/weights.pt");
  const auto was = Snapshot(before), is = Snapshot(after);
  int same = 0, moved = 0;
  for (const auto& [name, t] : is) {
    const bool evidence = IsEvidenceParameter(name) || name.rfind("image.candidate_norm.", 0) == 0 ||
                          name.rfind("image.readout_norm.", 0) == 0 || name.rfind("image.blob_norm.", 0) == 0 ||
                          name.rfind("image.candidate_net.", 0) == 0;
    auto it = was.find(name);
    if (it == was.end()) {
      CHECK_MESSAGE(name.rfind("image.candidate", 0) == 0, name);  // only the candidates are new
      continue;
    }
    if (evidence) {
      moved += MaxDiff(it->second.to(torch::kDouble), t.to(torch::kDouble)) > 0;
    } else {
      CHECK_MESSAGE(it->second.equal(t), name);  // weights and running statistics alike
      ++same;
    }
  }
  MESSAGE(same << " tensors kept, " << moved << " of the evidence path moved");
  CHECK(same > 20);
  CHECK(moved >= 3);

  // Without lesion maps the candidates loss is refused, not skipped; --no-candidates trains without.
  TrainingSet bare = d.set;
  for (auto& s : bare.studies) s.lesion_map = false;
  TrainOptions again = d.Options("bare", 1);
  again.manifest = o.manifest;
  Status s = Train(bare, again).status();
  CHECK(s.IsInvalidArgument());
  CHECK(s.message().find("lesion maps") != std::string::npos);
  again.objectives.candidates = false;
  auto without = Train(bare, again);
  REQUIRE_MESSAGE(without.ok(), without.status().ToString());
  CHECK(!without->final_losses.count("candidates"));
  // The evidence path alone needs one.
  TrainOptions no_readout = d.Options("no_readout", 1);
  no_readout.manifest = test::WindowedTiny();
  no_readout.only_evidence = true;
  s = Train(d.set, no_readout).status();
  CHECK(s.IsInvalidArgument());
  CHECK(s.message().find("readout") != std::string::npos);
}

TEST_CASE("training data: the lesion map's nodule voxels on the model grid, for nodule studies only") {
  test::TrainData d;
  // Averaged onto the tiny grid (6 mm voxels), not sampled: a few-mm nodule
  // falls between linear samples.
  d.m.preprocess.resample = Resample::kAntialias;
  auto loaded = LoadTrainingSet(d.dir.Sub("data"), "train", 0, d.m, 2);
  REQUIRE_MESSAGE(loaded.ok(), loaded.status().ToString());
  d.set = std::move(loaded).value();
  int with_map = 0, nodules = 0, with_voxels = 0;
  const auto k = static_cast<size_t>(
      std::find(d.m.diseases.begin(), d.m.diseases.end(), kCandidateDisease) - d.m.diseases.begin());
  REQUIRE(k < d.m.diseases.size());
  const size_t voxels = static_cast<size_t>(d.m.preprocess.size[0] * d.m.preprocess.size[1] * d.m.preprocess.size[2]);
  for (const auto& st : d.set.studies) {
    with_map += st.lesion_map;
    nodules += st.labels[k];
    with_voxels += !st.candidate_voxels.empty();
    CHECK(st.candidate_voxels.size() == st.candidate_fractions.size());
    if (!st.labels[k]) CHECK(st.candidate_voxels.empty());
    for (size_t i = 0; i < st.candidate_voxels.size(); ++i) {
      CHECK(st.candidate_voxels[i] < voxels);
      CHECK(st.candidate_fractions[i] > 0);
      CHECK(st.candidate_fractions[i] <= 1.0001f);
    }
  }
  MESSAGE(with_map << " maps, " << nodules << " nodule studies, " << with_voxels << " with nodule voxels");
  CHECK(with_map == static_cast<int>(d.set.studies.size()));
  CHECK(nodules > 0);
  CHECK(with_voxels > 0);
}

}  // namespace
}  // namespace ctdb::embed
