// Encoder over TorchScript modules trained elsewhere (CT-CLIP-, Merlin- or
// COLIPRI-style exports). The contract a module must meet:
//   image.pt  forward(x: Tensor[B, 1, Z, Y, X] float32) ->
//               Tensor[B, d]                                  (global only)
//             | (global[B, d], slabs[B, S, d])                (S divides Z)
//             | (global[B, d], slabs[B, S, d], diseases[B, K, d])
//             | Dict[str, Tensor] with keys "global", "slabs", "diseases"
//   text.pt   forward(ids: Tensor[B, L] int64, mask: Tensor[B, L] int64) -> Tensor[B, d]
// Outputs are L2-normalized here whether or not the module did.
#include <torch/script.h>

#include <filesystem>
#include <mutex>

#include "embed/encoder_impl.h"
#include "embed/torch_util.h"

namespace ctdb::embed {
namespace {

class TorchScriptEncoder final : public Encoder {
 public:
  TorchScriptEncoder(ModelManifest manifest, std::string id, std::unique_ptr<WordPiece> tokenizer,
                     torch::jit::Module image, torch::jit::Module text)
      : manifest_(std::move(manifest)),
        id_(std::move(id)),
        tokenizer_(std::move(tokenizer)),
        image_(std::move(image)),
        text_(std::move(text)) {}

  const ModelManifest& manifest() const override { return manifest_; }
  const std::string& id() const override { return id_; }

  Result<std::vector<VolumeEncoding>> EncodeVolumes(const std::vector<const Tensor3*>& volumes) override {
    for (const Tensor3* v : volumes) {
      Status s = CheckEncoderInput(*v, manifest_);
      if (!s.ok()) return s;
    }
    std::vector<VolumeEncoding> out(volumes.size());
    std::lock_guard<std::mutex> lock(mu_);
    Status s = CatchTorch("image module", [&] {
      torch::InferenceMode guard;
      for (size_t i = 0; i < volumes.size(); ++i) {
        Status st = Unpack(image_.forward({VolumesToTensor({volumes[i]})}), *volumes[i], &out[i]);
        if (!st.ok()) return st;
      }
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }

  Result<std::vector<std::vector<float>>> EncodeTexts(const std::vector<std::string>& texts) override {
    std::vector<std::vector<float>> out;
    std::lock_guard<std::mutex> lock(mu_);
    Status s = CatchTorch("text module", [&] {
      torch::InferenceMode guard;
      for (const auto& t : texts) {
        TokenBatch b = TokenizeBatch(*tokenizer_, {t}, static_cast<int>(manifest_.max_tokens));
        auto r = text_.forward({b.ids, b.mask});
        if (!r.isTensor()) return Status::InvalidArgument("text module must return a Tensor[B, d]");
        auto e = r.toTensor();
        if (e.dim() != 2 || e.size(0) != 1 || e.size(1) != manifest_.dimension) {
          return Status::InvalidArgument("text module returned shape " + Shape(e) + ", expected [1, " +
                                         std::to_string(manifest_.dimension) + "]");
        }
        out.push_back(ToVector(Normalize(e.to(torch::kFloat32))[0]));
      }
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }

  double VolumeFlops() const override { return 0; }
  double TextFlops(int) const override { return 0; }

 private:
  static std::string Shape(const torch::Tensor& t) {
    std::string s = "[";
    for (int64_t d = 0; d < t.dim(); ++d) s += (d ? ", " : "") + std::to_string(t.size(d));
    return s + "]";
  }

  Status Unpack(const c10::IValue& r, const Tensor3& volume, VolumeEncoding* out) {
    torch::Tensor global, slabs, diseases;
    if (r.isTensor()) {
      global = r.toTensor();
    } else if (r.isTuple()) {
      const auto& el = r.toTuple()->elements();
      if (el.empty() || el.size() > 3) return Status::InvalidArgument("image module returned a tuple of " + std::to_string(el.size()));
      for (const auto& e : el) {
        if (!e.isTensor()) return Status::InvalidArgument("image module returned a tuple holding a non-tensor");
      }
      global = el[0].toTensor();
      if (el.size() > 1) slabs = el[1].toTensor();
      if (el.size() > 2) diseases = el[2].toTensor();
    } else if (r.isGenericDict()) {
      for (const auto& kv : r.toGenericDict()) {
        if (!kv.key().isString() || !kv.value().isTensor()) continue;
        const std::string k = kv.key().toStringRef();
        if (k == "global") global = kv.value().toTensor();
        if (k == "slabs") slabs = kv.value().toTensor();
        if (k == "diseases") diseases = kv.value().toTensor();
      }
      if (!global.defined()) return Status::InvalidArgument("image module's dict has no \"global\" tensor");
    } else {
      return Status::InvalidArgument("image module must return a Tensor, a tuple of Tensors or a Dict[str, Tensor]");
    }
    const int64_t d = manifest_.dimension;
    if (global.dim() != 2 || global.size(0) != 1 || global.size(1) != d) {
      return Status::InvalidArgument("image module's global embedding has shape " + Shape(global) + ", expected [1, " +
                                     std::to_string(d) + "]");
    }
    out->global = ToVector(Normalize(global.to(torch::kFloat32))[0]);
    if (slabs.defined()) {
      if (slabs.dim() != 3 || slabs.size(0) != 1 || slabs.size(2) != d || slabs.size(1) < 1 ||
          volume.shape[2] % slabs.size(1) != 0) {
        return Status::InvalidArgument("image module's slabs have shape " + Shape(slabs) + ", expected [1, S, " +
                                       std::to_string(d) + "] with S dividing " + std::to_string(volume.shape[2]));
      }
      out->slabs = SlabsOf(Normalize(slabs.to(torch::kFloat32))[0], volume);
    }
    if (diseases.defined()) {
      const auto k = static_cast<int64_t>(manifest_.diseases.size());
      if (diseases.dim() != 3 || diseases.size(0) != 1 || diseases.size(1) != k || diseases.size(2) != d) {
        return Status::InvalidArgument("image module's disease features have shape " + Shape(diseases) +
                                       ", expected [1, " + std::to_string(k) + ", " + std::to_string(d) +
                                       "] (one per manifest disease)");
      }
      auto n = Normalize(diseases.to(torch::kFloat32))[0];
      for (int64_t i = 0; i < k; ++i) out->diseases.push_back(ToVector(n[i]));
    }
    return Status::Ok();
  }

  const ModelManifest manifest_;
  const std::string id_;
  const std::unique_ptr<WordPiece> tokenizer_;
  std::mutex mu_;
  torch::jit::Module image_, text_;
};

}  // namespace

Result<std::unique_ptr<Encoder>> LoadTorchScriptEncoder(const std::string& dir, const ModelManifest& manifest,
                                                        const EncoderRuntime& runtime) {
  const auto p = [&](const std::string& f) { return (std::filesystem::path(dir) / f).string(); };
  auto tokenizer = WordPiece::Load(p(manifest.vocab), manifest.tokenizer);
  if (!tokenizer.ok()) return tokenizer.status();
  for (const auto& f : {manifest.image_module, manifest.text_module}) {
    if (!std::filesystem::exists(p(f))) return Status::NotFound("TorchScript module missing: " + p(f));
  }
  auto id = ModelId(manifest, {p(manifest.image_module), p(manifest.text_module), p(manifest.vocab)});
  if (!id.ok()) return id.status();
  torch::jit::Module image, text;
  for (auto [file, mod] : {std::pair{manifest.image_module, &image}, std::pair{manifest.text_module, &text}}) {
    Status s = CatchTorch("loading " + p(file), [&, f = file, m = mod] {
      *m = torch::jit::load(p(f), torch::kCPU);
      m->eval();
      return Status::Ok();
    });
    if (!s.ok()) return Status::Corruption(s.message());
  }
  return std::unique_ptr<Encoder>(
      new TorchScriptEncoder(manifest, std::move(*id), std::move(*tokenizer), std::move(image), std::move(text)));
}

}  // namespace ctdb::embed
