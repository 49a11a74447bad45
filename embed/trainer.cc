#include "embed/trainer.h"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "embed/batch_order.h"
#include "embed/blob_filter.h"
#include "embed/disease_catalog.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/native_model.h"
#include "embed/tokenizer.h"
#include "embed/torch_util.h"

namespace fs = std::filesystem;

namespace ctdb::embed {
namespace {

constexpr int kMaxSentencesPerStudy = 10;

// One sentence of the batch that some objective uses.
struct Pick {
  int study = 0;        // index in the batch
  int disease = -1, existence = -1, organs = 0, slab = -1;
  std::string text;
  std::string region;   // of the study's own sentence; "" for a catalog phrase
};

// "Bibasilar atelectasis" (both lungs) and "atelectasis at the lung bases"
// (the default, lung) say the same place: neither is lateralized.
std::string RegionKey(const std::string& region) { return region == "both lungs" ? "lung" : region; }

// Whether `s` states disease `d` present in `region`.
bool StatesIn(const TrainStudy& s, int d, const std::string& region) {
  for (const auto& ts : s.sentences) {
    if (ts.disease == d && ts.existence == 1 && RegionKey(ts.region) == RegionKey(region)) return true;
  }
  return false;
}

torch::Tensor SigmoidPairLoss(const torch::Tensor& logits, const torch::Tensor& targets, const torch::Tensor& weights) {
  auto l = -(torch::log_sigmoid(targets * logits) * weights).sum();
  return l / weights.sum().clamp_min(1);
}

Status WriteState(const std::string& dir, int64_t step) {
  const std::string tmp = dir + "/state.txt.tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "step " << step << "\n";
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  fs::rename(tmp, dir + "/state.txt", ec);
  if (ec) return Status::IOError("cannot write checkpoint state: " + ec.message());
  return Status::Ok();
}

// Every parameter's and buffer's name and shape, in registration order.
std::vector<std::pair<std::string, std::vector<int64_t>>> TensorShapes(const torch::nn::Module& m) {
  std::vector<std::pair<std::string, std::vector<int64_t>>> out;
  for (const auto& p : m.named_parameters()) out.push_back({p.key(), p.value().sizes().vec()});
  for (const auto& b : m.named_buffers()) out.push_back({b.key(), b.value().sizes().vec()});
  return out;
}

int64_t ReadState(const std::string& dir) {
  std::ifstream in(dir + "/state.txt");
  std::string word;
  int64_t step = 0;
  if (in >> word >> step && word == "step") return step;
  return 0;
}

// Standard normal quantiles at (i + 0.5) / 65536: noise for 16 random bits
// by one lookup. std::normal_distribution cost 1.4 s per batch of 16 at
// 192 x 192 x 128, more than the network's own arithmetic there.
const std::vector<float>& NormalQuantiles() {
  static const std::vector<float> table = [] {
    std::vector<float> t(65536);
    for (size_t i = 0; i < t.size() / 2; ++i) {
      const double p = (static_cast<double>(i) + 0.5) / 65536.0;  // < 0.5: the quantile is negative
      double lo = -10, hi = 0;
      for (int it = 0; it < 60; ++it) {
        const double mid = (lo + hi) / 2;
        (0.5 * std::erfc(-mid / std::sqrt(2.0)) < p ? lo : hi) = mid;
      }
      t[i] = static_cast<float>((lo + hi) / 2);
      t[t.size() - 1 - i] = -t[i];
    }
    return t;
  }();
  return table;
}

uint64_t SplitMix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

}  // namespace

std::string AugmentReport(const TrainStudy& s, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  if (!s.impression.empty() && u(rng) < kImpressionOnlyFraction) return s.impression;
  if (s.sentences.empty()) return s.findings + "\n" + s.impression;
  std::vector<std::string> kept;
  for (const auto& t : s.sentences) {
    if ((t.disease >= 0 && t.existence == 1) || u(rng) >= 0.3) kept.push_back(t.text);
  }
  if (kept.empty()) kept.push_back(s.sentences[static_cast<size_t>(rng() % s.sentences.size())].text);
  if (u(rng) < 0.5) std::shuffle(kept.begin(), kept.end(), rng);
  std::string out;
  for (const auto& t : kept) out += (out.empty() ? "" : " ") + t;
  return out;
}

std::array<int64_t, 2> AugmentVolume(const float* in, float* out, const std::array<int64_t, 3>& zyx, float pad,
                                     std::mt19937_64& rng) {
  constexpr int kMaxShift = 4;
  std::uniform_int_distribution<int> shift(-kMaxShift, kMaxShift);
  std::uniform_real_distribution<float> gain(0.97f, 1.03f), offset(-0.015f, 0.015f);
  const int64_t dy = shift(rng), dx = shift(rng);
  const float g = gain(rng), o = offset(rng);
  constexpr float kNoiseSd = 0.01f;  // ~10 HU in CT-CLIP scaling
  const std::vector<float>& quantile = NormalQuantiles();
  uint64_t state = rng(), bits = 0;
  int left = 0;  // 16-bit draws left in `bits`
  const int64_t nz = zyx[0], ny = zyx[1], nx = zyx[2];
  for (int64_t z = 0; z < nz; ++z) {
    for (int64_t y = 0; y < ny; ++y) {
      const int64_t sy = y - dy;
      float* row = out + (z * ny + y) * nx;
      for (int64_t x = 0; x < nx; ++x) {
        const int64_t sx = x - dx;
        const float v = (sy < 0 || sy >= ny || sx < 0 || sx >= nx) ? pad : in[(z * ny + sy) * nx + sx];
        if (left == 0) bits = SplitMix64(state), left = 4;
        row[x] = v * g + o + kNoiseSd * quantile[bits & 0xffff];
        bits >>= 16;
        --left;
      }
    }
  }
  return {dy, dx};
}

bool IsEvidenceParameter(const std::string& name) {
  for (const char* p : {"image.readout_w", "image.readout_b", "image.blob_w", "image.candidate_w", "image.detect_token",
                        "image.detect_global"}) {
    if (name == p) return true;
  }
  return name.rfind("image.candidate_net.", 0) == 0;
}

Result<TrainResult> Train(const TrainingSet& data, const TrainOptions& o) {
  const ModelManifest& m = o.manifest;
  CTDB_RETURN_IF_ERROR(ValidateManifest(m));
  if (m.format != "native") return Status::InvalidArgument("only native models can be trained");
  if (o.epochs < 1 || o.batch < 2) return Status::InvalidArgument("epochs must be >= 1 and batch >= 2");
  if (!(o.lr > 0)) return Status::InvalidArgument("learning rate must be > 0");
  if (!(o.readout_lr > 0 && o.readout_lr <= 1)) return Status::InvalidArgument("readout_lr must be in (0, 1]");
  if (data.studies.empty()) return Status::InvalidArgument("no training studies");
  const auto& ob = o.objectives;
  if (!ob.siglip && !ob.disease && !ob.localization && !ob.anatomy && !ob.labels) {
    return Status::InvalidArgument("every training objective is switched off");
  }
  if (ob.lesions && std::none_of(data.studies.begin(), data.studies.end(),
                                 [](const TrainStudy& s) { return !s.lesions.empty(); })) {
    return Status::InvalidArgument(
        "the lesions objective needs lesion maps (<name>_lesion_mask.nii.gz beside the volumes, as tools/synth "
        "writes them); no training study has one showing a present finding");
  }
  // (ValidateManifest above: candidates come with blobs, blobs with the readout.)
  if (m.architecture.candidates.count > 0 && ob.candidates &&
      std::none_of(data.studies.begin(), data.studies.end(), [](const TrainStudy& s) { return s.lesion_map; })) {
    return Status::InvalidArgument(
        "the candidates objective needs lesion maps (<name>_lesion_mask.nii.gz beside the volumes, as tools/synth "
        "writes them); no training study has one (switch it off to train the rest without)");
  }
  if (o.only_evidence && !m.architecture.readout) {
    return Status::InvalidArgument("training the evidence path alone needs a readout (architecture.readout)");
  }
  std::vector<DiseasePrompts> catalog = o.catalog;
  if (catalog.empty()) {
    for (const auto& d : m.diseases) catalog.push_back(DefaultPromptsFor(d));
  }
  if (catalog.size() != m.diseases.size()) {
    return Status::InvalidArgument("the catalog has " + std::to_string(catalog.size()) + " diseases, the model " +
                                   std::to_string(m.diseases.size()));
  }
  for (size_t k = 0; k < catalog.size(); ++k) {
    if (catalog[k].positive.empty() || catalog[k].negative.empty()) {
      return Status::InvalidArgument("catalog entry '" + catalog[k].name + "' needs a positive and a negative phrase");
    }
  }
  CTDB_ASSIGN_OR_RETURN(auto tokenizer, WordPiece::FromTokens(o.vocab, m.tokenizer));
  std::error_code ec;
  const std::string ckpt = o.out + "/checkpoint";
  fs::create_directories(ckpt, ec);
  if (ec) return Status::IOError("cannot create " + ckpt + ": " + ec.message());
  CTDB_RETURN_IF_ERROR(WriteVocab(o.out + "/" + m.vocab, o.vocab));

  TrainResult result;
  const auto t_start = std::chrono::steady_clock::now();
  Status status = CatchTorch("training", [&]() -> Status {
    const bool cuda = o.cuda && torch::cuda::is_available();
    const torch::Device device = cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
    result.device = cuda ? "cuda" : "cpu";
    torch::manual_seed(o.seed);
    ClipModel model(m, static_cast<int64_t>(o.vocab.size()));
    model->to(device);
    model->train();
    // The readout's weights and the evidence directions learn at their own
    // rate, without decay (a second group; see TrainOptions::readout_lr).
    std::vector<torch::Tensor> base_params, evidence_params;
    for (auto& p : model->named_parameters()) {
      const bool ev = m.architecture.readout && IsEvidenceParameter(p.key());
      (ev ? evidence_params : base_params).push_back(p.value());
      // Frozen: no gradient is computed for it, and AdamW skips a parameter
      // without one (weight decay included).
      if (o.only_evidence && !ev) p.value().set_requires_grad(false);
    }
    if (o.only_evidence) {
      // The frozen part computes as at inference: its batch norms use (and
      // keep) their running statistics. The evidence path's own
      // normalizations go on learning theirs.
      model->eval();
      for (auto& mod : model->named_modules()) {
        for (const char* name : {"image.readout_norm", "image.blob_norm", "image.candidate_norm", "image.candidate_net"}) {
          if (mod.key() == name) mod.value()->train();
        }
      }
    }
    std::vector<torch::optim::OptimizerParamGroup> groups;
    groups.emplace_back(base_params, std::make_unique<torch::optim::AdamWOptions>(
                                         torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay)));
    if (!evidence_params.empty()) {
      groups.emplace_back(evidence_params, std::make_unique<torch::optim::AdamWOptions>(
                                               torch::optim::AdamWOptions(o.readout_lr).weight_decay(0)));
    }
    torch::optim::AdamW opt(groups, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay));
    const int64_t n = static_cast<int64_t>(data.studies.size());
    const int64_t per_epoch = (n + o.batch - 1) / o.batch;
    const int64_t total = per_epoch * o.epochs;
    int64_t step = 0;
    if (!m.diseases.empty()) {
      // Label biases start at each disease's log-odds in the training set:
      // Adam moves a bias ~lr per step, far too slowly to find -2 from 0.
      // So do the detector head's (a head added to a trained model keeps them).
      torch::NoGradGuard ng;
      auto log_odds = torch::empty({static_cast<int64_t>(m.diseases.size())});
      for (size_t k = 0; k < m.diseases.size(); ++k) {
        double pos = 0;
        for (const auto& s : data.studies) pos += s.labels[k];
        const double p = (pos + 1) / (static_cast<double>(n) + 2);
        log_odds[static_cast<int64_t>(k)] = std::log(p / (1 - p));
      }
      model->label_global_b.copy_(log_odds.to(device));
      model->label_token_b.copy_(log_odds.to(device));
      model->image->InitDetectBias(log_odds);
    }
    if (fs::exists(ckpt + "/state.txt")) {
      step = ReadState(ckpt);
      torch::load(model, ckpt + "/model.pt", device);
      torch::load(opt, ckpt + "/optimizer.pt", device);
      result.resumed_from = step;
    } else if (!o.init_weights.empty()) {
      // Replaces the label biases set above too: the trained ones fit better.
      if (!fs::exists(o.init_weights)) return Status::NotFound("no weights to start from at " + o.init_weights);
      // LibTorch's load takes each named tensor as stored, whatever its
      // shape: compare with this layout's before training on a mismatch.
      ClipModel source = o.init_manifest ? ClipModel(*o.init_manifest, static_cast<int64_t>(o.vocab.size())) : model;
      const auto want = TensorShapes(*source);
      torch::load(source, o.init_weights, device);
      const auto got = TensorShapes(*source);
      for (size_t i = 0; i < want.size(); ++i) {
        if (got[i] != want[i]) {
          return Status::InvalidArgument(o.init_weights + " does not fit this layout: " + got[i].first +
                                         " has another shape; start from a model of the same manifest and vocabulary");
        }
      }
      if (o.init_manifest && o.init_manifest->architecture.stem.size() == m.architecture.stem.size()) {
        // Same grid: the new layout only adds (a detector head, peak skips); the rest moves over as is.
        CTDB_RETURN_IF_ERROR(CopyShared(source, model));
      } else if (o.init_manifest) {
        // The first studies, as they are, set the new stage's normalization.
        const int64_t k = std::min<int64_t>(n, 16);
        auto sample = torch::empty({k, 1, m.preprocess.size[2], m.preprocess.size[1], m.preprocess.size[0]});
        for (int64_t i = 0; i < k; ++i) data.studies[static_cast<size_t>(i)].volume.Unpack(sample[i].data_ptr<float>());
        CTDB_RETURN_IF_ERROR(GrowFromCoarser(source, model, m, sample));
      }
      result.initialized = true;
    }
    const auto grid = TokenGrid(m);
    const int64_t tokens = grid[0] * grid[1] * grid[2];
    const int64_t vox = m.preprocess.size[0] * m.preprocess.size[1] * m.preprocess.size[2];
    std::map<std::string, double> epoch_sum;
    int64_t epoch_steps = 0;
    std::vector<int64_t> order;  // this epoch's study order
    int order_epoch = -1;

    for (; step < total; ++step) {
      const int epoch = static_cast<int>(step / per_epoch);
      const int64_t within = step % per_epoch;
      if (within == 0) {
        epoch_sum.clear();
        epoch_steps = 0;
      }
      // The epoch's order depends only on (seed, epoch): a resumed run sees the same batches.
      if (epoch != order_epoch) {
        order = EpochOrder(data.studies, o.seed, epoch, o.objectives.hard_negatives);
        order_epoch = epoch;
      }
      std::vector<const TrainStudy*> batch;
      for (int64_t i = within * o.batch; i < std::min(n, (within + 1) * o.batch); ++i) {
        batch.push_back(&data.studies[static_cast<size_t>(order[static_cast<size_t>(i)])]);
      }
      if (batch.size() < 2) continue;  // a lone study has nothing to contrast with
      std::mt19937_64 rng(o.seed * 1000003 + static_cast<uint64_t>(step));
      const int64_t b = static_cast<int64_t>(batch.size());

      // Learning rate: linear warm-up, then cosine decay to 5%.
      double lr = o.lr;
      if (step < o.warmup_steps) {
        lr = o.lr * static_cast<double>(step + 1) / o.warmup_steps;
      } else {
        const double p = static_cast<double>(step - o.warmup_steps) / std::max<int64_t>(1, total - o.warmup_steps);
        lr = o.lr * (0.05 + 0.95 * 0.5 * (1 + std::cos(M_PI * p)));
      }
      for (size_t g = 0; g < opt.param_groups().size(); ++g) {
        static_cast<torch::optim::AdamWOptions&>(opt.param_groups()[g].options()).lr(g == 0 ? lr : lr / o.lr * o.readout_lr);
      }

      auto x = torch::empty({b, 1, m.preprocess.size[2], m.preprocess.size[1], m.preprocess.size[0]});
      // Each study's augmentation draws from its own seed, so the studies
      // are prepared in parallel and a resumed run still sees the same batch.
      std::vector<uint64_t> seeds(static_cast<size_t>(b));
      for (auto& sd : seeds) sd = rng();
      std::vector<std::array<int64_t, 2>> shifts(static_cast<size_t>(b), {0, 0});
      at::parallel_for(0, b, 1, [&](int64_t lo, int64_t hi) {
        std::vector<float> unpacked(o.objectives.augment_volumes ? static_cast<size_t>(vox) : 0);
        for (int64_t i = lo; i < hi; ++i) {
          float* dst = x.data_ptr<float>() + i * vox;
          if (o.objectives.augment_volumes) {
            batch[static_cast<size_t>(i)]->volume.Unpack(unpacked.data());
            std::mt19937_64 study_rng(seeds[static_cast<size_t>(i)]);
            shifts[static_cast<size_t>(i)] =
                AugmentVolume(unpacked.data(), dst, {m.preprocess.size[2], m.preprocess.size[1], m.preprocess.size[0]},
                              m.preprocess.pad_value, study_rng);
          } else {
            batch[static_cast<size_t>(i)]->volume.Unpack(dst);
          }
        }
      });
      ImageOutput img = model->image->forward(x.to(device));

      // Texts: the (augmented) reports, then the sentences the objectives use.
      std::vector<std::string> texts;
      for (const auto* s : batch) texts.push_back(o.objectives.augment ? AugmentReport(*s, rng) : s->findings + "\n" + s->impression);
      std::vector<Pick> picks;
      std::uniform_real_distribution<double> u(0, 1);
      for (int64_t i = 0; i < b; ++i) {
        int used = 0;
        for (const auto& ts : batch[static_cast<size_t>(i)]->sentences) {
          if (used >= kMaxSentencesPerStudy) break;
          const bool wanted = (o.objectives.disease && ts.disease >= 0 && ts.existence >= 0) ||
                              (o.objectives.localization && ts.slab >= 0) || (o.objectives.anatomy && ts.organs);
          if (!wanted) continue;
          Pick p{static_cast<int>(i), ts.disease, ts.existence, ts.organs, ts.slab, ts.text, ts.region};
          // Diagnosis-aware prompts: sometimes say it the catalog's way.
          if (o.objectives.augment && p.disease >= 0 && p.existence >= 0 && p.slab < 0 && u(rng) < 0.3) {
            const auto& ph = p.existence ? catalog[static_cast<size_t>(p.disease)].positive
                                         : catalog[static_cast<size_t>(p.disease)].negative;
            if (!ph.empty()) {
              p.text = ph[static_cast<size_t>(rng() % ph.size())];
              p.region.clear();
            }
          }
          picks.push_back(std::move(p));
          ++used;
        }
      }
      for (const auto& p : picks) texts.push_back(p.text);
      // The catalog's phrases, in the same batch (one set of normalization
      // statistics): the label objective scores with their prototypes.
      const bool label_loss = o.objectives.labels && !m.diseases.empty();
      const int64_t phrases_at = static_cast<int64_t>(texts.size());
      if (label_loss) {
        for (const auto& d : catalog) {
          texts.insert(texts.end(), d.positive.begin(), d.positive.end());
          texts.insert(texts.end(), d.negative.begin(), d.negative.end());
        }
      }
      // Grouped by length: the catalog's short phrases are not padded to the reports.
      auto emb = model->text->forward(TokenizeByLength(*tokenizer, texts, static_cast<int>(m.max_tokens)), device);
      auto rep = emb.slice(0, 0, b);
      auto sent = emb.slice(0, b, phrases_at);
      auto scale = model->logit_scale.exp().clamp_max(100);
      auto opts = torch::TensorOptions().device(device);

      std::map<std::string, torch::Tensor> losses;
      if (o.objectives.siglip) {
        auto logits = scale * img.global.matmul(rep.t()) + model->siglip_bias;
        auto z = torch::full({b, b}, -1.0, opts) + 2 * torch::eye(b, opts);
        auto w = torch::ones({b, b}, opts);
        if (o.objectives.false_negatives) {
          for (int64_t i = 0; i < b; ++i) {
            for (int64_t j = 0; j < b; ++j) {
              if (i != j && SameFindings(*batch[static_cast<size_t>(i)], *batch[static_cast<size_t>(j)])) {
                w[i][j] = 0;  // same findings: not a negative
              }
            }
          }
        }
        losses["siglip"] = -(torch::log_sigmoid(z * logits) * w).sum() / b;
      }
      if (o.objectives.disease) {
        std::vector<torch::Tensor> parts;
        for (int64_t k = 0; k < static_cast<int64_t>(m.diseases.size()); ++k) {
          std::vector<int64_t> cols;
          for (size_t p = 0; p < picks.size(); ++p) {
            if (picks[p].disease == k && picks[p].existence >= 0) cols.push_back(static_cast<int64_t>(p));
          }
          if (cols.empty()) continue;
          auto s = sent.index_select(0, torch::tensor(cols, torch::kLong).to(device));
          auto v = img.diseases.select(1, k);  // (B, d)
          auto logits = scale * v.matmul(s.t()) + model->disease_bias;
          auto z = torch::empty({b, static_cast<int64_t>(cols.size())});
          for (int64_t i = 0; i < b; ++i) {
            for (size_t c = 0; c < cols.size(); ++c) {
              const Pick& p = picks[static_cast<size_t>(cols[c])];
              bool same = o.objectives.false_negatives
                              ? batch[static_cast<size_t>(i)]->labels[static_cast<size_t>(k)] == p.existence
                              : p.study == i;
              if (same && o.objectives.attributes && p.existence == 1 && !p.region.empty() && p.study != i) {
                same = StatesIn(*batch[static_cast<size_t>(i)], p.disease, p.region);
              }
              z[i][static_cast<int64_t>(c)] = same ? 1.0 : -1.0;
            }
          }
          parts.push_back(SigmoidPairLoss(logits, z.to(device), torch::ones_like(logits)));
        }
        if (!parts.empty()) losses["disease"] = torch::stack(parts).mean();
      }
      if (o.objectives.localization) {
        std::vector<torch::Tensor> parts;
        for (size_t p = 0; p < picks.size(); ++p) {
          if (picks[p].slab < 0 || picks[p].slab >= img.slabs.size(1)) continue;
          auto sims = scale * img.slabs[picks[p].study].matmul(sent[static_cast<int64_t>(p)]);  // (S)
          parts.push_back(torch::nn::functional::cross_entropy(
              sims.unsqueeze(0), torch::tensor({static_cast<int64_t>(picks[p].slab)}, torch::kLong).to(device)));
        }
        if (!parts.empty()) losses["localization"] = torch::stack(parts).mean();
      }
      if (o.objectives.anatomy) {
        std::vector<torch::Tensor> feats;
        std::vector<int64_t> rows;
        for (size_t p = 0; p < picks.size(); ++p) {
          const TrainStudy& st = *batch[static_cast<size_t>(picks[p].study)];
          if (!picks[p].organs || st.organ_tokens.empty()) continue;
          std::vector<float> w(static_cast<size_t>(tokens), 0.0f);
          for (int organ = 0; organ < kNumOrgans; ++organ) {
            if (!(picks[p].organs & (1 << organ))) continue;
            for (int64_t t = 0; t < tokens; ++t) w[static_cast<size_t>(t)] += st.organ_tokens[static_cast<size_t>(organ * tokens + t)];
          }
          double sum = 0;
          for (float x2 : w) sum += x2;
          if (sum < 1e-3) continue;
          auto wt = torch::from_blob(w.data(), {tokens}).clone().to(device) / static_cast<float>(sum);
          auto tok = img.tokens[picks[p].study].reshape({tokens, -1});  // (T, C)
          feats.push_back(wt.matmul(tok));
          rows.push_back(static_cast<int64_t>(p));
        }
        if (feats.size() >= 2) {
          auto f = model->image->Project(torch::stack(feats));
          auto s = sent.index_select(0, torch::tensor(rows, torch::kLong).to(device));
          const int64_t r = static_cast<int64_t>(rows.size());
          auto logits = scale * f.matmul(s.t()) + model->anatomy_bias;
          auto z = torch::full({r, r}, -1.0, opts) + 2 * torch::eye(r, opts);
          auto w = torch::ones({r, r});
          for (int64_t i = 0; i < r; ++i) {
            for (int64_t j = 0; j < r; ++j) {
              const Pick &pi = picks[static_cast<size_t>(rows[static_cast<size_t>(i)])],
                         &pj = picks[static_cast<size_t>(rows[static_cast<size_t>(j)])];
              // The same words about the same organs in another study are no negative.
              if (i != j && o.objectives.false_negatives && pi.text == pj.text && pi.organs == pj.organs) w[i][j] = 0;
            }
          }
          losses["anatomy"] = SigmoidPairLoss(logits, z, w.to(device));
        }
      }
      if (o.objectives.lesions && img.disease_attention.defined()) {
        // Attention mass on the tokens holding the lesion (any part of it:
        // a 3 mm nodule fills a few percent of one token's block).
        std::vector<torch::Tensor> parts;
        for (int64_t i = 0; i < b; ++i) {
          for (const auto& l : batch[static_cast<size_t>(i)]->lesions) {
            if (l.disease < 0 || l.disease >= img.disease_attention.size(1) ||
                static_cast<int64_t>(l.tokens.size()) != img.disease_attention.size(2)) {
              continue;
            }
            std::vector<float> on(l.tokens.size());
            for (size_t t = 0; t < on.size(); ++t) on[t] = l.tokens[t] > 1e-4f ? 1.0f : 0.0f;
            auto mass = (img.disease_attention[i][l.disease] * torch::from_blob(on.data(), {static_cast<int64_t>(on.size())}).clone().to(device)).sum();
            parts.push_back(-torch::log(mass + 1e-6));
          }
        }
        if (!parts.empty()) losses["lesions"] = torch::stack(parts).mean();
      }
      if (o.objectives.candidates && img.candidate_logits.defined()) {
        // Each candidate against the lesion map (shifted as the volume was),
        // in the studies that have one.
        const std::array<int64_t, 3> input{m.preprocess.size[2], m.preprocess.size[1], m.preprocess.size[0]};
        const auto f = BlobPoolFactors(SpacingZyx(m), m.architecture.blobs);
        auto cells = torch::zeros({b, input[0] / f[0], input[1] / f[1], input[2] / f[2]});
        auto has_map = torch::zeros({b, 1});
        const int64_t per = cells[0].numel();
        for (int64_t i = 0; i < b; ++i) {
          const TrainStudy& st = *batch[static_cast<size_t>(i)];
          if (!st.lesion_map) continue;
          has_map[i][0] = 1;
          AddLesionCells(st.candidate_voxels, st.candidate_fractions, input, shifts[static_cast<size_t>(i)], f,
                         cells.data_ptr<float>() + i * per);
        }
        // A site counts as the nodule where a twentieth of a filter voxel
        // next to it is nodule (a 2 mm nodule fills ~0.15 of a 1.5 mm voxel).
        const auto target = CandidateTargets(cells, img.candidate_sites).gt(0.05).to(torch::kFloat).to(device);
        const auto weight = img.candidate_valid.to(torch::kFloat) * has_map.to(device);
        const auto used = weight.sum();
        if (used.item<double>() > 0) {
          namespace F = torch::nn::functional;
          losses["candidates"] = F::binary_cross_entropy_with_logits(
                                     img.candidate_logits, target,
                                     F::BinaryCrossEntropyWithLogitsFuncOptions()
                                         .weight(weight)
                                         .pos_weight(torch::full({1}, 5.0f, opts))
                                         .reduction(torch::kSum)) /
                                 used;
        }
      }
      if (label_loss) {
        // Zero-shot scoring made the training target: logit = 10 * e . w_k
        // / |w_k| + b_k with w_k = p+ - p-, the mean embeddings of the
        // catalog's positive and negative phrases, exactly as `ctdb eval` and
        // disease search score. A free probe (the first version) trained
        // directions the prototypes need not follow; tied, the gradient also
        // moves the text tower's phrases toward what the image tower sees.
        const int64_t k = static_cast<int64_t>(m.diseases.size());
        std::vector<torch::Tensor> dirs;
        int64_t at = phrases_at;
        for (const auto& d : catalog) {
          const auto npos = static_cast<int64_t>(d.positive.size()), nneg = static_cast<int64_t>(d.negative.size());
          dirs.push_back(emb.slice(0, at, at + npos).mean(0) - emb.slice(0, at + npos, at + npos + nneg).mean(0));
          at += npos + nneg;
        }
        namespace F = torch::nn::functional;
        auto w = F::normalize(torch::stack(dirs), F::NormalizeFuncOptions().dim(-1).eps(1e-8));  // (K, d)
        std::vector<float> labels;
        for (const auto* st : batch) labels.insert(labels.end(), st->labels.begin(), st->labels.end());
        auto y = torch::from_blob(labels.data(), {b, k}).clone().to(device);
        auto global_logits = 10 * img.global.matmul(w.t()) + model->label_global_b;
        auto token_logits = 10 * (img.diseases * w.unsqueeze(0)).sum(-1) + model->label_token_b;
        // The report says what the labels say (CT-RATE's labels come from
        // the reports): scored the same way, reports and volumes meet along
        // the same directions, which SigLIP alone (reports sharing most
        // sentences) did not find.
        auto report_logits = 10 * rep.matmul(w.t()) + model->label_global_b;
        losses["labels"] = torch::binary_cross_entropy_with_logits(global_logits, y) +
                           torch::binary_cross_entropy_with_logits(token_logits, y) +
                           torch::binary_cross_entropy_with_logits(report_logits, y);
        // The detector head's scores against the same labels: a direct
        // signal for the small findings, whose evidence reaches the
        // embeddings (and so zero-shot scoring) through the terms above.
        if (img.evidence.defined()) losses["detect"] = torch::binary_cross_entropy_with_logits(img.evidence, y);
        // Distinct diseases, distinct directions. "Consolidation." and "No
        // consolidation." share the disease word, so p+ - p- starts out as
        // the direction of "no" for every disease: the shipped model's
        // consolidation, atelectasis, medical material and bronchiectasis
        // directions had cosines 0.6-0.8, one shared "abnormal" axis that no
        // image can score per disease. Squared off-diagonal cosines push the
        // text tower to bind the negation to its finding.
        auto gram = w.matmul(w.t());
        auto off = 1 - torch::eye(k, opts);
        losses["prompts"] = (gram * gram * off).sum() / std::max<int64_t>(1, k * (k - 1));
      }
      if (losses.empty()) continue;
      torch::Tensor loss = torch::zeros({}, opts);
      for (auto& [name, l] : losses) loss = loss + l;
      opt.zero_grad();
      loss.backward();
      torch::nn::utils::clip_grad_norm_(model->parameters(), 1.0);
      opt.step();

      TrainOptions::Progress pr;
      {
        torch::NoGradGuard ng;
        auto off_diag = [b](const torch::Tensor& e) {
          auto g = e.matmul(e.t());
          return ((g.sum() - g.diagonal().sum()) / static_cast<double>(b * (b - 1))).item<double>();
        };
        pr.image_cos = off_diag(img.global);
        pr.text_cos = off_diag(rep);
      }
      pr.epoch = epoch + 1;
      pr.epochs = o.epochs;
      pr.step = step + 1;
      pr.steps = total;
      for (auto& [name, l] : losses) {
        pr.losses[name] = l.item<double>();
        epoch_sum[name] += pr.losses[name];
      }
      pr.losses["total"] = loss.item<double>();
      epoch_sum["total"] += pr.losses["total"];
      ++epoch_steps;
      const bool stopping = o.stop_at_step > 0 && step + 1 >= o.stop_at_step && step + 1 < total;
      if (within + 1 == per_epoch || stopping) {
        torch::save(model, ckpt + "/model.pt");
        torch::save(opt, ckpt + "/optimizer.pt");
        Status s = WriteState(ckpt, step + 1);
        if (!s.ok()) return s;
        pr.checkpointed = true;
        result.final_losses.clear();
        for (auto& [name, v] : epoch_sum) result.final_losses[name] = v / static_cast<double>(epoch_steps);
      }
      if (o.progress) o.progress(pr);
      if (stopping) {
        result.steps = step + 1;
        return Status::Ok();
      }
    }
    result.steps = total;
    result.finished = true;
    model->to(torch::kCPU);
    model->eval();
    torch::save(model, o.out + "/" + m.weights);
    return Status::Ok();
  });
  if (!status.ok()) return status;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

}  // namespace ctdb::embed
