// Encoders: the native model (shapes, normalization, slabs, determinism,
// thread safety, bad weights) and TorchScript modules the test builds
// itself with torch::jit.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include <malloc.h>

#include <cmath>
#include <filesystem>
#include <thread>

#include "api/src/model_builder.h"
#include "embed/encoder.h"
#include "embed/native_model.h"
#include "embed/tokenizer.h"
#include "embed/torch_util.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace ctdb::embed {
namespace {

double Norm(const std::vector<float>& v) {
  double s = 0;
  for (float x : v) s += static_cast<double>(x) * x;
  return std::sqrt(s);
}

Tensor3 SynthInput(const ModelManifest& m, int index) {
  synth::SynthOptions o;
  o.inplane = 64;
  auto study = synth::MakeStudy(5, index, 8, o);
  auto t = Preprocess(study.volume, m.preprocess);
  REQUIRE(t.ok());
  return std::move(t).value();
}

std::string TinyModel(const test::TempDir& dir, uint64_t seed = 1) {
  return test::MakeTinyModel(dir.Sub("model" + std::to_string(seed)), seed);
}

std::unique_ptr<Encoder> Load(const std::string& path, ModelManifest m = NewModelSpec::TinyManifest()) {
  auto e = LoadEncoder(path, m, {});
  REQUIRE_MESSAGE(e.ok(), e.status().ToString());
  return std::move(e).value();
}

TEST_CASE("native encoder: normalized global, slab and disease features with slab z in mm") {
  test::TempDir dir;
  const ModelManifest m = NewModelSpec::TinyManifest();
  auto enc = Load(TinyModel(dir), m);
  const Tensor3 in = SynthInput(m, 0);
  auto out = enc->EncodeVolumes({&in});
  REQUIRE(out.ok());
  const VolumeEncoding& e = (*out)[0];
  CHECK(e.global.size() == 32);
  CHECK(Norm(e.global) == doctest::Approx(1).epsilon(1e-5));
  REQUIRE(e.diseases.size() == m.diseases.size());
  for (const auto& d : e.diseases) CHECK(Norm(d) == doctest::Approx(1).epsilon(1e-5));
  // 16 model slices of 12 mm, 2 per slab: 8 slabs of 24 mm, minus those wholly outside the scan.
  const int64_t per = SlabSlices(m);
  CHECK(per == 2);
  REQUIRE(!e.slabs.empty());
  CHECK(e.slabs.size() <= 8);
  float lo = 1e9, hi = -1e9;
  for (size_t k = 0; k < in.slice_z_mm.size(); ++k) {
    if (in.slice_inside[k]) lo = std::min(lo, in.slice_z_mm[k]), hi = std::max(hi, in.slice_z_mm[k]);
  }
  for (size_t s = 0; s < e.slabs.size(); ++s) {
    CHECK(Norm(e.slabs[s].vector) == doctest::Approx(1).epsilon(1e-5));
    CHECK(e.slabs[s].z_mm > lo - 24);
    CHECK(e.slabs[s].z_mm < hi + 24);
    if (s) CHECK(e.slabs[s].z_mm - e.slabs[s - 1].z_mm == doctest::Approx(m.slab_mm).epsilon(1e-4));
  }
  auto texts = enc->EncodeTexts({"Right pleural effusion.", "", "cardiomegaly"});
  REQUIRE(texts.ok());
  REQUIRE(texts->size() == 3);
  for (const auto& t : *texts) CHECK(Norm(t) == doctest::Approx(1).epsilon(1e-5));
  CHECK((*texts)[0] != (*texts)[2]);
}

TEST_CASE("native encoder: identical bits across loads and calls -- seeds and inputs matter") {
  test::TempDir dir;
  const ModelManifest m = NewModelSpec::TinyManifest();
  const std::string path = TinyModel(dir);
  auto a = Load(path), b = Load(path);
  CHECK(a->id() == b->id());
  CHECK(a->id().rfind("ctdb-tiny@1#", 0) == 0);
  const Tensor3 in0 = SynthInput(m, 0), in1 = SynthInput(m, 1);
  auto ea = a->EncodeVolumes({&in0, &in1});
  auto eb = b->EncodeVolumes({&in0});
  auto ea2 = a->EncodeVolumes({&in0});
  REQUIRE((ea.ok() && eb.ok() && ea2.ok()));
  CHECK((*ea)[0].global == (*eb)[0].global);  // bit-identical, whatever the batch
  CHECK((*ea)[0].global == (*ea2)[0].global);
  CHECK((*ea)[0].diseases == (*eb)[0].diseases);
  CHECK((*ea)[1].global != (*ea)[0].global);
  // A text's embedding does not depend on its neighbours.
  auto t1 = a->EncodeTexts({"mild emphysema"});
  auto t2 = b->EncodeTexts({"a much longer sentence about the pleural space and the heart", "mild emphysema"});
  REQUIRE((t1.ok() && t2.ok()));
  CHECK((*t1)[0] == (*t2)[1]);
  // Another seed: other weights, other id.
  auto c = Load(TinyModel(dir, 2));
  CHECK(c->id() != a->id());
  auto ec = c->EncodeVolumes({&in0});
  REQUIRE(ec.ok());
  CHECK((*ec)[0].global != (*ea)[0].global);
}

TEST_CASE("native encoder: concurrent callers get the sequential results") {
  test::TempDir dir;
  const ModelManifest m = NewModelSpec::TinyManifest();
  auto enc = Load(TinyModel(dir), m);
  std::vector<Tensor3> ins;
  for (int i = 0; i < 4; ++i) ins.push_back(SynthInput(m, i));
  std::vector<std::vector<float>> want, want_text;
  for (const auto& in : ins) want.push_back((*enc->EncodeVolumes({&in}))[0].global);
  const std::vector<std::string> texts = {"no effusion", "right lower lobe nodule", "cardiomegaly", "emphysema"};
  for (const auto& t : texts) want_text.push_back((*enc->EncodeTexts({t}))[0]);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int rep = 0; rep < 3; ++rep) {
        const int i = (t + rep) % 4;
        auto v = enc->EncodeVolumes({&ins[static_cast<size_t>(i)]});
        auto x = enc->EncodeTexts({texts[static_cast<size_t>(i)]});
        if (!v.ok() || !x.ok() || (*v)[0].global != want[static_cast<size_t>(i)] ||
            (*x)[0] != want_text[static_cast<size_t>(i)]) {
          ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(mismatches.load() == 0);
}

TEST_CASE("native encoder: bad inputs, weights and manifests are refused with reasons") {
  test::TempDir dir;
  const ModelManifest m = NewModelSpec::TinyManifest();
  const std::string path = TinyModel(dir);
  auto enc = Load(path, m);
  Tensor3 wrong = SynthInput(m, 0);
  wrong.shape[2] = 8;
  wrong.data.resize(32 * 32 * 8);
  CHECK(enc->EncodeVolumes({&wrong}).status().IsInvalidArgument());

  // Weights of another architecture.
  ModelManifest wider = m;
  wider.architecture.text_width = 64;
  wider.architecture.text_ffn = 128;
  auto s = LoadEncoder(path, wider, {});
  CHECK(s.status().IsCorruption());
  CHECK(s.status().message().find("architecture") != std::string::npos);
  // Damaged weights.
  std::string bytes = test::ReadFileBytes(path + "/weights.pt");
  test::WriteFileBytes(path + "/weights.pt", bytes.substr(0, bytes.size() / 2));
  CHECK(LoadEncoder(path, m, {}).status().IsCorruption());
  std::filesystem::remove(path + "/weights.pt");
  CHECK(LoadEncoder(path, m, {}).status().IsNotFound());
  std::filesystem::remove(path + "/vocab.txt");
  CHECK(LoadEncoder(path, m, {}).status().IsNotFound());

  // Manifests the architecture cannot honour.
  ModelManifest bad = m;
  bad.slab_mm = 12;
  CHECK(ValidateManifest(bad).message().find("slab_mm") != std::string::npos);
  bad = m;
  bad.preprocess.size = {30, 32, 16};
  CHECK(ValidateManifest(bad).message().find("size") != std::string::npos);
  bad = m;
  bad.architecture.heads = 3;
  CHECK(ValidateManifest(bad).IsInvalidArgument());
  bad = m;
  bad.format = "onnx";
  CHECK(ValidateManifest(bad).message().find("format") != std::string::npos);
}

TEST_CASE("native model: the stem sees one clamped channel per HU window, as each window's own map") {
  ModelManifest m = NewModelSpec::TinyManifest();
  m.architecture.windows = {{-1000, -400}, {-200, 200}, {150, 1000}};
  ClipModel model(m, 64);
  // HU -1100..1100 in CT-CLIP's scaling (HU / 1000), on 2 volumes.
  const auto hu = torch::linspace(-1100, 1100, 2 * 4 * 5 * 6).view({2, 1, 4, 5, 6});
  const auto x = (hu - m.preprocess.offset) / m.preprocess.divisor;
  const auto got = model->image->StemInput(x);
  REQUIRE(got.sizes() == torch::IntArrayRef({2, 3, 4, 5, 6}));
  for (size_t w = 0; w < m.architecture.windows.size(); ++w) {
    const double lo = m.architecture.windows[w][0], hi = m.architecture.windows[w][1], span = hi - lo;
    // The per-window scalar arithmetic the model computed before it did all
    // windows in one pass: the same float operations, so equal bits.
    const double scale = 2.0 * m.preprocess.divisor / span;
    const double shift = 2.0 * (m.preprocess.offset - lo) / span - 1.0;
    const auto want = (x * scale + shift).clamp(-1, 1);
    CHECK(torch::equal(got.select(1, static_cast<int64_t>(w)).unsqueeze(1), want));
    // And what it means: lo -> -1, hi -> +1, linear between, clamped outside.
    const auto expect = ((hu - lo) * (2.0 / span) - 1.0).clamp(-1, 1);
    CHECK((got.select(1, static_cast<int64_t>(w)).unsqueeze(1) - expect).abs().max().item<double>() < 1e-5);
  }
  // No windows: the scaled HU as they are.
  CHECK(torch::equal(ClipModel(NewModelSpec::TinyManifest(), 64)->image->StemInput(x), x));
}

TEST_CASE("native model: FLOPs per volume counted by layer") {
  const ModelManifest m = NewModelSpec::TinyManifest();
  // Stem by hand: conv 3x3x3 1->8 onto 8x16x16, conv 1x4x4 8->32 onto 8x4x4 (128 tokens).
  const double stem = 2.0 * 1 * 8 * 27 * (8 * 16 * 16) + 2.0 * 8 * 32 * 16 * 128;
  // One layer over 128 tokens of width 32, ffn 64: projections, attention, feed-forward.
  const double layer = 2.0 * 128 * 32 * 32 * 4 + 2.0 * 128 * 128 * 32 * 2 + 2.0 * 128 * 32 * 64 * 2;
  const double pool = 2.0 * 128 * 32 * 32 * 2 + 2.0 * 128 * 32 * 2 + 2.0 * 32 * 32 * 2;
  const double dis = 2.0 * 128 * 32 * 32 * 2 + 2.0 * 18 * 128 * 32 * 2 + 2.0 * 18 * 32 * 32 * 2;
  const double proj = 2.0 * 32 * 32 * (1 + 8 + 18);
  CHECK(ImageFlops(m) == doctest::Approx(stem + layer + pool + dis + proj));
  // The default layout stays under the 1 GFLOP budget of DESIGN.md.
  CHECK(ImageFlops(NewModelSpec::DefaultManifest()) < 1e9);
  // The training layout trades the budget for a stem that learns: valid,
  // 16 x 6 x 6 tokens, 12 mm slabs like the default, 1.5-2 GFLOP.
  const ModelManifest t = NewModelSpec::TrainingManifest();
  CHECK(ValidateManifest(t).ok());
  CHECK(TokenGrid(t) == std::array<int64_t, 3>{16, 6, 6});
  CHECK(SlabSlices(t) * t.preprocess.spacing_mm[2] == doctest::Approx(t.slab_mm));
  CHECK(ImageFlops(t) > 1.5e9);
  CHECK(ImageFlops(t) < 2e9);
  CHECK(t.architecture.stem_pool);
  CHECK(!NewModelSpec::DefaultManifest().architecture.stem_pool);
}

TEST_CASE("retained memory: a freed 256 MiB tensor stays in the heap for the next one") {
#if defined(__GLIBC__)
  REQUIRE(RetainFreedMemory());
  const size_t bytes = size_t{256} << 20;
  const struct mallinfo2 start = mallinfo2();
  {
    torch::Tensor t = torch::full({static_cast<int64_t>(bytes / sizeof(float))}, 2.0f);
    CHECK(t[-1].item<float>() == 2.0f);
    // Carved from the heap, not mapped on its own (hblkhd: mapped blocks).
    CHECK(mallinfo2().hblkhd < start.hblkhd + bytes);
    CHECK(mallinfo2().arena >= start.arena + bytes);
  }
  // Freed, it is kept (fordblks: free bytes the heap holds), not unmapped:
  // the next step's tensors reuse its pages instead of faulting in and
  // zeroing fresh ones (65,536 of 4 KiB here).
  CHECK(mallinfo2().fordblks >= start.fordblks + bytes);
  CHECK(mallinfo2().arena >= start.arena + bytes);
#else
  CHECK(!RetainFreedMemory());
#endif
}

TEST_CASE("native model: texts grouped by length embed as one padded batch does") {
  std::vector<std::string> vocab = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "no", "pleural", "effusion", "right",
                                    "left", "lung", "nodule", "in", "the", "lobe", "."};
  auto tok = WordPiece::FromTokens(vocab, {});
  REQUIRE(tok.ok());
  // Two long reports among many short phrases, as in a training batch.
  std::string report;
  for (int i = 0; i < 12; ++i) report += "no pleural effusion . right lung nodule in the left lobe . ";
  std::vector<std::string> texts = {report, "no effusion .", "nodule .", report + "lung .", "pleural effusion ."};
  for (int i = 0; i < 30; ++i) texts.push_back(i % 2 ? "no nodule ." : "right pleural effusion in the lobe .");
  ModelManifest m = NewModelSpec::TinyManifest();
  m.max_tokens = 128;
  const int max_tokens = static_cast<int>(m.max_tokens);

  TokenGroups g = TokenizeByLength(**tok, texts, max_tokens, 16);
  TokenBatch one = TokenizeBatch(**tok, texts, max_tokens);
  REQUIRE(g.order.size() == texts.size());
  std::vector<int64_t> seen(texts.size(), 0);
  int64_t rows = 0, padded = 0;
  for (const auto& b : g.batches) {
    for (int64_t r = 0; r < b.ids.size(0); ++r, ++rows) {
      const auto i = g.order[static_cast<size_t>(rows)];
      ++seen[static_cast<size_t>(i)];
      // Same tokens as in the one batch, padded only to the group's longest.
      const int64_t len = one.lengths[static_cast<size_t>(i)];
      CHECK(b.lengths[static_cast<size_t>(r)] == len);
      CHECK(torch::equal(b.ids[r].slice(0, 0, len), one.ids[i].slice(0, 0, len)));
    }
    padded += b.ids.numel();
  }
  CHECK(rows == static_cast<int64_t>(texts.size()));
  CHECK(std::all_of(seen.begin(), seen.end(), [](int64_t c) { return c == 1; }));
  CHECK(g.batches.size() >= 2);
  CHECK(padded * 3 < one.ids.numel());  // the phrases no longer pad to the reports
  // One group when a call costs more than all the padding.
  CHECK(TokenizeByLength(**tok, texts, max_tokens, 1 << 20).batches.size() == 1);
  CHECK(TokenizeByLength(**tok, {}, max_tokens).batches.empty());

  // Pooled per group, joined, then the head: the one batch's embeddings, in
  // training mode too (the batch norm sees the same rows).
  torch::manual_seed(4);
  TextEncoder text(m, static_cast<int64_t>(vocab.size()));
  for (bool training : {true, false}) {
    text->train(training);
    auto want = text->forward(one.ids, one.mask);
    auto got = text->forward(g, torch::kCPU);
    CHECK(got.sizes() == want.sizes());
    CHECK(torch::allclose(got, want, 1e-4, 1e-5));
  }
}

// --- TorchScript ------------------------------------------------------

constexpr int64_t kD = 16;

void WriteTorchScriptModel(const std::string& dir, const std::string& image_src, ModelManifest* m) {
  std::filesystem::create_directories(dir);
  torch::manual_seed(3);
  torch::jit::Module image("Image");
  image.register_parameter("w", torch::randn({kD}), false);
  image.register_parameter("dq", torch::randn({2, kD}), false);
  image.define(image_src);
  image.save(dir + "/image.pt");
  torch::jit::Module text("Text");
  text.register_parameter("table", torch::randn({8, kD}), false);
  text.define(R"(
def forward(self, ids, mask):
    e = self.table.index_select(0, ids.flatten()).view(ids.size(0), ids.size(1), -1)
    m = mask.unsqueeze(-1).to(e.dtype)
    return (e * m).sum(1) / m.sum(1)
)");
  text.save(dir + "/text.pt");
  test::WriteFileBytes(dir + "/vocab.txt", "[PAD]\n[UNK]\n[CLS]\n[SEP]\nno\neffusion\npleural\n##s\n");
  m->format = "torchscript";
  m->name = "ts-test";
  m->version = "0";
  m->dimension = kD;
  m->preprocess.size = {16, 16, 8};
  m->preprocess.spacing_mm = {10, 10, 20};
  m->slab_mm = 40;
  m->diseases = {"Pleural effusion", "Cardiomegaly"};
}

const char kFullImage[] = R"(
def forward(self, x):
    b = x.size(0)
    g = x.flatten(1)[:, 0:16] + 0.5
    z = x.mean(dim=[1, 3, 4]).view(b, 4, 2).mean(-1)
    s = z.unsqueeze(-1) * self.w + 1.0
    d = self.dq.unsqueeze(0).repeat(b, 1, 1) + g.unsqueeze(1)
    return (g, s, d)
)";

TEST_CASE("torchscript encoder: modules trained elsewhere, normalized, with slabs and diseases") {
  test::TempDir dir;
  ModelManifest m;
  WriteTorchScriptModel(dir.Sub("ts"), kFullImage, &m);
  REQUIRE(ValidateManifest(m).ok());
  auto enc = Load(dir.Sub("ts"), m);
  CHECK(enc->id().rfind("ts-test@0#", 0) == 0);
  const Tensor3 in = SynthInput(m, 0);
  auto out = enc->EncodeVolumes({&in});
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  const auto& e = (*out)[0];
  CHECK(Norm(e.global) == doctest::Approx(1).epsilon(1e-5));
  CHECK(e.diseases.size() == 2);
  CHECK(!e.slabs.empty());
  CHECK(e.slabs.size() <= 4);
  for (const auto& s : e.slabs) CHECK(Norm(s.vector) == doctest::Approx(1).epsilon(1e-5));
  auto t = enc->EncodeTexts({"No pleural effusions", "effusion"});
  REQUIRE(t.ok());
  CHECK(Norm((*t)[0]) == doctest::Approx(1).epsilon(1e-5));
  CHECK((*t)[0] != (*t)[1]);
  CHECK(enc->VolumeFlops() == 0);  // unknown for foreign modules
}

TEST_CASE("torchscript encoder: global-only and dict outputs -- wrong shapes named") {
  test::TempDir dir;
  ModelManifest m;
  WriteTorchScriptModel(dir.Sub("g"), "def forward(self, x):\n    return x.flatten(1)[:, 0:16] + 0.5\n", &m);
  const Tensor3 in = SynthInput(m, 0);
  auto out = Load(dir.Sub("g"), m)->EncodeVolumes({&in});
  REQUIRE(out.ok());
  CHECK((*out)[0].slabs.empty());
  // Input the manifest does not describe is refused before any copy.
  Tensor3 short_data = in;
  short_data.data.resize(10);
  CHECK(Load(dir.Sub("g"), m)->EncodeVolumes({&short_data}).status().IsInvalidArgument());
  Tensor3 other_spacing = in;
  other_spacing.spacing_mm[2] = 5;
  CHECK(Load(dir.Sub("g"), m)->EncodeVolumes({&other_spacing}).status().IsInvalidArgument());
  CHECK((*out)[0].diseases.empty());

  WriteTorchScriptModel(dir.Sub("d"), R"(
def forward(self, x):
    g = x.flatten(1)[:, 0:16] + 0.5
    return {"global": g, "slabs": g.unsqueeze(1).repeat(1, 8, 1)}
)",
                        &m);
  out = Load(dir.Sub("d"), m)->EncodeVolumes({&in});
  REQUIRE_MESSAGE(out.ok(), out.status().ToString());
  CHECK(!(*out)[0].slabs.empty());

  WriteTorchScriptModel(dir.Sub("w"), "def forward(self, x):\n    return x.flatten(1)[:, 0:15]\n", &m);
  auto bad = Load(dir.Sub("w"), m)->EncodeVolumes({&in});
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("[1, 15]") != std::string::npos);

  WriteTorchScriptModel(dir.Sub("s"), R"(
def forward(self, x):
    g = x.flatten(1)[:, 0:16] + 0.5
    return (g, g.unsqueeze(1).repeat(1, 3, 1))
)",
                        &m);
  bad = Load(dir.Sub("s"), m)->EncodeVolumes({&in});
  CHECK(bad.status().message().find("dividing 8") != std::string::npos);

  // A module that throws at run time becomes a Status.
  WriteTorchScriptModel(dir.Sub("t"), "def forward(self, x):\n    return x.view(7, -1)\n", &m);
  CHECK(!Load(dir.Sub("t"), m)->EncodeVolumes({&in}).ok());
  // Not TorchScript at all.
  test::WriteFileBytes(dir.Sub("t") + "/image.pt", "not a zip");
  CHECK(LoadEncoder(dir.Sub("t"), m, {}).status().IsCorruption());
}

}  // namespace
}  // namespace ctdb::embed
