#include "embed/finer_input.h"

#include <torch/torch.h>

#include <functional>

namespace ctdb::embed {
namespace {

std::string Shape(const torch::Tensor& t) {
  std::string s = "[";
  for (int64_t d : t.sizes()) s += (s.size() > 1 ? "," : "") + std::to_string(d);
  return s + "]";
}

using Rename = std::function<std::string(const std::string&)>;
// Fills `to` (another shape than `from`) some other way, or says why not.
using OnMismatch = std::function<Status(const std::string& key, const torch::Tensor& from, torch::Tensor& to)>;

Status ShapeMismatch(const std::string& key, const torch::Tensor& from, const torch::Tensor& to) {
  return Status::InvalidArgument(key + " is " + Shape(from) + " in the source model but " + Shape(to) +
                                 " in the new layout; start from the model the layout was made from");
}

// Copies every parameter and buffer of `from` into the tensor of `to` named
// rename(key): as is when the shapes agree, else through `mismatch`. A
// tensor with no such home is an error naming it.
Status CopyByName(ClipModel& from, ClipModel& to, const Rename& rename, const OnMismatch& mismatch) {
  torch::NoGradGuard no_grad;
  auto params = to->named_parameters();
  auto buffers = to->named_buffers();
  auto copy = [&](const std::string& key, const torch::Tensor& v) -> Status {
    const std::string to_key = rename(key);
    torch::Tensor* dst = params.find(to_key);
    if (!dst) dst = buffers.find(to_key);
    if (!dst) {
      return Status::InvalidArgument("the new layout has no " + to_key + " for the source model's " + key +
                                     "; start from the model the layout was made from");
    }
    if (dst->sizes() != v.sizes()) return mismatch(key, v, *dst);
    dst->copy_(v);
    return Status::Ok();
  };
  for (const auto& p : from->named_parameters()) CTDB_RETURN_IF_ERROR(copy(p.key(), p.value()));
  for (const auto& b : from->named_buffers()) CTDB_RETURN_IF_ERROR(copy(b.key(), b.value()));
  return Status::Ok();
}

}  // namespace

Result<ModelManifest> FinerInput(const ModelManifest& base, const std::array<int64_t, 3>& factor, int64_t channels) {
  if (base.format != "native") return Status::InvalidArgument("only native models can grow a finer input");
  const auto& a = base.architecture;
  if (a.stem_norm == "group") {
    return Status::InvalidArgument("a model with group-normalized stem stages cannot grow a finer input (batch or none can)");
  }
  bool finer = false;
  for (int64_t f : factor) {
    if (f < 1 || f > 4) return Status::InvalidArgument("the finer-input factor must be 1-4 per axis");
    finer |= f > 1;
  }
  if (!finer) return Status::InvalidArgument("the finer-input factor must be above 1 along some axis");
  const int64_t in = StemInputChannels(a);
  if (channels < 2 * in) {
    return Status::InvalidArgument("the new stem stage needs at least " + std::to_string(2 * in) +
                                   " channels (two per input channel carry the base model's view)");
  }
  ModelManifest m = base;
  // Manifest sizes and spacings are (x, y, z); factors and stages (z, y, x).
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t f = factor[static_cast<size_t>(2 - axis)];
    m.preprocess.spacing_mm[axis] /= static_cast<double>(f);
    m.preprocess.size[axis] *= f;
  }
  NativeArchitecture::Stage first;
  first.channels = channels;
  first.kernel = factor;  // patches: each coarse voxel's block, nothing shared
  first.stride = factor;
  m.architecture.stem.insert(m.architecture.stem.begin(), first);
  if (m.architecture.detect.stage > 0) ++m.architecture.detect.stage;  // it reads the same stage as before
  for (int64_t& s : m.architecture.peaks) {
    if (s > 0) ++s;  // the same stages as before; the windowed input stays 0 (now finer: its blocks are the same mm)
  }
  return m;
}

Status GrowFromCoarser(ClipModel& base, ClipModel& grown, const ModelManifest& fine, const torch::Tensor& sample) {
  const auto& a = fine.architecture;
  if (a.stem.size() < 2) return Status::InvalidArgument("the grown layout has no stage in front of the base's");
  if (sample.dim() != 5 || sample.size(0) < 2) return Status::InvalidArgument("GrowFromCoarser wants (B >= 2, 1, Z, Y, X) samples");
  const int64_t per_stage = StemModulesPerStage(a), in = StemInputChannels(a);
  if (a.stem.front().channels < 2 * in) return Status::InvalidArgument("the new stem stage has too few channels");
  const std::string stem = "image.stem.";
  // The base's stem module k is the grown one's k + per_stage.
  auto renamed = [&](const std::string& key) {
    if (key.rfind(stem, 0) != 0) return key;
    const size_t dot = key.find('.', stem.size());
    return stem + std::to_string(std::stoll(key.substr(stem.size(), dot - stem.size())) + per_stage) + key.substr(dot);
  };
  const std::string old_first = stem + std::to_string(per_stage) + ".weight";
  torch::NoGradGuard no_grad;
  auto first_stage = [&](const std::string& key, const torch::Tensor& from, torch::Tensor& to) -> Status {
    if (renamed(key) != old_first || to.size(0) != from.size(0) || to.size(1) < 2 * from.size(1) ||
        to.sizes().slice(2) != from.sizes().slice(2)) {
      return ShapeMismatch(key, from, to);
    }
    // The base's first stage now reads window c as GELU(t) - GELU(-t) = t:
    // channel 2c with its kernel, channel 2c + 1 with the negated kernel.
    to.zero_();
    for (int64_t c = 0; c < from.size(1); ++c) {
      to.select(1, 2 * c).copy_(from.select(1, c));
      to.select(1, 2 * c + 1).copy_(-from.select(1, c));
    }
    return Status::Ok();
  };
  CTDB_RETURN_IF_ERROR(CopyByName(base, grown, renamed, first_stage));

  // The new stage: channel 2c = +box average of window c, 2c + 1 = -box
  // average; the rest keep their random start (the next stage reads them
  // with zero weights until training says otherwise).
  auto* conv = grown->image->stem()[0]->as<torch::nn::Conv3dImpl>();
  if (!conv) return Status::Internal("the grown stem does not start with a convolution");
  const double box = 1.0 / static_cast<double>(a.stem.front().kernel[0] * a.stem.front().kernel[1] * a.stem.front().kernel[2]);
  for (int64_t c = 0; c < in; ++c) {
    for (int64_t sign = 0; sign < 2; ++sign) {
      conv->weight[2 * c + sign].zero_();
      conv->weight[2 * c + sign][c].fill_(sign ? -box : box);
      conv->bias[2 * c + sign].zero_();
    }
  }
  if (a.stem_norm == "batch") {
    // Normalization that undoes itself on these channels: scale by the
    // channel's spread, shift by its mean, measured on the sample, so
    // GELU(+-t) reaches the next stage in training and inference alike.
    auto* bn = grown->image->stem()[1]->as<torch::nn::BatchNorm3dImpl>();
    if (!bn) return Status::Internal("the grown stem's first normalization is not a batch norm");
    const auto y = conv->forward(grown->image->StemInput(sample.to(conv->weight.device())));
    const double eps = bn->options.eps();
    for (int64_t ch = 0; ch < 2 * in; ++ch) {
      const auto v = y.select(1, ch);
      const auto mean = v.mean(), var = v.var(/*unbiased=*/false);
      bn->running_mean[ch].copy_(mean);
      bn->running_var[ch].copy_(var);
      bn->weight[ch].copy_((var + eps).sqrt());
      bn->bias[ch].copy_(mean);
    }
  }
  return Status::Ok();
}

Status CopyShared(ClipModel& from, ClipModel& to) {
  return CopyByName(
      from, to, [](const std::string& key) { return key; },
      [](const std::string& key, const torch::Tensor& v, torch::Tensor& dst) { return ShapeMismatch(key, v, dst); });
}

}  // namespace ctdb::embed
