#include "embed/encoder.h"

#include <torch/serialize.h>

#include <algorithm>
#include <filesystem>

#include "embed/encoder_impl.h"
#include "embed/native_model.h"
#include "embed/nodule_candidates.h"
#include "embed/torch_util.h"
#include "embed/view_averaging.h"

namespace ctdb::embed {

Status ValidateManifest(const ModelManifest& m) {
  auto bad = [](const std::string& field, const std::string& why) {
    return Status::InvalidArgument("manifest " + field + ": " + why);
  };
  if (m.format != "native" && m.format != "torchscript") return bad("format", "must be \"native\" or \"torchscript\"");
  if (m.name.empty()) return bad("name", "must not be empty");
  if (m.dimension < 1 || m.dimension > 65536) return bad("dimension", "must be in [1, 65536]");
  if (m.orientation != "LPS") return bad("orientation", "only \"LPS\" is supported");
  for (int a = 0; a < 3; ++a) {
    if (!(m.preprocess.spacing_mm[a] > 0)) return bad("spacing_mm", "must be > 0");
    if (m.preprocess.size[a] < 1) return bad("size", "must be >= 1");
  }
  if (!(m.preprocess.hu_max > m.preprocess.hu_min)) return bad("hu_window", "empty");
  if (m.preprocess.divisor == 0) return bad("scale.divisor", "must not be 0");
  if (m.max_tokens < 2 || m.max_tokens > 4096) return bad("max_tokens", "must be in [2, 4096]");
  if (!(m.slab_mm > 0)) return bad("slab_mm", "must be > 0");
  for (const auto& d : m.diseases) {
    if (d.empty()) return bad("diseases", "a disease name is empty");
  }
  if (m.vocab.empty()) return bad("vocab", "must name the vocabulary file");
  if (m.format == "torchscript") {
    if (m.image_module.empty() || m.text_module.empty()) return bad("modules", "image_module and text_module are required");
    return Status::Ok();
  }
  const auto& a = m.architecture;
  if (a.stem.empty()) return bad("architecture.stem", "needs at least one stage");
  if (a.stem_norm != "group" && a.stem_norm != "batch" && a.stem_norm != "none") {
    return bad("architecture.stem_norm", "must be group, batch or none");
  }
  if (a.windows.size() > 8) return bad("architecture.windows", "at most 8 windows");
  for (const auto& w : a.windows) {
    if (!(w[0] < w[1])) return bad("architecture.windows", "each window needs lo < hi");
  }
  for (const auto& st : a.stem) {
    for (int d = 0; d < 3; ++d) {
      if (st.kernel[d] < 1 || st.stride[d] < 1) return bad("architecture.stem", "kernels and strides must be >= 1");
    }
    if (st.channels < 1) return bad("architecture.stem", "channels must be >= 1");
  }
  if (a.detect.stage < 0 || a.detect.stage >= static_cast<int64_t>(a.stem.size())) {
    return bad("architecture.detect.stage", "must name a stem stage before the last (1 to " +
                                                std::to_string(a.stem.size() - 1) + "), or be 0 for none");
  }
  if (a.detect.stage > 0 && (a.detect.channels < 1 || a.detect.channels > 1024)) {
    return bad("architecture.detect.channels", "must be in [1, 1024]");
  }
  if (a.detect.stage > 0 && !(a.detect.sharpness > 0 && a.detect.sharpness <= 100)) {
    return bad("architecture.detect.sharpness", "must be in (0, 100]");
  }
  for (size_t i = 0; i < a.peaks.size(); ++i) {
    if (a.peaks[i] < 0 || a.peaks[i] >= static_cast<int64_t>(a.stem.size())) {
      return bad("architecture.peaks", "each must name the input (0) or a stem stage before the last (1 to " +
                                           std::to_string(a.stem.size() - 1) + ")");
    }
    if (i > 0 && a.peaks[i] <= a.peaks[i - 1]) return bad("architecture.peaks", "must ascend, each stage once");
  }
  if (a.readout && a.peaks.empty()) return bad("architecture.readout", "reads the peak skips: give architecture.peaks too");
  if (a.readout && m.diseases.empty()) return bad("architecture.readout", "reads out diseases: the manifest lists none");
  if (a.readout && a.detect.stage > 0) {
    return bad("architecture.readout", "and architecture.detect both make the evidence score; choose one");
  }
  if (!a.blobs.empty() && !a.readout) return bad("architecture.blobs", "join the readout: give architecture.readout too");
  for (size_t i = 0; i < a.blobs.size(); ++i) {
    if (!(a.blobs[i] > 0 && a.blobs[i] <= 10)) return bad("architecture.blobs", "each scale must be in (0, 10] mm");
    if (i > 0 && a.blobs[i] <= a.blobs[i - 1]) return bad("architecture.blobs", "must ascend, each scale once");
  }
  if (a.blobs.size() > 8) return bad("architecture.blobs", "at most 8 scales");
  if (a.candidates.count != 0) {
    const auto& c = a.candidates;
    if (c.count < 1 || c.count > 256) return bad("architecture.candidates.count", "must be in [1, 256] (0 = none)");
    if (a.blobs.empty()) return bad("architecture.candidates", "are the blob filter's maxima: give architecture.blobs too");
    if (c.channels < 1 || c.channels > 64) return bad("architecture.candidates.channels", "must be in [1, 64]");
    if (!(c.patch_mm >= 4 && c.patch_mm <= 40)) return bad("architecture.candidates.patch_mm", "must be in [4, 40] mm");
    if (std::find(m.diseases.begin(), m.diseases.end(), kCandidateDisease) == m.diseases.end()) {
      return bad("architecture.candidates", std::string("score the disease '") + kCandidateDisease +
                                                "', which the manifest does not list");
    }
  }
  if (a.stem.back().channels != a.width) return bad("architecture.width", "must equal the last stem stage's channels");
  for (auto [name, w, h] : {std::tuple{"image", a.width, a.heads}, std::tuple{"text", a.text_width, a.text_heads}}) {
    if (w < 1 || h < 1 || w % h != 0) return bad(std::string("architecture.") + name, "width must be a multiple of heads");
  }
  if (a.layers < 0 || a.text_layers < 1 || a.ffn < 1 || a.text_ffn < 1) return bad("architecture", "bad layer sizes");
  // Slabs must tile the model grid exactly, so each has a well-defined z.
  int64_t stride[3] = {1, 1, 1};
  for (const auto& st : a.stem) {
    for (int d = 0; d < 3; ++d) stride[d] *= st.stride[d];
  }
  const int64_t sizes[3] = {m.preprocess.size[2], m.preprocess.size[1], m.preprocess.size[0]};
  const auto grid = TokenGrid(m);
  for (int d = 0; d < 3; ++d) {
    if (sizes[d] % stride[d] != 0 || grid[d] * stride[d] != sizes[d]) {
      return bad("size", "must be a multiple of the stem's total stride along each axis (" + std::to_string(stride[0]) +
                             ", " + std::to_string(stride[1]) + ", " + std::to_string(stride[2]) + " along z, y, x)");
    }
  }
  const double produced = static_cast<double>(stride[0]) * m.preprocess.spacing_mm[2];
  if (std::abs(produced - m.slab_mm) > 1e-6 * produced) {
    return bad("slab_mm", "the architecture makes slabs of " + std::to_string(produced) +
                              " mm (z stride x z spacing), not " + std::to_string(m.slab_mm));
  }
  return Status::Ok();
}

Status CheckEncoderInput(const Tensor3& v, const ModelManifest& m) {
  for (int a = 0; a < 3; ++a) {
    if (v.shape[a] != m.preprocess.size[a] || std::abs(v.spacing_mm[a] - m.preprocess.spacing_mm[a]) > 1e-6) {
      return Status::InvalidArgument("volume is not preprocessed for this model (shape or spacing differs)");
    }
  }
  if (v.data.size() != static_cast<size_t>(v.shape[0] * v.shape[1] * v.shape[2]) ||
      v.slice_z_mm.size() != static_cast<size_t>(v.shape[2])) {
    return Status::InvalidArgument("volume data does not match its shape");
  }
  return Status::Ok();
}

Result<std::unique_ptr<Encoder>> LoadEncoder(const std::string& dir, const ModelManifest& manifest,
                                             const EncoderRuntime& runtime) {
  Status s = ValidateManifest(manifest);
  if (!s.ok()) return s;
  if (runtime.threads < 0) return Status::InvalidArgument("encoder threads must be >= 0");
  ConfigureTorchThreads(runtime.threads);
  auto encoder = manifest.format == "native" ? LoadNativeEncoder(dir, manifest, runtime)
                                             : LoadTorchScriptEncoder(dir, manifest, runtime);
  if (!encoder.ok()) return encoder.status();
  return AverageViews(std::move(encoder).value(), runtime.views);
}

Status InitNativeModel(const std::string& dir, const ModelManifest& manifest, const std::vector<std::string>& vocab,
                       uint64_t seed) {
  Status s = ValidateManifest(manifest);
  if (!s.ok()) return s;
  if (manifest.format != "native") return Status::InvalidArgument("only native models can be initialized");
  auto tokenizer = WordPiece::FromTokens(vocab, manifest.tokenizer);
  if (!tokenizer.ok()) return tokenizer.status();
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir + ": " + ec.message());
  s = WriteVocab((std::filesystem::path(dir) / manifest.vocab).string(), vocab);
  if (!s.ok()) return s;
  return CatchTorch("initializing the model", [&] {
    torch::manual_seed(seed);
    ClipModel model(manifest, static_cast<int64_t>(vocab.size()));
    torch::save(model, (std::filesystem::path(dir) / manifest.weights).string());
    return Status::Ok();
  });
}

}  // namespace ctdb::embed
