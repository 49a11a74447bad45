#include "embed/train_data.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <mutex>
#include <thread>

#include "embed/ctrate.h"
#include "embed/native_model.h"
#include "embed/nodule_candidates.h"
#include "embed/preprocess.h"
#include "embed/report_parser.h"

namespace ctdb::embed {
namespace {

// The fraction of each model-grid voxel that is `code` in the label map,
// with the volume's own preprocessing; empty when it fails.
std::vector<float> LabelVoxels(const Volume& mask, const ModelManifest& m, int code) {
  PreprocessSpec spec = m.preprocess;
  spec.hu_min = 0;
  spec.hu_max = 1;
  spec.offset = 0;
  spec.divisor = 1;
  spec.pad_value = 0;
  Volume ind = mask;
  for (size_t i = 0; i < ind.hu.size(); ++i) ind.hu[i] = std::lround(mask.hu[i]) == code ? 1.0f : 0.0f;
  auto t = Preprocess(ind, spec);
  if (!t.ok()) return {};
  return std::move(t->data);
}

// Model-grid fractions (LabelVoxels) averaged over each token's block of
// voxels: tokens floats.
std::vector<float> TokenFractions(const std::vector<float>& voxels, const ModelManifest& m) {
  const auto grid = TokenGrid(m);
  const int64_t tz = grid[0], ty = grid[1], tx = grid[2];
  const int64_t sz = m.preprocess.size[2] / tz, sy = m.preprocess.size[1] / ty, sx = m.preprocess.size[0] / tx;
  const int64_t nx = m.preprocess.size[0], ny = m.preprocess.size[1];
  std::vector<float> out(static_cast<size_t>(tz * ty * tx), 0.0f);
  if (voxels.empty()) return out;
  const float inv = 1.0f / static_cast<float>(sz * sy * sx);
  for (int64_t z = 0; z < m.preprocess.size[2]; ++z) {
    for (int64_t y = 0; y < ny; ++y) {
      for (int64_t x = 0; x < nx; ++x) {
        const float v = voxels[static_cast<size_t>((z * ny + y) * nx + x)];
        if (v != 0) out[static_cast<size_t>(((z / sz) * ty + y / sy) * tx + x / sx)] += v * inv;
      }
    }
  }
  return out;
}

Result<TrainStudy> LoadOne(const CtRateStudy& s, const ModelManifest& m) {
  CTDB_ASSIGN_OR_RETURN(Volume v, ReadCtRateVolume(s));
  CTDB_ASSIGN_OR_RETURN(Tensor3 t, Preprocess(v, m.preprocess));
  TrainStudy st;
  st.key = s.key;
  st.volume = PackedVolume::Pack(t.data);
  st.findings = s.findings;
  st.impression = s.impression;
  for (const auto& d : m.diseases) {
    st.labels.push_back(std::find(s.labels.begin(), s.labels.end(), d) != s.labels.end());
  }
  const ParsedReport parsed = ParseReport(s.findings + "\n" + s.impression);
  st.sentences.resize(parsed.sentences.size());
  for (size_t i = 0; i < parsed.sentences.size(); ++i) st.sentences[i].text = RemoveSliceReferences(parsed.sentences[i]);
  for (const auto& f : parsed.findings) {
    TrainSentence& ts = st.sentences[f.sentence];
    if (ts.disease >= 0) continue;  // the sentence's first statement names it
    auto it = std::find(m.diseases.begin(), m.diseases.end(), f.finding);
    if (it == m.diseases.end()) continue;
    ts.disease = static_cast<int>(it - m.diseases.begin());
    ts.existence = f.existence == Existence::kPresent ? 1 : f.existence == Existence::kAbsent ? 0 : -1;
    ts.organs = OrgansOfRegion(f.region);
    ts.region = f.region;
  }
  // "(series 2, image N)": stored slice N - 1 -> patient z -> nearest model slice -> slab.
  const int64_t per_slab = SlabSlices(m);
  const auto& a = v.ijk_to_ras;
  const double ci = (static_cast<double>(v.shape[0]) - 1) / 2, cj = (static_cast<double>(v.shape[1]) - 1) / 2;
  for (const auto& ref : parsed.references) {
    if (ref.sentence >= st.sentences.size() || ref.slice_index() < 0 || ref.slice_index() >= v.shape[2]) continue;
    const double z = a[2][0] * ci + a[2][1] * cj + a[2][2] * ref.slice_index() + a[2][3];
    int64_t best = -1;
    double best_d = 1e30;
    for (size_t k = 0; k < t.slice_z_mm.size(); ++k) {
      const double d = std::abs(t.slice_z_mm[k] - z);
      if (t.slice_inside[k] && d < best_d) best_d = d, best = static_cast<int64_t>(k);
    }
    if (best >= 0 && best_d <= m.preprocess.spacing_mm[2]) {
      st.sentences[ref.sentence].slab = static_cast<int>(best / per_slab);
    }
  }
  // Label maps hold codes, not HU: read them without the CSV's rescale.
  auto read_map = [&](const std::string& path) {
    CtRateStudy ms = s;
    ms.path = path;
    ms.rescale_slope.reset();
    ms.rescale_intercept.reset();
    return ReadCtRateVolume(ms);
  };
  if (!s.mask_path.empty()) {
    auto mask = read_map(s.mask_path);
    for (int organ = 1; mask.ok() && organ <= kNumOrgans; ++organ) {
      const std::vector<float> fractions = TokenFractions(LabelVoxels(*mask, m, organ), m);
      st.organ_tokens.insert(st.organ_tokens.end(), fractions.begin(), fractions.end());
    }
  }
  if (!s.lesion_mask_path.empty()) {
    auto lesions = read_map(s.lesion_mask_path);
    if (!lesions.ok()) return lesions.status();
    st.lesion_map = true;
    for (size_t d = 0; d < m.diseases.size(); ++d) {
      const int column = CtRateLabelColumn(m.diseases[d]);
      if (!st.labels[d] || column < 0) continue;
      // The lesion map's code of a finding is 1 + its CT-RATE column.
      const std::vector<float> voxels = LabelVoxels(*lesions, m, column + 1);
      if (m.diseases[d] == kCandidateDisease) {
        for (size_t i = 0; i < voxels.size(); ++i) {
          if (voxels[i] > 0) {
            st.candidate_voxels.push_back(static_cast<uint32_t>(i));
            st.candidate_fractions.push_back(voxels[i]);
          }
        }
      }
      TrainStudy::Lesion l{static_cast<int>(d), TokenFractions(voxels, m)};
      double sum = 0;
      for (float f : l.tokens) sum += f;
      if (sum > 0) st.lesions.push_back(std::move(l));  // drawn over, or between the grid's samples: none
    }
  }
  return st;
}

}  // namespace

PackedVolume PackedVolume::Pack(const std::vector<float>& v) {
  PackedVolume p;
  p.q.resize(v.size());
  if (v.empty()) return p;
  const auto [mn, mx] = std::minmax_element(v.begin(), v.end());
  p.lo = *mn;
  p.step = (*mx - *mn) / 65535.0f;
  const float inv = p.step > 0 ? 1.0f / p.step : 0.0f;
  for (size_t i = 0; i < v.size(); ++i) {
    p.q[i] = static_cast<int16_t>(std::lround(std::clamp((v[i] - p.lo) * inv, 0.0f, 65535.0f)) - 32768);
  }
  return p;
}

void PackedVolume::Unpack(float* out) const {
  for (size_t i = 0; i < q.size(); ++i) out[i] = lo + step * static_cast<float>(static_cast<int32_t>(q[i]) + 32768);
}

std::vector<float> PackedVolume::Unpack() const {
  std::vector<float> out(q.size());
  Unpack(out.data());
  return out;
}

int OrgansOfRegion(const std::string& region) {
  auto has = [&](const char* w) { return region.find(w) != std::string::npos; };
  constexpr int kRight = 1, kLeft = 2, kHeart = 4, kAorta = 8, kMediastinum = 16;
  if (has("coronary") || has("heart") || has("pericardi") || has("cardiac")) return kHeart;
  if (has("aort")) return kAorta;
  if (has("mediastin") || has("esophag") || has("hiatus") || has("hilar") || has("lymph")) return kMediastinum;
  const bool right = has("right"), left = has("left");
  if (right && !left) return kRight;
  if (left && !right) return kLeft;
  if (has("lung") || has("lobe") || has("pleura") || has("airway") || has("bronch") || has("parenchyma") ||
      has("bilateral") || (right && left)) {
    return kRight | kLeft;
  }
  return 0;
}

Result<TrainingSet> LoadTrainingSet(const std::string& root, const std::string& split, size_t limit,
                                    const ModelManifest& manifest, int threads,
                                    const std::function<void(size_t, size_t)>& progress) {
  CTDB_ASSIGN_OR_RETURN(std::vector<CtRateStudy> all, ScanCtRate(root));
  std::vector<CtRateStudy> chosen;
  for (auto& s : all) {
    if ((split.empty() || s.split == split) && (limit == 0 || chosen.size() < limit)) chosen.push_back(std::move(s));
  }
  if (chosen.empty()) return Status::InvalidArgument("no studies in split '" + split + "' under " + root);
  TrainingSet set;
  std::vector<Result<TrainStudy>> loaded(chosen.size(), Status::Internal("not loaded"));
  std::atomic<size_t> next{0}, done{0};
  std::mutex progress_mu;
  std::vector<std::thread> pool;
  const int n = std::max(1, threads > 0 ? threads : static_cast<int>(std::thread::hardware_concurrency()));
  for (int t = 0; t < n; ++t) {
    pool.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < chosen.size();) {
        loaded[i] = LoadOne(chosen[i], manifest);
        const size_t d = ++done;
        if (progress) {
          std::lock_guard<std::mutex> lock(progress_mu);
          progress(d, chosen.size());
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  for (size_t i = 0; i < loaded.size(); ++i) {
    if (loaded[i].ok()) {
      set.studies.push_back(std::move(loaded[i]).value());
    } else {
      ++set.skipped;
      if (set.problems.size() < 10) set.problems.push_back(chosen[i].key + ": " + loaded[i].status().ToString());
    }
  }
  if (set.studies.empty()) return Status::InvalidArgument("no study could be read: " + set.problems.front());
  return set;
}

}  // namespace ctdb::embed
