#include "embed/native_model.h"

#include "embed/blob_filter.h"

#include <algorithm>
#include <cmath>

namespace ctdb::embed {
namespace {

namespace nn = torch::nn;

int64_t Padding(int64_t kernel, int64_t stride) { return kernel > stride ? (kernel - 1) / 2 : 0; }

int64_t ConvOut(int64_t in, int64_t kernel, int64_t stride) {
  return (in + 2 * Padding(kernel, stride) - kernel) / stride + 1;
}

nn::TransformerEncoder MakeTransformer(int64_t width, int64_t heads, int64_t ffn, int64_t layers) {
  // Dropout stays 0: the synthetic training sets are small and augmented in
  // text instead, and eval/train then run the same arithmetic.
  auto layer = nn::TransformerEncoderLayerOptions(width, heads).dim_feedforward(ffn).dropout(0.0).activation(
      torch::kGELU);
  return nn::TransformerEncoder(nn::TransformerEncoderOptions(layer, layers));
}

// Flops of one transformer layer over T tokens.
double LayerFlops(double t, double c, double f) {
  return 2 * t * c * c * 4    // q, k, v, out projections
         + 2 * t * t * c * 2  // scores and weighted sum
         + 2 * t * c * f * 2;  // feed-forward
}

// How many of the largest responses the volume summary averages: a 3 mm
// nodule at the filter's grid covers a few voxels, one maximum is noise.
constexpr int64_t kBlobTop = 16;

}  // namespace

std::array<double, 3> SpacingZyx(const ModelManifest& m) {
  const auto& sp = m.preprocess.spacing_mm;  // i, j, k = x, y, z
  return {sp[2], sp[1], sp[0]};
}

int64_t StemModulesPerStage(const NativeArchitecture& a) { return a.stem_norm == "none" ? 2 : 3; }

int64_t StemInputChannels(const NativeArchitecture& a) {
  return a.windows.empty() ? 1 : static_cast<int64_t>(a.windows.size());
}

int64_t StageChannels(const NativeArchitecture& a, int64_t stage) {
  return stage == 0 ? StemInputChannels(a) : a.stem[static_cast<size_t>(stage - 1)].channels;
}

std::array<int64_t, 3> StageGrid(const ModelManifest& m, size_t stages) {
  // Manifest sizes are (i, j, k) = (x, y, z); the stem works in (z, y, x).
  std::array<int64_t, 3> g{m.preprocess.size[2], m.preprocess.size[1], m.preprocess.size[0]};
  const auto& stem = m.architecture.stem;
  for (size_t s = 0; s < std::min(stages, stem.size()); ++s) {
    for (int a = 0; a < 3; ++a) g[a] = ConvOut(g[a], stem[s].kernel[a], stem[s].stride[a]);
  }
  return g;
}

std::array<int64_t, 3> TokenGrid(const ModelManifest& m) { return StageGrid(m, m.architecture.stem.size()); }

int64_t SlabSlices(const ModelManifest& m) {
  int64_t s = 1;
  for (const auto& st : m.architecture.stem) s *= st.stride[0];
  return s;
}

ImageEncoderImpl::ImageEncoderImpl(const ModelManifest& m) {
  const auto& a = m.architecture;
  stem_ = register_module("stem", nn::Sequential());
  // Windows as (scale, shift) on the preprocessed value v: HU = v * divisor
  // + offset; channel = clamp(2 * (HU - lo) / (hi - lo) - 1, -1, 1).
  for (const auto& w : a.windows) {
    const double span = w[1] - w[0];
    window_scale_.push_back(static_cast<float>(2.0 * m.preprocess.divisor / span));
    window_shift_.push_back(static_cast<float>(2.0 * (m.preprocess.offset - w[0]) / span - 1.0));
  }
  int64_t in = StemInputChannels(a);
  for (size_t s = 0; s < a.stem.size(); ++s) {
    const auto& st = a.stem[s];
    std::vector<int64_t> k(st.kernel.begin(), st.kernel.end()), str(st.stride.begin(), st.stride.end()), pad;
    for (int d = 0; d < 3; ++d) pad.push_back(Padding(st.kernel[d], st.stride[d]));
    stem_->push_back(nn::Conv3d(nn::Conv3dOptions(in, st.channels, k).stride(str).padding(pad)));
    if (s + 1 < a.stem.size()) {
      if (a.stem_norm == "group") {
        stem_->push_back(nn::GroupNorm(nn::GroupNormOptions(st.channels % 4 == 0 ? 4 : 1, st.channels)));
      } else if (a.stem_norm == "batch") {
        stem_->push_back(nn::BatchNorm3d(st.channels));
      }
      stem_->push_back(nn::GELU());
    }
    in = st.channels;
  }
  grid_ = TokenGrid(m);
  stem_pool_ = a.stem_pool;
  const int64_t w = a.width;
  num_diseases_ = static_cast<int64_t>(m.diseases.size());
  if (a.detect.stage > 0 && num_diseases_ > 0) {
    detect_after_ = static_cast<size_t>(a.detect.stage * StemModulesPerStage(a));
    detect_sharpness_ = a.detect.sharpness;
    const int64_t in_ch = StageChannels(a, a.detect.stage), hid = a.detect.channels;
    detect_ = register_module("detect", nn::Sequential());
    detect_->push_back(nn::Conv3d(nn::Conv3dOptions(in_ch, hid, 3).padding(1)));
    if (a.stem_norm == "batch") detect_->push_back(nn::BatchNorm3d(hid));
    if (a.stem_norm == "group") detect_->push_back(nn::GroupNorm(nn::GroupNormOptions(hid % 4 == 0 ? 4 : 1, hid)));
    detect_->push_back(nn::GELU());
    detect_->push_back(nn::Conv3d(nn::Conv3dOptions(hid, num_diseases_, 1)));
    detect_token_ = register_parameter("detect_token", torch::zeros({num_diseases_, 1, w}));
    detect_global_ = register_parameter("detect_global", torch::zeros({num_diseases_, w}));
  }
  if (!a.peaks.empty()) {
    int64_t channels = 0;
    for (int64_t s : a.peaks) {
      peak_after_.push_back(static_cast<size_t>(s * StemModulesPerStage(a)));
      channels += StageChannels(a, s);
    }
    peaks_ = register_module("peaks", nn::Linear(channels, w));
    if (a.readout && num_diseases_ > 0) {
      const int64_t places = grid_[0] * grid_[1] * grid_[2];
      // Centred per place and channel and scaled by 1 / sqrt(var + 1) (batch
      // statistics in training, running ones after): most places are -1 in
      // every study, and uncentred they all moved with the bias. eps = 1,
      // not ~0: fitted alone, unit variance for every place gave coronary
      // calcium 0.89 held out but a held-out loss above the base rates'
      // (0.48 against 0.40: the places where nothing varies but noise got
      // weights); with eps = 1, 0.87 and a loss below them (0.378/0.384).
      readout_norm_ = register_module(
          "readout_norm", nn::BatchNorm1d(nn::BatchNorm1dOptions(channels * places).affine(false).eps(1)));
      readout_w_ = register_parameter("readout_w", torch::zeros({num_diseases_, channels * places}));
      readout_b_ = register_parameter("readout_b", torch::zeros({num_diseases_}));
      detect_token_ = register_parameter("detect_token", torch::zeros({num_diseases_, 1, w}));
      detect_global_ = register_parameter("detect_global", torch::zeros({num_diseases_, w}));
      if (!a.blobs.empty()) {
        blob_input_ = m;
        const int64_t features = 2 * static_cast<int64_t>(a.blobs.size());
        // Same standardization as the peaks' (eps = 1: a place where the
        // filter never answers stays 0, not noise scaled up). Zero weights:
        // added to a trained model, the blobs change nothing until trained.
        blob_norm_ = register_module("blob_norm",
                                     nn::BatchNorm1d(nn::BatchNorm1dOptions(features).affine(false).eps(1)));
        blob_w_ = register_parameter("blob_w", torch::zeros({num_diseases_, features}));
        if (a.candidates.count > 0) {
          candidate_count_ = a.candidates.count;
          candidate_half_ = CandidateHalfSize(a.candidates.patch_mm, SpacingZyx(m));
          candidate_net_ = register_module("candidate_net", CandidateNet(a.candidates.channels));
          candidate_norm_ = register_module("candidate_norm",
                                            nn::BatchNorm1d(nn::BatchNorm1dOptions(2).affine(false).eps(1)));
          candidate_w_ = register_parameter("candidate_w", torch::zeros({num_diseases_, 2}));
        }
      }
    }
    torch::NoGradGuard no_grad;
    peaks_->weight.zero_();
    peaks_->bias.zero_();
  }
  pos_z_ = register_parameter("pos_z", torch::randn({grid_[0], 1, 1, w}) * 0.02);
  pos_y_ = register_parameter("pos_y", torch::randn({1, grid_[1], 1, w}) * 0.02);
  pos_x_ = register_parameter("pos_x", torch::randn({1, 1, grid_[2], w}) * 0.02);
  // layers = 0: tokens go straight to the pools (LibTorch's encoder wants at
  // least one layer); cheaper per token, so a finer grid fits the budget.
  if (a.layers > 0) transformer_ = register_module("transformer", MakeTransformer(w, a.heads, a.ffn, a.layers));
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({w})));
  pool_query_ = register_parameter("pool_query", torch::randn({1, 1, w}) * 0.02);
  pool_ = register_module("pool", nn::MultiheadAttention(nn::MultiheadAttentionOptions(w, a.heads)));
  disease_queries_ = register_parameter("disease_queries", torch::randn({std::max<int64_t>(num_diseases_, 1), 1, w}) * 0.02);
  disease_attn_ = register_module("disease_attn", nn::MultiheadAttention(nn::MultiheadAttentionOptions(w, a.heads)));
  disease_norm_ = register_module("disease_norm", nn::LayerNorm(nn::LayerNormOptions({w})));
  global_bn_ = register_module("global_bn", nn::BatchNorm1d(w));
  disease_bn_ = register_module("disease_bn", nn::BatchNorm1d(std::max<int64_t>(num_diseases_, 1) * w));
  proj_ = register_module("proj", nn::Linear(nn::LinearOptions(w, m.dimension).bias(false)));
}

torch::Tensor ImageEncoderImpl::Project(const torch::Tensor& features) {
  return torch::nn::functional::normalize(proj_->forward(features),
                                          torch::nn::functional::NormalizeFuncOptions().dim(-1).eps(1e-8));
}

void ImageEncoderImpl::InitDetectBias(const torch::Tensor& log_odds) {
  torch::NoGradGuard no_grad;
  if (readout_b_.defined()) readout_b_.copy_(log_odds.to(readout_b_.dtype()).to(readout_b_.device()));
  if (!detect_) return;
  auto* out = detect_[detect_->size() - 1]->as<torch::nn::Conv3dImpl>();
  out->bias.copy_(log_odds.to(out->bias.dtype()).to(out->bias.device()));
}

torch::Tensor ImageEncoderImpl::StemInput(const torch::Tensor& x) const {
  if (window_scale_.empty()) return x;
  // One broadcast multiply and two in-place passes: at a finer input grid a
  // multiply, add, clamp and concatenation per window cost more than the
  // first convolution (1.2 s of a training step at 192 x 192 x 128 x 16).
  // The same float arithmetic as per-window scalars, so the same numbers.
  const int64_t w = static_cast<int64_t>(window_scale_.size());
  const auto as_channels = [&](const std::vector<float>& v) {
    return torch::tensor(v, x.options()).view({1, w, 1, 1, 1});
  };
  std::vector<int64_t> shape = x.sizes().vec();
  shape[1] = w;
  return (x.expand(shape) * as_channels(window_scale_)).add_(as_channels(window_shift_)).clamp_(-1, 1);
}

ImageOutput ImageEncoderImpl::forward(const torch::Tensor& x) {
  const int64_t b = x.size(0);
  torch::Tensor f = StemInput(x), evidence;
  torch::Tensor out_sites, out_centres, out_valid, out_logits;  // candidates, when the model has them
  std::vector<torch::Tensor> peaks;  // (B, C_s, Z', Y', X') per listed stage
  size_t module = 0, next_peak = 0;
  auto take_peak = [&] {
    if (next_peak < peak_after_.size() && peak_after_[next_peak] == module) {
      peaks.push_back(std::get<0>(torch::adaptive_max_pool3d(f, {grid_[0], grid_[1], grid_[2]})));
      ++next_peak;
    }
  };
  take_peak();
  for (auto& stage_module : *stem_) {
    f = stage_module.forward(f);
    ++module;
    take_peak();
    if (module == detect_after_) {
      // (1/r) log mean exp(r * map): between the mean (r -> 0) and the
      // maximum (r -> inf); one small finding must be able to decide.
      auto maps = detect_->forward(f).flatten(2);  // (B, K, V)
      const double r = detect_sharpness_;
      evidence = ((maps * r).logsumexp(2) - std::log(static_cast<double>(maps.size(2)))) / r;
    }
  }
  // f: (B, C, Z', Y', X')
  torch::Tensor stem_pooled;                     // (B, C): the probe's pooling
  if (stem_pool_) stem_pooled = f.amax({2, 3, 4}) + f.mean({2, 3, 4});
  f = f.permute({0, 2, 3, 4, 1});                // (B, Z', Y', X', C)
  if (peaks_) {
    auto all = torch::cat(peaks, 1);  // (B, C, Z', Y', X')
    f = f + peaks_->forward(all.permute({0, 2, 3, 4, 1}));
    // One weight per disease, channel and place: where a bright voxel is
    // decides what it means.
    if (readout_w_.defined()) evidence = torch::addmm(readout_b_, readout_norm_->forward(all.flatten(1)), readout_w_.t());
    if (blob_w_.defined()) {
      const auto& mp = blob_input_.preprocess;
      const auto hu = x * mp.divisor + mp.offset;  // once, for the filter and the patches
      const auto response = BlobResponse(hu, SpacingZyx(blob_input_), blob_input_.architecture.blobs);
      evidence = evidence + blob_norm_->forward(BlobFeaturesOf(response)).matmul(blob_w_.t());
      if (candidate_net_) {
        const auto sites = FindCandidates(response.select(1, 0), candidate_count_);
        const auto centres =
            CandidateCentres(sites.where, BlobPoolFactors(SpacingZyx(blob_input_), blob_input_.architecture.blobs));
        const auto patches = CandidatePatches(hu, centres, candidate_half_);
        auto logits = candidate_net_->forward(patches, sites.response.flatten()).view({b, candidate_count_});
        // Unused sites (a volume with fewer maxima) say nothing: -30 is far
        // below any logit, and exp(-30) adds nothing to the sum.
        const auto masked = torch::where(sites.valid, logits, torch::full_like(logits, -30));
        const auto pooled = torch::stack({masked.amax(1), masked.logsumexp(1)}, 1);
        evidence = evidence + candidate_norm_->forward(pooled).matmul(candidate_w_.t());
        out_sites = sites.where;
        out_centres = centres;
        out_valid = sites.valid;
        out_logits = logits;
      }
    }
  }
  f = f + pos_z_ + pos_y_ + pos_x_;
  const int64_t c = f.size(4), t = grid_[0] * grid_[1] * grid_[2];
  auto seq = f.reshape({b, t, c}).transpose(0, 1);  // (T, B, C): LibTorch's layers are sequence-first
  seq = norm_->forward(transformer_ ? transformer_->forward(seq) : seq);
  ImageOutput out;
  out.candidate_sites = out_sites;
  out.candidate_centres = out_centres;
  out.candidate_valid = out_valid;
  out.candidate_logits = out_logits;
  out.tokens = seq.transpose(0, 1).reshape({b, grid_[0], grid_[1], grid_[2], c});
  auto q = pool_query_.expand({1, b, c});
  auto pooled = std::get<0>(pool_->forward(q, seq, seq)).squeeze(0);  // (B, C)
  // Plus the strongest response of each channel: findings are local, and an
  // attention pool that starts uniform averages them away (a probe trained
  // on labels stayed at chance without it).
  // And the mean: how much of the chest is fluid, heart or lung is a
  // composition, which neither a peak nor a learned pool starts out seeing.
  auto global = pooled + seq.amax(0) + seq.mean(0);
  if (stem_pool_) global = global + stem_pooled;
  if (evidence.defined()) global = global + evidence.matmul(detect_global_);
  out.evidence = evidence;
  out.global = Project(global_bn_->forward(global));
  out.slabs = Project(out.tokens.mean({2, 3}));  // (B, Z', d)
  if (num_diseases_ > 0) {
    auto dq = disease_queries_.expand({num_diseases_, b, c});
    auto [attended, attention] = disease_attn_->forward(dq, seq, seq);
    out.disease_attention = attention;  // (B, K, T), the heads' mean
    auto dis = disease_norm_->forward(dq + attended);
    if (stem_pool_) dis = dis + stem_pooled.unsqueeze(0);  // (K, B, C)
    if (evidence.defined()) dis = dis + detect_token_ * evidence.t().unsqueeze(-1);
    dis = disease_bn_->forward(dis.transpose(0, 1).reshape({b, num_diseases_ * c})).reshape({b, num_diseases_, c});
    out.diseases = Project(dis);  // (B, K, d)
  } else {
    out.diseases = torch::zeros({b, 0, out.global.size(1)});
  }
  return out;
}

TextEncoderImpl::TextEncoderImpl(const ModelManifest& m, int64_t vocab_size) : max_tokens_(m.max_tokens) {
  const auto& a = m.architecture;
  tokens_ = register_module("tokens", nn::Embedding(nn::EmbeddingOptions(vocab_size, a.text_width)));
  positions_ = register_module("positions", nn::Embedding(nn::EmbeddingOptions(m.max_tokens, a.text_width)));
  transformer_ = register_module("transformer", MakeTransformer(a.text_width, a.text_heads, a.text_ffn, a.text_layers));
  norm_ = register_module("norm", nn::LayerNorm(nn::LayerNormOptions({a.text_width})));
  bn_ = register_module("bn", nn::BatchNorm1d(a.text_width));
  proj_ = register_module("proj", nn::Linear(nn::LinearOptions(a.text_width, m.dimension).bias(false)));
}

torch::Tensor TextEncoderImpl::forward(const torch::Tensor& ids, const torch::Tensor& mask) {
  return Head(Pool(ids, mask));
}

torch::Tensor TextEncoderImpl::forward(const TokenGroups& groups, const torch::Device& device) {
  std::vector<torch::Tensor> pooled;
  for (const auto& tb : groups.batches) pooled.push_back(Pool(tb.ids.to(device), tb.mask.to(device)));
  std::vector<int64_t> row_of(groups.order.size());
  for (size_t r = 0; r < groups.order.size(); ++r) row_of[static_cast<size_t>(groups.order[r])] = static_cast<int64_t>(r);
  return Head(torch::cat(pooled).index_select(0, torch::tensor(row_of, torch::kLong).to(device)));
}

torch::Tensor TextEncoderImpl::Pool(const torch::Tensor& ids, const torch::Tensor& mask) {
  const int64_t l = ids.size(1);
  auto pos = torch::arange(l, torch::kLong).unsqueeze(0);
  auto h = tokens_->forward(ids) + positions_->forward(pos);  // (B, L, W)
  h = transformer_->forward(h.transpose(0, 1), {}, mask.eq(0)).transpose(0, 1);
  h = norm_->forward(h);
  auto m = mask.unsqueeze(-1).to(h.dtype());
  auto mean = (h * m).sum(1) / m.sum(1).clamp_min(1);
  // Plus each channel's maximum over the real tokens: reports differ in a
  // few words, which a mean over ~60 tokens all but hides.
  auto peak = h.masked_fill(m.eq(0), -1e4).amax(1);
  return mean + peak;
}

torch::Tensor TextEncoderImpl::Head(const torch::Tensor& pooled) {
  return torch::nn::functional::normalize(proj_->forward(bn_->forward(pooled)),
                                          torch::nn::functional::NormalizeFuncOptions().dim(-1).eps(1e-8));
}

ClipModelImpl::ClipModelImpl(const ModelManifest& m, int64_t vocab_size) {
  image = register_module("image", ImageEncoder(m));
  text = register_module("text", TextEncoder(m, vocab_size));
  logit_scale = register_parameter("logit_scale", torch::full({1}, std::log(10.0)));
  siglip_bias = register_parameter("siglip_bias", torch::full({1}, -std::log(15.0)));
  disease_bias = register_parameter("disease_bias", torch::zeros({1}));
  anatomy_bias = register_parameter("anatomy_bias", torch::full({1}, -std::log(15.0)));
  const int64_t k = std::max<int64_t>(static_cast<int64_t>(m.diseases.size()), 1);
  label_global_b = register_parameter("label_global_b", torch::zeros({k}));
  label_token_b = register_parameter("label_token_b", torch::zeros({k}));
}

double DetectFlops(const ModelManifest& m) {
  const auto& a = m.architecture;
  if (a.detect.stage <= 0 || m.diseases.empty()) return 0;
  const auto g = StageGrid(m, static_cast<size_t>(a.detect.stage));
  const double voxels = static_cast<double>(g[0] * g[1] * g[2]);
  const double in = static_cast<double>(StageChannels(a, a.detect.stage));
  const double hid = static_cast<double>(a.detect.channels), k = static_cast<double>(m.diseases.size());
  return 2 * voxels * (in * hid * 27 + hid * k);
}

double PeakFlops(const ModelManifest& m) {
  const auto& a = m.architecture;
  const auto tg = TokenGrid(m);
  const double tokens = static_cast<double>(tg[0] * tg[1] * tg[2]);
  double flops = 0, channels = 0;
  for (int64_t s : a.peaks) {
    const auto g = StageGrid(m, static_cast<size_t>(s));
    const double c = static_cast<double>(StageChannels(a, s));
    flops += static_cast<double>(g[0] * g[1] * g[2]) * c;  // one comparison per value
    channels += c;
  }
  return flops + 2 * tokens * channels * static_cast<double>(a.width);
}

double ReadoutFlops(const ModelManifest& m) {
  const auto& a = m.architecture;
  if (!a.readout || a.peaks.empty()) return 0;
  const auto g = TokenGrid(m);
  double channels = 0;
  for (int64_t s : a.peaks) channels += static_cast<double>(StageChannels(a, s));
  return 2 * static_cast<double>(m.diseases.size()) * channels * static_cast<double>(g[0] * g[1] * g[2]);
}

double BlobFlops(const ModelManifest& m) {
  const auto& a = m.architecture;
  if (a.blobs.empty() || !a.readout || m.diseases.empty()) return 0;
  const auto& n = m.preprocess.size;  // x, y, z
  const auto f = BlobPoolFactors(SpacingZyx(m), a.blobs);
  const double voxels = static_cast<double>((n[2] / f[0]) * (n[1] / f[1]) * (n[0] / f[2]));
  const double scales = static_cast<double>(a.blobs.size());
  // Plus the maximum and the top 16 (a comparison per value each), and the weights.
  return BlobResponseFlops({n[2], n[1], n[0]}, SpacingZyx(m), a.blobs) + 2 * voxels * scales +
         2 * static_cast<double>(m.diseases.size()) * 2 * scales;
}

torch::Tensor BlobFeaturesOf(const torch::Tensor& response) {
  const auto r = response.flatten(2);  // (B, S, V)
  const auto top = std::get<0>(r.topk(std::min<int64_t>(kBlobTop, r.size(2)), 2)).mean(2);
  return torch::cat({r.amax(2), top}, 1);
}

torch::Tensor BlobFeatures(const ModelManifest& m, const torch::Tensor& x) {
  const auto& a = m.architecture;
  if (a.blobs.empty()) return {};
  return BlobFeaturesOf(BlobResponse(x * m.preprocess.divisor + m.preprocess.offset, SpacingZyx(m), a.blobs));
}

double CandidateFlops(const ModelManifest& m) {
  const auto& a = m.architecture;
  if (a.candidates.count <= 0 || a.blobs.empty() || !a.readout || m.diseases.empty()) return 0;
  const auto h = CandidateHalfSize(a.candidates.patch_mm, SpacingZyx(m));
  const std::array<int64_t, 3> patch{2 * h[0] + 1, 2 * h[1] + 1, 2 * h[2] + 1};
  const double voxels = static_cast<double>(patch[0] * patch[1] * patch[2]);
  const double n = static_cast<double>(a.candidates.count);
  // Per candidate: the window (2 per voxel) and the network; the local
  // maxima (a comparison per response voxel) are counted with the blobs'.
  return n * (2 * voxels + CandidateNetFlops(a.candidates.channels, patch)) +
         2 * static_cast<double>(m.diseases.size()) * 2 * 2;
}

double ImageFlops(const ModelManifest& m) {
  const auto& a = m.architecture;
  double flops = 0;
  int64_t in = StemInputChannels(a);
  for (size_t s = 0; s < a.stem.size(); ++s) {
    const auto& st = a.stem[s];
    const auto out = StageGrid(m, s + 1);
    const double out_voxels = static_cast<double>(out[0] * out[1] * out[2]);
    flops += 2.0 * static_cast<double>(in * st.channels * st.kernel[0] * st.kernel[1] * st.kernel[2]) * out_voxels;
    in = st.channels;
  }
  const auto g = TokenGrid(m);
  const double t = static_cast<double>(g[0] * g[1] * g[2]), c = static_cast<double>(a.width);
  const double k = static_cast<double>(m.diseases.size()), d = static_cast<double>(m.dimension);
  flops += DetectFlops(m) + PeakFlops(m) + ReadoutFlops(m) + BlobFlops(m) + CandidateFlops(m);
  flops += static_cast<double>(a.layers) * LayerFlops(t, c, static_cast<double>(a.ffn));
  // Attention pooling and disease cross-attention: keys and values over all
  // tokens, then one (or K) query rows.
  flops += 2 * t * c * c * 2 + 2 * t * c * 2 + 2 * c * c * 2;
  if (k > 0) flops += 2 * t * c * c * 2 + 2 * k * t * c * 2 + 2 * k * c * c * 2;
  flops += 2 * c * d * (1 + static_cast<double>(g[0]) + k);  // projections
  return flops;
}

double TextFlops(const ModelManifest& m, int64_t tokens) {
  const auto& a = m.architecture;
  const double t = static_cast<double>(tokens), c = static_cast<double>(a.text_width);
  return static_cast<double>(a.text_layers) * LayerFlops(t, c, static_cast<double>(a.text_ffn)) +
         2 * c * static_cast<double>(m.dimension);
}

}  // namespace ctdb::embed
