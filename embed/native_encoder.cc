// Encoder over the native torch::nn model (embed/native_model.h).
#include <torch/serialize.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "embed/encoder_impl.h"
#include "embed/native_model.h"
#include "embed/nodule_candidates.h"
#include "embed/torch_util.h"

namespace ctdb::embed {
namespace {

// Volume `b`'s real candidates as detections, best first: each at its
// response voxel's centre, x and y from the field of view's centre.
std::vector<Detection> DetectionsOf(const ImageOutput& o, int64_t b, const Tensor3& volume) {
  std::vector<Detection> out;
  if (!o.candidate_logits.defined()) return out;
  const auto centres = o.candidate_centres[b].contiguous();
  const auto valid = o.candidate_valid[b].contiguous();
  const auto scores = torch::sigmoid(o.candidate_logits[b]).to(torch::kFloat32).contiguous();
  const auto* c = centres.data_ptr<int64_t>();
  const auto* ok = valid.data_ptr<bool>();
  const auto* p = scores.data_ptr<float>();
  for (int64_t j = 0; j < scores.size(0); ++j, c += 3) {
    if (!ok[j]) continue;
    Detection d;
    d.finding = kCandidateDisease;
    d.score = p[j];
    const auto from_centre = [&](int64_t i, int axis) {
      return static_cast<float>((static_cast<double>(i) - (static_cast<double>(volume.shape[axis]) - 1) / 2) *
                                volume.spacing_mm[axis]);
    };
    d.position_mm = {from_centre(c[2], 0), from_centre(c[1], 1),
                     volume.slice_z_mm.at(static_cast<size_t>(std::min<int64_t>(c[0], volume.shape[2] - 1)))};
    out.push_back(std::move(d));
  }
  std::stable_sort(out.begin(), out.end(), [](const Detection& a, const Detection& d) { return a.score > d.score; });
  return out;
}

// The first tensor or module stored in `archive` that `module` has no place
// for ("" = none), as a dotted name. torch::load reads what the module asks
// for and ignores the rest: weights with a detector head read by a manifest
// without one would load and give other vectors than they were trained for.
std::string UnknownStored(torch::serialize::InputArchive& archive, const torch::nn::Module& module,
                          const std::string& prefix) {
  std::set<std::string> known;
  for (const auto& p : module.named_parameters(/*recurse=*/false)) known.insert(p.key());
  for (const auto& b : module.named_buffers(/*recurse=*/false)) known.insert(b.key());
  for (const auto& c : module.named_children()) known.insert(c.key());
  for (const auto& key : archive.keys()) {
    if (key != "training" && !known.count(key)) return prefix + key;
  }
  for (const auto& c : module.named_children()) {
    torch::serialize::InputArchive sub;
    if (!archive.try_read(c.key(), sub)) continue;
    std::string extra = UnknownStored(sub, *c.value(), prefix + c.key() + ".");
    if (!extra.empty()) return extra;
  }
  return "";
}

class NativeEncoder final : public Encoder {
 public:
  NativeEncoder(ModelManifest manifest, std::string id, std::unique_ptr<WordPiece> tokenizer, ClipModel model)
      : manifest_(std::move(manifest)), id_(std::move(id)), tokenizer_(std::move(tokenizer)), model_(model) {}

  const ModelManifest& manifest() const override { return manifest_; }
  const std::string& id() const override { return id_; }

  Result<std::vector<VolumeEncoding>> EncodeVolumes(const std::vector<const Tensor3*>& volumes) override {
    for (const Tensor3* v : volumes) {
      Status s = CheckEncoderInput(*v, manifest_);
      if (!s.ok()) return s;
    }
    std::vector<VolumeEncoding> out(volumes.size());
    auto lock = Serialize();
    Status s = CatchTorch("encoding a volume", [&] {
      torch::InferenceMode guard;
      for (size_t i = 0; i < volumes.size(); ++i) {
        ImageOutput o = model_->image->forward(VolumesToTensor({volumes[i]}));
        out[i].global = ToVector(o.global[0]);
        out[i].slabs = SlabsOf(o.slabs[0], *volumes[i]);
        for (int64_t k = 0; k < o.diseases.size(1); ++k) out[i].diseases.push_back(ToVector(o.diseases[0][k]));
        out[i].detections = DetectionsOf(o, 0, *volumes[i]);
      }
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }

  Result<std::vector<std::vector<float>>> EncodeTexts(const std::vector<std::string>& texts) override {
    std::vector<std::vector<float>> out;
    if (texts.empty()) return out;
    auto lock = Serialize();
    Status s = CatchTorch("encoding texts", [&] {
      torch::InferenceMode guard;
      // One text per pass: a text's embedding must not depend on the
      // padding its batch neighbours would force on it.
      for (const auto& t : texts) {
        TokenBatch b = TokenizeBatch(*tokenizer_, {t}, static_cast<int>(manifest_.max_tokens));
        out.push_back(ToVector(model_->text->forward(b.ids, b.mask)[0]));
      }
      return Status::Ok();
    });
    if (!s.ok()) return s;
    return out;
  }

  double VolumeFlops() const override { return ImageFlops(manifest_); }
  double LogitScale() const override { return std::exp(model_->logit_scale.item<double>()); }
  double TextFlops(int tokens) const override { return embed::TextFlops(manifest_, tokens); }

 private:
  const ModelManifest manifest_;
  const std::string id_;
  const std::unique_ptr<WordPiece> tokenizer_;
  // Passes serialize when each already uses several intra-op threads (two
  // at once would split the same cores); with one thread each (ctdb serve),
  // concurrent requests encode in parallel. Inference only reads the model.
  std::unique_lock<std::mutex> Serialize() {
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    if (at::get_num_threads() > 1) lock.lock();
    return lock;
  }
  std::mutex mu_;
  ClipModel model_;
};

}  // namespace

Result<std::unique_ptr<Encoder>> LoadNativeEncoder(const std::string& dir, const ModelManifest& manifest,
                                                   const EncoderRuntime& runtime) {
  const std::string vocab = (std::filesystem::path(dir) / manifest.vocab).string();
  const std::string weights = (std::filesystem::path(dir) / manifest.weights).string();
  auto tokenizer = WordPiece::Load(vocab, manifest.tokenizer);
  if (!tokenizer.ok()) return tokenizer.status();
  if (!std::filesystem::exists(weights)) return Status::NotFound("model weights missing: " + weights);
  auto id = ModelId(manifest, {weights, vocab});
  if (!id.ok()) return id.status();
  ClipModel model(nullptr);
  Status s = CatchTorch("loading " + weights, [&] {
    model = ClipModel(manifest, static_cast<int64_t>((*tokenizer)->size()));
    std::map<std::string, std::vector<int64_t>> want;
    for (const auto& p : model->named_parameters()) want[p.key()] = p.value().sizes().vec();
    // One read of the file: the module loads from the archive, which is then
    // checked for tensors the module has no place for.
    torch::serialize::InputArchive archive;
    archive.load_from(weights);
    model->load(archive);
    // Loading replaces tensors whatever their shape: check them here, or
    // a mismatch only shows as a failed forward pass much later.
    for (const auto& p : model->named_parameters()) {
      if (p.value().sizes().vec() != want[p.key()]) {
        return Status::InvalidArgument("parameter " + p.key() + " has shape " + c10::str(p.value().sizes()) +
                                       ", the manifest's architecture needs " + c10::str(c10::IntArrayRef(want[p.key()])));
      }
    }
    const std::string extra = UnknownStored(archive, *model, "");
    if (!extra.empty()) {
      return Status::InvalidArgument("the weights hold " + extra + ", which the manifest's architecture has no place for");
    }
    model->eval();
    return Status::Ok();
  });
  if (!s.ok()) {
    return Status::Corruption(s.message() + " (do the weights match the manifest's architecture and vocabulary?)");
  }
  return std::unique_ptr<Encoder>(new NativeEncoder(manifest, std::move(*id), std::move(*tokenizer), model));
}

}  // namespace ctdb::embed
