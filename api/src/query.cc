#include "ctdb/query.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <map>
#include <mutex>
#include <set>

#include "api/src/ascii.h"
#include "api/src/calibration.h"
#include "api/src/study_pipeline.h"
#include "index/fast_flat.h"
#include "embed/report_parser.h"

namespace ctdb {
namespace {

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  return index::InnerProduct(a.data(), b.data(), std::min(a.size(), b.size()));
}

std::vector<float> Normalized(std::vector<float> v) {
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  n = std::sqrt(n);
  if (n > 0) {
    for (float& x : v) x = static_cast<float>(x / n);
  }
  return v;
}

std::vector<float> MeanNormalized(const std::vector<std::vector<float>>& vs) {
  if (vs.empty()) return {};
  std::vector<float> m(vs[0].size(), 0.0f);
  for (const auto& v : vs) {
    for (size_t i = 0; i < m.size() && i < v.size(); ++i) m[i] += v[i];
  }
  return Normalized(std::move(m));
}

// A hit deleted between the index search and reading it back: skipped
// (searches run concurrently with deletes), so a page may come back short.
bool Gone(const Status& s) { return s.IsNotFound(); }

float Sigmoid(double x) { return static_cast<float>(1.0 / (1.0 + std::exp(-x))); }

// The side a report region names as the sign of LPS x (+1 left, -1
// right), 0 for none or both ("both lungs", "mediastinum").
int SideOf(const std::string& region) {
  if (region.rfind("right", 0) == 0) return -1;
  if (region.rfind("left", 0) == 0 || region == "lingula") return 1;
  return 0;
}

// The lung zone a report region names by its lobe: the lower lobes, the
// middle lobe or lingula, the upper lobes; kAnyZone for none ("right
// lung", "bilateral").
enum Zone { kAnyZone, kLowerZone, kMiddleZone, kUpperZone };
Zone ZoneOf(const std::string& region) {
  if (region.find("lower lobe") != std::string::npos) return kLowerZone;
  if (region.find("middle lobe") != std::string::npos || region == "lingula") return kMiddleZone;
  if (region.find("upper lobe") != std::string::npos) return kUpperZone;
  return kAnyZone;
}

// Patient z (mm) of a study's lowest and highest slice, from the slice
// geometry ingest records (kExtraSliceZ "z0 dz" and the shape); nullopt
// when the record lacks it.
std::optional<std::pair<double, double>> ScanZRange(const StudyRecord& r) {
  auto it = r.extra.find(kExtraSliceZ);
  double z0 = 0, dz = 0;
  if (it == r.extra.end() || std::sscanf(it->second.c_str(), "%lf %lf", &z0, &dz) != 2 || r.shape[2] < 2 ||
      !std::isfinite(z0) || !std::isfinite(dz) || dz == 0) {
    return std::nullopt;
  }
  const double z1 = z0 + dz * static_cast<double>(r.shape[2] - 1);
  return std::pair{std::min(z0, z1), std::max(z0, z1)};
}

// The patient-z band (mm) of a zone in a scan spanning `range`: heights
// (-1 lowest slice, +1 highest) cut at the options' zone bounds. Unbounded
// for kAnyZone, an unknown range or zones turned off.
struct ZBand {
  double lo = -HUGE_VAL, hi = HUGE_VAL;
  bool Contains(double z) const { return z >= lo && z <= hi; }
};
ZBand ZoneBand(Zone zone, const std::optional<std::pair<double, double>>& range, const QueryEngineOptions& o) {
  ZBand b;
  if (zone == kAnyZone || !range || o.lower_zone_top >= o.upper_zone_bottom) return b;
  const double mid = (range->first + range->second) / 2, half = (range->second - range->first) / 2;
  const double lower_top = mid + o.lower_zone_top * half, upper_bottom = mid + o.upper_zone_bottom * half;
  if (zone == kLowerZone) b.hi = lower_top;
  if (zone == kMiddleZone) b.lo = lower_top, b.hi = upper_bottom;
  if (zone == kUpperZone) b.lo = upper_bottom;
  return b;
}

// What a model's detector says of a finding: whether it detects that
// finding at all, and its best detection on `side` (0 = either side)
// within `band` (patient z).
struct DetectorAnswer {
  bool detects = false;
  const Detection* best = nullptr;  // null: none on that side
};
DetectorAnswer BestDetection(const std::vector<Detection>& detections, const std::string& finding, int side,
                             const ZBand& band = {}) {
  DetectorAnswer a;
  for (const Detection& d : detections) {  // best first
    if (!AsciiEqualsIgnoreCase(d.finding, finding)) continue;
    a.detects = true;
    if (side != 0 && (d.position_mm[0] > 0 ? 1 : -1) != side) continue;
    if (!band.Contains(d.position_mm[2])) continue;
    a.best = &d;
    break;
  }
  return a;
}

// A disease's log-odds z as calibrated (DiseaseEntry::calibration_*).
double CalibratedLogit(const DiseaseEntry& e, double z) {
  return e.calibration_studies > 0 ? e.calibration_scale * z + e.calibration_bias : z;
}

const NamedFeature* FindNamed(const std::vector<NamedFeature>& fs, const std::string& name) {
  const std::string l = AsciiLower(name);
  for (const auto& f : fs) {
    if (AsciiLower(f.name) == l) return &f;
  }
  return nullptr;
}

// Whether a study's own labels name a disease (case aside).
bool HasLabel(const StudyRecord& rec, const std::string& disease) {
  return std::any_of(rec.labels.begin(), rec.labels.end(),
                     [&](const std::string& l) { return AsciiEqualsIgnoreCase(l, disease); });
}

Status CheckQuery(const QueryOptions& o) {
  if (o.k < 1 || o.k > 1000) return Status::InvalidArgument("k must be in [1, 1000]");
  if (o.offset > 10000) return Status::InvalidArgument("offset must be <= 10000");
  return Status::Ok();
}

SearchOptions ToSearch(const QueryOptions& o, size_t k, size_t offset) {
  SearchOptions s;
  s.k = k;
  s.offset = offset;
  s.filter = o.filter;
  s.exact = o.exact;
  return s;
}

class QueryEngineImpl final : public QueryEngine {
 public:
  QueryEngineImpl(Database* db, std::shared_ptr<Model> model, QueryEngineOptions o)
      : db_(db), model_(std::move(model)), options_(o) {}

  Status Init() {
    if (model_) {
      CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db_->Stats());
      if (!st.model_id.empty() && st.model_id != model_->id()) {
        return Status::FailedPrecondition("database was built with model " + st.model_id + ", not " + model_->id() +
                                          "; its vectors are not comparable (re-embed with `ctdb reembed`)");
      }
      if (model_->info().dimension != db_->dimension()) {
        return Status::InvalidArgument("model dimension " + std::to_string(model_->info().dimension) +
                                       " differs from the database's " + std::to_string(db_->dimension()));
      }
    }
    CTDB_ASSIGN_OR_RETURN(std::vector<DiseaseEntry> catalog, db_->ListDiseases());
    if (model_) {
      std::optional<std::vector<DiseasePrototype>> protos;
      if (catalog.empty()) {
        CTDB_ASSIGN_OR_RETURN(protos, model_->DiseasePhrases());
        for (const auto& p : *protos) {
          DiseaseEntry e;
          e.name = p.name;
          e.positive = p.positive;
          e.negative = p.negative;
          catalog.push_back(std::move(e));
        }
      }
      for (auto& e : catalog) {
        bool changed = false;
        if (e.model_id != model_->id() || e.positive_prototype.empty()) {
          if (e.model_id != model_->id()) {
            e.exemplar_positive.clear();  // image vectors of another model
            e.exemplar_negative.clear();
            e.exemplar_studies = 0;
            ClearCalibration(&e);  // that model's log-odds
          }
          CTDB_RETURN_IF_ERROR(Embed(&e));
          changed = true;
        }
        // The model's shipped calibration, for an uncalibrated entry with the
        // model's own phrases (new, re-embedded, or stored before the model
        // had one). Best effort: a model catalog that fails to load leaves
        // the entry as it is (the searches still work, uncalibrated).
        if (e.calibration_studies == 0) {
          if (!protos) {  // the phrases only: embedding them costs ~0.15 s per open
            auto got = model_->DiseasePhrases();
            protos = got.ok() ? std::move(got).value() : std::vector<DiseasePrototype>{};
          }
          for (const auto& p : *protos) {
            if (p.calibration_studies == 0 || p.name != e.name || p.positive != e.positive || p.negative != e.negative) {
              continue;
            }
            e.calibration_scale = p.calibration_scale;
            e.calibration_bias = p.calibration_bias;
            e.calibration_studies = p.calibration_studies;
            changed = true;
          }
        }
        if (changed) CTDB_RETURN_IF_ERROR(db_->PutDisease(e));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    catalog_ = std::move(catalog);
    return Status::Ok();
  }

  Result<QueryResult> SearchText(const std::string& text, const QueryOptions& o) override {
    static constexpr char kMeaning[] =
        "cosine similarity of the text's embedding and the study's global image embedding ([-1, 1], higher is "
        "closer); z_mm is the centre of the axial slab whose feature matches the text best, slab_score its cosine";
    const std::vector<StatedFinding> stated = options_.findings_weight > 0 ? StatedFindings(text)
                                                                           : std::vector<StatedFinding>{};
    if (stated.empty()) return SearchWithText(VectorKind::kImage, text, o, kMeaning, BestSlab);

    CTDB_RETURN_IF_ERROR(CheckQuery(o));
    // The sentences that state present findings (each matched with its
    // finding's token feature) and the attribute contrasts' texts, embedded
    // with the text in one call.
    std::vector<std::string> extra;
    for (const StatedFinding& f : stated) {
      if (f.present && options_.sentence_weight > 0) extra.push_back(f.sentence);
    }
    const size_t n_sentences = extra.size();
    ContrastPlan plan = PlanContrasts(stated);
    extra.insert(extra.end(), plan.texts.begin(), plan.texts.end());
    CTDB_ASSIGN_OR_RETURN(std::vector<std::vector<float>> embedded, EmbedTextAnd(text, extra));
    const std::vector<float> t = std::move(embedded[0]);
    const std::vector<std::vector<float>> sentence_vecs(embedded.begin() + 1,
                                                        embedded.begin() + 1 + static_cast<std::ptrdiff_t>(n_sentences));
    const std::vector<Contrast> contrasts = plan.Take(embedded, 1 + n_sentences);
    const size_t pool = std::min<size_t>(10000, std::max(options_.findings_pool, 10 * (o.k + o.offset)));
    CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(VectorKind::kImage, t, ToSearch(o, pool, 0)));
    struct Ranked {
      std::string key;
      float score;
    };
    // Catalog findings the text leaves unstated (read as absent when
    // unstated_weight > 0: an impression names what it sees).
    const std::vector<StatedFinding> unstated =
        options_.unstated_weight > 0 || options_.unstated_weight_uncalibrated > 0 ? OtherFindings(stated)
                                                                                  : std::vector<StatedFinding>{};
    std::vector<Ranked> ranked;
    std::set<std::string> detected;  // findings some candidate's detections answered
    // A finding stated in a lobe reads detections at its height: the
    // candidate's record gives the scan's z range (a fourth read).
    const bool zoned = options_.detection_weight > 0 && std::any_of(stated.begin(), stated.end(), [](const StatedFinding& f) {
                         return f.present && f.zone != kAnyZone;
                       });
    bool zones_used = false;
    for (const auto& h : hits) {
      auto vr = db_->GetDiseaseVectors(h.key);
      if (Gone(vr.status())) continue;
      CTDB_RETURN_IF_ERROR(vr.status());
      std::optional<std::pair<double, double>> z_range;
      if (zoned && !vr->detections.empty()) {
        auto rec = db_->GetRecord(h.key);
        if (Gone(rec.status())) continue;
        CTDB_RETURN_IF_ERROR(rec.status());
        z_range = ScanZRange(*rec);
      }
      // Up to 18 lookups per candidate: exact names first (the catalog's
      // own spelling), no copies; the cosine from the token's norm.
      auto token_of = [&](const std::string& name) -> const NamedFeature* {
        for (const auto& f : vr->diseases) {
          if (f.name == name) return &f;
        }
        return FindNamed(vr->diseases, name);
      };
      auto cosine = [&](const NamedFeature* token, const std::vector<float>& x) {
        if (token == nullptr) return Dot(vr->image, x);
        const float n = std::sqrt(Dot(token->vector, token->vector));
        return n > 0 ? Dot(token->vector, x) / n : 0.0f;
      };
      // The finding's log-odds from its token feature, mixed with its best
      // detection's where the model detects it (detections: best first),
      // on the side the text puts it when it names one.
      auto probability = [&](const StatedFinding& f) {
        double logit = CalibratedLogit(f.entry, f.entry.logit_scale * cosine(token_of(f.entry.name), f.direction));
        if (options_.detection_weight > 0) {
          const ZBand band = ZoneBand(f.zone, z_range, options_);
          const DetectorAnswer a = BestDetection(vr->detections, f.entry.name, f.side, band);
          if (a.detects) {  // none on the stated side (and zone) counts as score 0
            detected.insert(f.entry.name);
            zones_used |= band.lo > -HUGE_VAL || band.hi < HUGE_VAL;
            const double p = std::clamp<double>(a.best ? a.best->score : 0.0, 1e-4, 1 - 1e-4);
            logit = (1 - options_.detection_weight) * logit + options_.detection_weight * std::log(p / (1 - p));
          }
        }
        return std::clamp<double>(Sigmoid(logit), options_.probability_floor, 1 - options_.probability_floor);
      };
      double agree = 0, match = 0;
      size_t s = 0;
      for (const StatedFinding& f : stated) {
        const double p = probability(f);
        agree += std::log(f.present ? p : 1 - p);
        if (f.present && options_.sentence_weight > 0) {
          match += cosine(token_of(f.entry.name), sentence_vecs[s]);
          ++s;
        }
      }
      double score = h.score + options_.findings_weight * agree / static_cast<double>(stated.size());
      if (s > 0) score += options_.sentence_weight * match / static_cast<double>(s);
      if (!contrasts.empty()) {
        double sum = 0;
        for (const Contrast& c : contrasts) {
          double others = 0;
          for (const auto& v : c.variants) others += Dot(vr->image, v);
          sum += Dot(vr->image, c.sentence) - others / static_cast<double>(c.variants.size());
        }
        score += options_.attribute_weight * sum / static_cast<double>(contrasts.size());
      }
      if (!unstated.empty()) {
        double absent = 0;
        for (const StatedFinding& u : unstated) {
          const double w = u.entry.calibration_studies > 0 ? options_.unstated_weight
                                                           : options_.unstated_weight_uncalibrated;
          absent += w * std::log(1 - probability(u));
        }
        score += absent / static_cast<double>(unstated.size());
      }
      ranked.push_back({h.key, static_cast<float>(score)});
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) { return a.score > b.score; });
    QueryResult r;
    std::string names;
    for (const StatedFinding& f : stated) names += std::string(names.empty() ? "" : ", ") + (f.present ? "" : "no ") + f.entry.name;
    auto g = [](double x) {
      char b[32];
      std::snprintf(b, sizeof(b), "%g", x);
      return std::string(b);
    };
    r.score_meaning = "cosine similarity of the text's embedding and the study's global image embedding, plus " +
                      g(options_.findings_weight) + " x the mean log-probability of the findings the text states (" +
                      names + ")";
    if (!sentence_vecs.empty()) {
      r.score_meaning += ", plus " + g(options_.sentence_weight) +
                         " x the mean cosine of each sentence stating a present finding with that finding's "
                         "disease-token feature";
    }
    if (!contrasts.empty()) {
      std::string which;
      for (const Contrast& c : contrasts) which += std::string(which.empty() ? "" : ", ") + c.attribute;
      r.score_meaning += ", plus " + g(options_.attribute_weight) +
                         " x the mean, over the attributes its present findings' sentences state (" + which +
                         "), of the image embedding's cosine with the sentence minus that with the sentence so "
                         "changed";
    }
    if (!unstated.empty()) {
      const bool mixed = options_.unstated_weight != options_.unstated_weight_uncalibrated;
      r.score_meaning += ", plus the mean log-probability of absence of the " + std::to_string(unstated.size()) +
                         " catalog findings it does not state, each x " + g(options_.unstated_weight) +
                         (mixed ? " (x " + g(options_.unstated_weight_uncalibrated) + " if not calibrated)" : "");
    }
    r.score_meaning += "; probabilities from the study's disease-token features";
    std::string calibrated;
    for (const auto* fs : {&stated, &unstated}) {
      for (const StatedFinding& f : *fs) {
        if (f.entry.calibration_studies > 0) calibrated += std::string(calibrated.empty() ? "" : ", ") + f.entry.name;
      }
    }
    if (!calibrated.empty()) r.score_meaning += " (calibrated on labelled studies: " + calibrated + ")";
    char floor_text[48];
    std::snprintf(floor_text, sizeof(floor_text), ", each clamped to [%g, %g]", options_.probability_floor,
                  1 - options_.probability_floor);
    r.score_meaning += floor_text;
    if (!detected.empty()) {
      std::string which;
      for (const std::string& d : detected) which += std::string(which.empty() ? "" : ", ") + d;
      r.score_meaning += " (" + which + ": log-odds " + g(1 - options_.detection_weight) + " x the token's plus " +
                         g(options_.detection_weight) +
                         " x those of the model's detector's best detection on the side the text states" +
                         (zones_used ? std::string(" and at the height of the lobe it names") : std::string()) +
                         ", where the study has detections of it)";
    }
    r.score_meaning += ", ranked among the " + std::to_string(pool) +
                       " studies closest by embedding; z_mm is the centre of the axial slab whose feature matches "
                       "the text best, slab_score its cosine";
    for (size_t i = o.offset; i < ranked.size() && r.hits.size() < o.k; ++i) {
      CTDB_RETURN_IF_ERROR(AddAnnotatedHit(ranked[i].key, ranked[i].score, t, BestSlab, &r));  // the page's slabs only
    }
    return r;
  }

  Result<QueryResult> SearchImageByKey(const std::string& key, const QueryOptions& o,
                                       const std::string& disease) override {
    CTDB_RETURN_IF_ERROR(CheckQuery(o));
    CTDB_ASSIGN_OR_RETURN(StudyVectors v, db_->GetVectors(key));
    return SearchByVectors(v, key, o, disease);
  }

  Result<QueryResult> SearchImageByFile(const std::string& path, const QueryOptions& o,
                                        const std::string& disease) override {
    CTDB_RETURN_IF_ERROR(CheckQuery(o));
    CTDB_RETURN_IF_ERROR(NeedModel("image search by volume file"));
    StudyRecord rec;
    rec.key = "query";
    CTDB_ASSIGN_OR_RETURN(Study s, model_->EmbedStudyFile(path, rec));
    return SearchByVectors(s.vectors, "", o, disease);
  }

  Result<QueryResult> SearchDisease(const std::string& name, const QueryOptions& o, double w) override {
    CTDB_RETURN_IF_ERROR(CheckQuery(o));
    if (!(w >= 0 && w <= 1)) return Status::InvalidArgument("exemplar weight must be in [0, 1]");
    CTDB_ASSIGN_OR_RETURN(DiseaseEntry e, Find(name));
    CTDB_RETURN_IF_ERROR(NeedPrototypes(e));
    std::vector<float> q = Direction(e.positive_prototype, e.negative_prototype);
    const std::vector<float> text_dir = q;
    if (w > 0) {
      if (e.exemplar_positive.empty() || e.exemplar_negative.empty()) {
        return Status::FailedPrecondition("disease " + e.name +
                                          " has no exemplar prototypes; compute them first (`ctdb diseases "
                                          "--exemplars`, POST /v1/diseases/exemplars)");
      }
      const std::vector<float> ex = Normalized(Direction(e.exemplar_positive, e.exemplar_negative));
      const std::vector<float> tn = Normalized(q);
      for (size_t i = 0; i < q.size(); ++i) q[i] = static_cast<float>((1 - w) * tn[i] + w * ex[i]);
    }
    const float text_norm = std::sqrt(Dot(text_dir, text_dir));
    if (options_.detection_weight > 0) {
      CTDB_ASSIGN_OR_RETURN(std::optional<QueryResult> detected, SearchDiseaseByDetector(e, q, text_dir, w > 0, o));
      if (detected) return std::move(*detected);
    }
    CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(VectorKind::kImage, q, ToSearch(o, o.k, o.offset)));
    QueryResult r;
    r.score_meaning = w > 0 ? "cosine of the study's global image embedding with the blend of the text direction "
                              "(p+ - p-) and the exemplar direction (labelled studies' e+ - e-); probability from the "
                              "text prototypes: sigmoid(logit_scale * (x.p+ - x.p-))"
                            : "cosine of the study's global image embedding with p+ - p- (rank-equivalent to the "
                              "probability); probability = sigmoid(logit_scale * (x.p+ - x.p-))";
    // The search scores x.q/|q| of unit x: with the text direction alone the
    // margin x.(p+ - p-) is the score times |p+ - p-|, no vector to read.
    for (const auto& h : hits) {
      auto made = MakeHit(h.key, h.score);
      if (Gone(made.status())) continue;
      CTDB_RETURN_IF_ERROR(made.status());
      QueryHit qh = std::move(made).value();
      float margin = h.score * text_norm;
      if (w > 0) {
        auto x = ImageVector(h.key);
        if (Gone(x.status())) continue;
        CTDB_RETURN_IF_ERROR(x.status());
        margin = Dot(*x, text_dir);
      }
      qh.probability = Sigmoid(e.logit_scale * margin);
      r.hits.push_back(std::move(qh));
    }
    return r;
  }

  Result<std::vector<DiseaseProbability>> Classify(const std::string& key) override {
    CTDB_ASSIGN_OR_RETURN(StudyRecord rec, db_->GetRecord(key));
    CTDB_ASSIGN_OR_RETURN(StudyVectors v, db_->GetVectors(key));
    std::vector<DiseaseEntry> catalog = Catalog();
    std::vector<DiseaseProbability> out;
    for (const auto& e : catalog) {
      if (e.positive_prototype.empty()) continue;
      const std::vector<float> dir = Direction(e.positive_prototype, e.negative_prototype);
      DiseaseProbability p;
      p.disease = e.name;
      p.margin = Dot(v.image, dir);
      p.probability = Sigmoid(e.logit_scale * p.margin);
      const double z = RawLogit(e, dir, v);
      if (FindNamed(v.diseases, e.name)) p.token_probability = Sigmoid(z);
      if (e.calibration_studies > 0) p.calibrated_probability = Sigmoid(CalibratedLogit(e, z));
      p.labelled = HasLabel(rec, e.name);
      for (const Detection& d : v.detections) {
        if (AsciiEqualsIgnoreCase(d.finding, e.name)) p.detections.push_back(d);
      }
      out.push_back(std::move(p));
    }
    if (out.empty()) {
      return Status::FailedPrecondition("the disease catalog has no embedded prototypes; open the query engine with "
                                        "the database's model once");
    }
    return out;
  }

  Result<Localization> Localize(const std::string& key, const std::string& text) override {
    CTDB_ASSIGN_OR_RETURN(StudyVectors v, db_->GetVectors(key));
    if (v.slabs.empty()) return Status::FailedPrecondition("study " + key + " has no slab features to localize with");
    CTDB_ASSIGN_OR_RETURN(std::vector<float> t, EmbedText(text));
    Localization l;
    l.key = key;
    l.slab_mm = static_cast<float>(model_->info().slab_mm);
    l.score = -2;
    for (const auto& s : v.slabs) {
      const float sc = Dot(s.vector, t);
      l.curve.push_back({s.z_mm, sc});
      if (sc > l.score) l.score = sc, l.slab_z_mm = s.z_mm;
    }
    l.z_mm = l.slab_z_mm;
    // A stated finding the detector saw answers more precisely than a 12 mm
    // slab: the detection's own voxel, x and y too; on the stated side, at
    // the height of the stated lobe.
    std::optional<std::pair<double, double>> z_range;
    if (!v.detections.empty()) {
      CTDB_ASSIGN_OR_RETURN(StudyRecord rec, db_->GetRecord(key));
      z_range = ScanZRange(rec);
    }
    for (const auto& f : embed::ParseReport(text).findings) {
      if (f.existence != Existence::kPresent) continue;
      const ZBand band = ZoneBand(ZoneOf(f.region), z_range, options_);
      const Detection* d = BestDetection(v.detections, f.finding, SideOf(f.region), band).best;
      if (d && d->score >= options_.localize_min_score && (!l.detection || d->score > l.detection->score)) {
        l.detection = *d;
      }
    }
    if (l.detection) l.z_mm = l.detection->position_mm[2];
    return l;
  }

  Result<ReportDraft> DraftReport(const std::string& key) override {
    CTDB_ASSIGN_OR_RETURN(StudyVectors v, db_->GetVectors(key));
    const size_t want = options_.draft_neighbors;
    // Over-fetch: the study itself and report-less neighbours are skipped.
    CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(VectorKind::kImage, v.image, ToSearch({}, want * 3 + 1, 0)));
    ReportDraft d;
    struct Vote {
      double weight = 0;
      float best = -2;
      std::string sentence;
    };
    std::map<std::string, Vote> votes;
    double total = 0;
    for (const auto& h : hits) {
      if (h.key == key || d.neighbors.size() >= want) continue;
      auto got = db_->GetRecord(h.key);
      if (Gone(got.status())) continue;
      CTDB_RETURN_IF_ERROR(got.status());
      const StudyRecord& rec = *got;
      if (rec.findings.empty() && rec.impression.empty()) continue;
      d.neighbors.push_back({h.key, h.score, rec.impression});
      const double w = std::max(0.01, static_cast<double>(h.score));
      total += w;
      // Parsed now, not the stored statements: their sentence numbers follow
      // the parser of the day they were stored.
      const embed::ParsedReport parsed = embed::ParseReport(rec.findings + "\n" + rec.impression);
      const auto& sentences = parsed.sentences;
      std::map<std::string, bool> seen;  // a finding counts once per report
      for (const auto& st : parsed.findings) {
        if (st.existence != Existence::kPresent || seen[st.finding]) continue;
        seen[st.finding] = true;
        Vote& vt = votes[st.finding];
        vt.weight += w;
        if (h.score > vt.best && st.sentence < sentences.size()) {
          vt.best = h.score;
          vt.sentence = embed::RemoveSliceReferences(sentences[st.sentence]);
        }
      }
    }
    if (d.neighbors.empty()) return Status::NotFound("no other study with a report to draft from");
    for (const auto& [name, vt] : votes) {
      const float support = static_cast<float>(vt.weight / total);
      if (support >= 0.5f) d.findings.push_back({name, support, vt.sentence});
    }
    std::stable_sort(d.findings.begin(), d.findings.end(),
                     [](const ReportDraft::Finding& a, const ReportDraft::Finding& b) { return a.support > b.support; });
    for (const auto& f : d.findings) d.text += (d.text.empty() ? "" : " ") + f.sentence;
    if (d.text.empty()) {
      d.text = "No abnormality is stated in most of the " + std::to_string(d.neighbors.size()) +
               " most similar studies' reports.";
    }
    return d;
  }

  Result<QueryResult> SearchReports(const std::string& text, const QueryOptions& o) override {
    return SearchWithText(VectorKind::kReport, text, o,
                          "cosine similarity of the text's embedding and the study's whole-report embedding; "
                          "sentence is the report sentence closest to the text",
                          [](const std::vector<float>& t, const StudyVectors& v, QueryHit* qh) {
                            float best = -2;
                            for (const auto& s : v.sentences) {
                              const float sc = Dot(s.vector, t);
                              if (sc > best) best = sc, qh->sentence = s.name;
                            }
                          });
  }

  Result<DiseaseEntry> SetDisease(const std::string& name, const std::vector<std::string>& positive,
                                  const std::vector<std::string>& negative) override {
    CTDB_RETURN_IF_ERROR(NeedModel("editing the disease catalog"));
    DiseaseEntry e;
    auto found = Find(name);
    if (found.ok()) e = *found;
    e.name = found.ok() ? found->name : name;
    e.positive = positive;
    e.negative = negative;
    if (!found.ok() || found->positive != positive || found->negative != negative) {
      ClearCalibration(&e);  // fitted on the old phrases' direction
    }
    if (positive.empty()) return Status::InvalidArgument("disease " + name + " needs at least one positive phrase");
    CTDB_RETURN_IF_ERROR(Embed(&e));
    CTDB_RETURN_IF_ERROR(db_->PutDisease(e));
    CTDB_RETURN_IF_ERROR(Reload());
    return e;
  }

  Result<uint64_t> ComputeExemplars() override {
    std::vector<DiseaseEntry> catalog = Catalog();
    const size_t d = db_->dimension(), n = catalog.size();
    std::vector<std::vector<double>> pos(n, std::vector<double>(d)), neg(n, std::vector<double>(d));
    std::vector<uint64_t> npos(n), nneg(n);
    uint64_t used = 0;
    CTDB_RETURN_IF_ERROR(ForEachStudy(
        [this](const std::string& key) { return ImageVector(key); },
        [&](const StudyRecord& rec, const std::vector<float>& x) {
          ++used;
          for (size_t i = 0; i < n; ++i) {
            const bool has = HasLabel(rec, catalog[i].name);
            auto& acc = has ? pos[i] : neg[i];
            (has ? npos[i] : nneg[i])++;
            for (size_t j = 0; j < d; ++j) acc[j] += x[j];
          }
        }));
    for (size_t i = 0; i < n; ++i) {
      auto mean = [&](const std::vector<double>& acc, uint64_t c) {
        std::vector<float> m;
        if (c == 0) return m;
        for (double x : acc) m.push_back(static_cast<float>(x / static_cast<double>(c)));
        return Normalized(std::move(m));
      };
      catalog[i].exemplar_positive = mean(pos[i], npos[i]);
      catalog[i].exemplar_negative = mean(neg[i], nneg[i]);
      catalog[i].exemplar_studies = npos[i] && nneg[i] ? used : 0;
      if (!catalog[i].exemplar_studies) catalog[i].exemplar_positive.clear(), catalog[i].exemplar_negative.clear();
      CTDB_RETURN_IF_ERROR(db_->PutDisease(catalog[i]));
    }
    CTDB_RETURN_IF_ERROR(Reload());
    return used;
  }

  Result<std::vector<DiseaseEntry>> CalibrateDiseases() override {
    std::vector<DiseaseEntry> catalog = Catalog();
    const size_t n = catalog.size();
    std::vector<std::vector<float>> dirs(n);
    for (size_t i = 0; i < n; ++i) {
      if (!catalog[i].positive_prototype.empty()) {
        dirs[i] = Direction(catalog[i].positive_prototype, catalog[i].negative_prototype);
      }
    }
    if (std::all_of(dirs.begin(), dirs.end(), [](const auto& d) { return d.empty(); })) {
      return Status::FailedPrecondition("the disease catalog has no embedded prototypes; open the query engine with "
                                        "the database's model once");
    }
    std::vector<std::vector<double>> z(n);
    std::vector<std::vector<bool>> has(n);
    CTDB_RETURN_IF_ERROR(ForEachStudy([this](const std::string& key) { return db_->GetDiseaseVectors(key); },
                                      [&](const StudyRecord& rec, const StudyVectors& v) {
                                        for (size_t i = 0; i < n; ++i) {
                                          if (dirs[i].empty()) continue;
                                          z[i].push_back(RawLogit(catalog[i], dirs[i], v));
                                          has[i].push_back(HasLabel(rec, catalog[i].name));
                                        }
                                      }));
    if (std::all_of(z.begin(), z.end(), [](const auto& v) { return v.empty(); })) {
      return Status::FailedPrecondition("no stored study to calibrate the disease catalog on");
    }
    for (size_t i = 0; i < n; ++i) {
      DiseaseEntry& e = catalog[i];
      if (dirs[i].empty()) continue;  // not embedded: nothing to calibrate
      const PlattFit fit = FitPlatt(z[i], has[i]);
      ClearCalibration(&e);
      if (fit.positives >= kMinCalibrationClass && fit.negatives >= kMinCalibrationClass) {
        e.calibration_scale = fit.scale;
        e.calibration_bias = fit.bias;
        e.calibration_studies = fit.positives + fit.negatives;
      }
      CTDB_RETURN_IF_ERROR(db_->PutDisease(e));
    }
    CTDB_RETURN_IF_ERROR(Reload());
    return Catalog();
  }

  Result<std::vector<DiseaseEntry>> Diseases() override { return Catalog(); }

  Status DeleteDisease(const std::string& name) override {
    CTDB_RETURN_IF_ERROR(db_->DeleteDisease(name));
    return Reload();
  }

 private:
  // A disease the model's detector covers (its studies store detections of
  // it: the shipped model's lung nodules) ranks by the detector: the
  // max(min_rerank, 50 (k + offset)) nearest to `q` re-ranked by the
  // log-odds (1 - a) logit_scale x.(p+ - p-) + a logit(best detection
  // score), a = detection_weight. nullopt when the nearest study has no
  // detection of the disease (a model without such a detector).
  Result<std::optional<QueryResult>> SearchDiseaseByDetector(const DiseaseEntry& e, const std::vector<float>& q,
                                                             const std::vector<float>& text_dir, bool blended,
                                                             const QueryOptions& o) {
    const size_t pool = std::min<size_t>(10000, std::max(options_.min_rerank, 50 * (o.k + o.offset)));
    CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(VectorKind::kImage, q, ToSearch(o, pool, 0)));
    struct Ranked {
      std::string key;
      double logit;
    };
    std::vector<Ranked> ranked;
    const double a = options_.detection_weight;
    for (const auto& h : hits) {
      auto vr = db_->GetDiseaseVectors(h.key);
      if (Gone(vr.status())) continue;
      CTDB_RETURN_IF_ERROR(vr.status());
      const DetectorAnswer d = BestDetection(vr->detections, e.name, 0);
      if (ranked.empty() && !d.detects) return std::optional<QueryResult>();
      double logit = e.logit_scale * Dot(vr->image, text_dir);
      if (d.detects) {
        const double p = std::clamp<double>(d.best ? d.best->score : 0.0, 1e-4, 1 - 1e-4);
        logit = (1 - a) * logit + a * std::log(p / (1 - p));
      }
      ranked.push_back({h.key, logit});
    }
    std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& x, const Ranked& y) { return x.logit > y.logit; });
    QueryResult r;
    char b[64];
    std::snprintf(b, sizeof(b), "%g", a);
    r.score_meaning = std::string("log-odds that the study shows ") + e.name + ": " + b +
                      " x logit(the best score of the model's detector for it) + (1 - " + b +
                      ") x logit_scale * (x.p+ - x.p-) with x the global image embedding; probability = "
                      "sigmoid(score); ranked among the " + std::to_string(hits.size()) + " studies nearest to " +
                      (blended ? "the blend of p+ - p- and the exemplar direction" : "p+ - p-");
    for (size_t i = o.offset; i < ranked.size() && r.hits.size() < o.k; ++i) {
      auto made = MakeHit(ranked[i].key, static_cast<float>(ranked[i].logit));
      if (Gone(made.status())) continue;
      CTDB_RETURN_IF_ERROR(made.status());
      QueryHit qh = std::move(made).value();
      qh.probability = Sigmoid(ranked[i].logit);
      r.hits.push_back(std::move(qh));
    }
    return std::optional<QueryResult>(std::move(r));
  }

  // A catalog finding a query text states present or absent, with its
  // zero-shot direction p+ - p-.
  struct StatedFinding {
    DiseaseEntry entry;
    bool present = true;
    std::vector<float> direction;
    std::string sentence;  // the text's sentence that states it
    // The side a present finding is stated on, as the sign of LPS x: +1
    // left ("left upper lobe", "lingula"), -1 right, 0 unstated or both.
    int side = 0;
    Zone zone = kAnyZone;  // the lobe's zone a present finding is stated in
  };

  // The findings `text` states, parsed like a report (negation included;
  // uncertain ones are left out), that the catalog knows with prototypes.
  // A finding stated both ways counts as present. A whole-study normal
  // statement states every catalog finding it does not name absent.
  std::vector<StatedFinding> StatedFindings(const std::string& text) const {
    std::vector<StatedFinding> out;
    const embed::ParsedReport parsed = embed::ParseReport(text);
    for (const auto& f : parsed.findings) {
      if (f.existence != Existence::kPresent && f.existence != Existence::kAbsent) continue;
      const bool present = f.existence == Existence::kPresent;
      auto same = std::find_if(out.begin(), out.end(),
                               [&](const StatedFinding& s) { return AsciiLower(s.entry.name) == AsciiLower(f.finding); });
      const int side = present ? SideOf(f.region) : 0;
      const Zone zone = present ? ZoneOf(f.region) : kAnyZone;
      if (same != out.end()) {
        if (present && same->present && same->side != side) same->side = 0;  // stated on both sides
        if (present && same->present && same->zone != zone) same->zone = kAnyZone;
        if (present && !same->present) same->side = side, same->zone = zone;
        same->present |= present;
        continue;
      }
      auto e = Find(f.finding);
      if (!e.ok() || e->positive_prototype.empty() || e->negative_prototype.empty()) continue;
      StatedFinding sf;
      sf.present = present;
      sf.side = side;
      sf.zone = zone;
      if (f.sentence < parsed.sentences.size()) sf.sentence = parsed.sentences[f.sentence];
      sf.direction = Direction(e->positive_prototype, e->negative_prototype);
      sf.entry = std::move(e).value();
      out.push_back(std::move(sf));
    }
    if (parsed.normal_study) {  // "Normal chest CT.": every other catalog finding stated absent
      std::vector<StatedFinding> others = OtherFindings(out);
      out.insert(out.end(), std::make_move_iterator(others.begin()), std::make_move_iterator(others.end()));
    }
    return out;
  }

  // One attribute a present finding's sentence states, embedded: the
  // sentence and the sentence with the attribute changed.
  struct Contrast {
    std::string attribute;
    std::vector<float> sentence;
    std::vector<std::vector<float>> variants;
  };

  // The texts the attribute contrasts need (each sentence stating a present
  // finding once, then its variants) and where each contrast's are.
  struct ContrastPlan {
    struct Part {
      std::string attribute;
      size_t sentence = 0, first = 0, count = 0;  // indexes into `texts`
    };
    std::vector<std::string> texts;
    std::vector<Part> parts;
    // The contrasts, given the texts' embeddings at vecs[offset...].
    std::vector<Contrast> Take(const std::vector<std::vector<float>>& vecs, size_t offset) const {
      std::vector<Contrast> out;
      for (const Part& p : parts) {
        Contrast c;
        c.attribute = p.attribute;
        c.sentence = vecs[offset + p.sentence];
        const auto first = vecs.begin() + static_cast<std::ptrdiff_t>(offset + p.first);
        c.variants.assign(first, first + static_cast<std::ptrdiff_t>(p.count));
        out.push_back(std::move(c));
      }
      return out;
    }
  };

  // The attributes (side, level, amount) of the sentences stating present
  // findings; none when attribute_weight is 0.
  ContrastPlan PlanContrasts(const std::vector<StatedFinding>& stated) const {
    ContrastPlan plan;
    if (options_.attribute_weight <= 0) return plan;
    std::vector<std::string> seen;  // a sentence stating two findings counts once
    for (const StatedFinding& f : stated) {
      if (!f.present || f.sentence.empty()) continue;
      if (std::find(seen.begin(), seen.end(), f.sentence) != seen.end()) continue;
      seen.push_back(f.sentence);
      std::vector<embed::AttributeContrast> cs = embed::AttributeContrasts(f.sentence);
      if (cs.empty()) continue;
      const size_t at = plan.texts.size();
      plan.texts.push_back(f.sentence);
      for (embed::AttributeContrast& c : cs) {
        plan.parts.push_back({std::move(c.attribute), at, plan.texts.size(), c.variants.size()});
        plan.texts.insert(plan.texts.end(), std::make_move_iterator(c.variants.begin()),
                          std::make_move_iterator(c.variants.end()));
      }
    }
    return plan;
  }

  // The catalog findings with prototypes that `stated` does not name, as
  // absent (copies: the catalog may change under us).
  std::vector<StatedFinding> OtherFindings(const std::vector<StatedFinding>& stated) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<StatedFinding> out;
    for (const DiseaseEntry& e : catalog_) {
      if (e.positive_prototype.empty() || e.negative_prototype.empty()) continue;
      const bool said = std::any_of(stated.begin(), stated.end(), [&](const StatedFinding& f) {
        return AsciiLower(f.entry.name) == AsciiLower(e.name);
      });
      if (said) continue;
      StatedFinding sf;
      sf.present = false;
      sf.direction = Direction(e.positive_prototype, e.negative_prototype);
      sf.entry = e;
      out.push_back(std::move(sf));
    }
    return out;
  }

  static void BestSlab(const std::vector<float>& t, const StudyVectors& v, QueryHit* qh) {
    int best = -1;
    float best_score = -2;
    for (size_t i = 0; i < v.slabs.size(); ++i) {
      const float s = Dot(v.slabs[i].vector, t);
      if (s > best_score) best_score = s, best = static_cast<int>(i);
    }
    if (best >= 0) {
      qh->z_mm = v.slabs[static_cast<size_t>(best)].z_mm;
      qh->slab_score = best_score;
    }
  }

  // Encodes the text, searches `kind`, and lets `annotate` add to each hit
  // what its vectors say (best slab, best sentence).
  using Annotate = void (*)(const std::vector<float>& text, const StudyVectors& v, QueryHit* hit);
  Result<QueryResult> SearchWithText(VectorKind kind, const std::string& text, const QueryOptions& o,
                                     const char* meaning, Annotate annotate) {
    CTDB_RETURN_IF_ERROR(CheckQuery(o));
    CTDB_ASSIGN_OR_RETURN(std::vector<float> t, EmbedText(text));
    CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(kind, t, ToSearch(o, o.k, o.offset)));
    QueryResult r;
    r.score_meaning = meaning;
    for (const auto& h : hits) CTDB_RETURN_IF_ERROR(AddAnnotatedHit(h.key, h.score, t, annotate, &r));
    return r;
  }

  // Appends the hit with its record and what `annotate` reads from its
  // vectors; a study deleted meanwhile is skipped.
  Status AddAnnotatedHit(const std::string& key, float score, const std::vector<float>& text, Annotate annotate,
                         QueryResult* r) const {
    auto made = MakeHit(key, score);
    auto vr = db_->GetVectors(key);
    if (Gone(made.status()) || Gone(vr.status())) return Status::Ok();
    CTDB_RETURN_IF_ERROR(made.status());
    CTDB_RETURN_IF_ERROR(vr.status());
    QueryHit qh = std::move(made).value();
    annotate(text, *vr, &qh);
    r->hits.push_back(std::move(qh));
    return Status::Ok();
  }

  Status NeedModel(const char* what) const {
    if (!model_) return Status::FailedPrecondition(std::string(what) + " needs the database's model (--model DIR)");
    return Status::Ok();
  }

  Result<std::vector<float>> EmbedText(const std::string& text) {
    CTDB_ASSIGN_OR_RETURN(auto e, EmbedTextAnd(text, {}));
    return std::move(e[0]);
  }

  // The query text's embedding, then those of `extra` (texts derived from
  // it), in one call.
  Result<std::vector<std::vector<float>>> EmbedTextAnd(const std::string& text, std::vector<std::string> extra) {
    CTDB_RETURN_IF_ERROR(NeedModel("a text query"));
    if (text.find_first_not_of(" \t\r\n") == std::string::npos) return Status::InvalidArgument("query text is empty");
    if (text.size() > 10000) return Status::InvalidArgument("query text is longer than 10000 bytes");
    extra.insert(extra.begin(), text);
    return model_->EmbedTexts(extra);
  }

  Status Embed(DiseaseEntry* e) {
    CTDB_ASSIGN_OR_RETURN(auto pos, model_->EmbedTexts(e->positive));
    e->positive_prototype = MeanNormalized(pos);
    e->negative_prototype.clear();
    if (!e->negative.empty()) {
      CTDB_ASSIGN_OR_RETURN(auto neg, model_->EmbedTexts(e->negative));
      e->negative_prototype = MeanNormalized(neg);
    }
    e->model_id = model_->id();
    e->logit_scale = model_->info().logit_scale;
    return Status::Ok();
  }

  // Visits every stored study's record with what `read` returns for its
  // key, in key order, a page at a time; a study deleted meanwhile (listing
  // and reads race deletes) is skipped, any other error stops the visit.
  template <typename Read, typename Visit>
  Status ForEachStudy(Read read, Visit visit) const {
    ListOptions lo;
    lo.limit = 1000;
    for (;;) {
      CTDB_ASSIGN_OR_RETURN(auto keys, db_->ListKeys(lo));
      for (const auto& key : keys) {
        auto got = db_->GetRecord(key);
        auto x = read(key);
        if (Gone(got.status()) || Gone(x.status())) continue;
        CTDB_RETURN_IF_ERROR(got.status());
        CTDB_RETURN_IF_ERROR(x.status());
        visit(*got, *x);
      }
      if (keys.size() < lo.limit) return Status::Ok();
      lo.start_after = keys.back();
    }
  }

  // A disease's uncalibrated log-odds for a study, logit_scale x (x.(p+ -
  // p-)), `dir` = p+ - p-: x its token feature (normalized), its global
  // embedding without one. What classify reports and calibration fits.
  static double RawLogit(const DiseaseEntry& e, const std::vector<float>& dir, const StudyVectors& v) {
    const NamedFeature* f = FindNamed(v.diseases, e.name);
    return e.logit_scale * (f ? Dot(Normalized(f->vector), dir) : Dot(v.image, dir));
  }

  // Labelled studies each class needs before a disease is calibrated.
  static constexpr uint64_t kMinCalibrationClass = 5;

  static void ClearCalibration(DiseaseEntry* e) {
    e->calibration_scale = 1;
    e->calibration_bias = 0;
    e->calibration_studies = 0;
  }

  static Status NeedPrototypes(const DiseaseEntry& e) {
    if (e.positive_prototype.empty()) {
      return Status::FailedPrecondition("disease " + e.name + " has no prototypes yet; open with the model once");
    }
    return Status::Ok();
  }

  // p+ - p- (just p+ when the disease has no negative phrases).
  static std::vector<float> Direction(const std::vector<float>& p, const std::vector<float>& n) {
    std::vector<float> d = p;
    for (size_t i = 0; i < d.size() && i < n.size(); ++i) d[i] -= n[i];
    return d;
  }

  Result<std::vector<float>> ImageVector(const std::string& key) const {
    CTDB_ASSIGN_OR_RETURN(StudyVectors v, db_->GetVectors(key));
    return std::move(v.image);
  }

  Result<QueryHit> MakeHit(const std::string& key, float score) const {
    QueryHit h;
    h.key = key;
    h.score = score;
    CTDB_ASSIGN_OR_RETURN(h.record, db_->GetRecord(key));
    return h;
  }

  Result<QueryResult> SearchByVectors(const StudyVectors& v, const std::string& self, const QueryOptions& o,
                                      const std::string& disease) {
    QueryResult r;
    std::vector<std::pair<std::string, float>> ranked;
    if (disease.empty()) {
      r.score_meaning = "cosine similarity of the two studies' global image embeddings";
      // One extra: the study itself comes back first and is dropped.
      CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(VectorKind::kImage, v.image,
                                                   ToSearch(o, o.k + o.offset + (self.empty() ? 0 : 1), 0)));
      for (const auto& h : hits) {
        if (h.key != self) ranked.push_back({h.key, h.score});
      }
    } else {
      CTDB_ASSIGN_OR_RETURN(DiseaseEntry e, Find(disease));
      const NamedFeature* q = FindNamed(v.diseases, e.name);
      if (!q) {
        return Status::FailedPrecondition("the query study has no feature for disease " + e.name +
                                          " (the model has no query token for it)");
      }
      const size_t pool = std::min<size_t>(10000, std::max(options_.min_rerank, 50 * (o.k + o.offset)));
      CTDB_ASSIGN_OR_RETURN(auto hits, db_->Search(VectorKind::kImage, v.image, ToSearch(o, pool, 0)));
      const std::vector<float> qn = Normalized(q->vector);
      for (const auto& h : hits) {
        if (h.key == self) continue;
        auto hv = db_->GetVectors(h.key);
        if (Gone(hv.status())) continue;
        CTDB_RETURN_IF_ERROR(hv.status());
        if (const NamedFeature* f = FindNamed(hv->diseases, e.name)) {
          ranked.push_back({h.key, Dot(Normalized(f->vector), qn)});
        }
      }
      std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
      r.score_meaning = "cosine similarity of the two studies' " + e.name + " query-token features, ranked among the " +
                        std::to_string(pool) + " studies closest by global image embedding";
    }
    for (size_t i = o.offset; i < ranked.size() && r.hits.size() < o.k; ++i) {
      auto made = MakeHit(ranked[i].first, ranked[i].second);
      if (Gone(made.status())) continue;
      CTDB_RETURN_IF_ERROR(made.status());
      r.hits.push_back(std::move(made).value());
    }
    return r;
  }

  std::vector<DiseaseEntry> Catalog() const {
    std::lock_guard<std::mutex> lock(mu_);
    return catalog_;
  }

  Status Reload() {
    CTDB_ASSIGN_OR_RETURN(auto c, db_->ListDiseases());
    std::lock_guard<std::mutex> lock(mu_);
    catalog_ = std::move(c);
    return Status::Ok();
  }

  Result<DiseaseEntry> Find(const std::string& name) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::string names;
    for (const auto& e : catalog_) {
      if (AsciiLower(e.name) == AsciiLower(name)) return e;
      names += (names.empty() ? "" : ", ") + e.name;
    }
    return Status::NotFound("no disease \"" + name + "\" in the catalog" +
                            (names.empty() ? std::string(" (it is empty)") : " (known: " + names + ")"));
  }

  Database* const db_;
  const std::shared_ptr<Model> model_;
  const QueryEngineOptions options_;
  mutable std::mutex mu_;
  std::vector<DiseaseEntry> catalog_;  // guarded by mu_
};

}  // namespace

Result<std::unique_ptr<QueryEngine>> QueryEngine::Open(Database* db, std::shared_ptr<Model> model,
                                                       const QueryEngineOptions& options) {
  if (db == nullptr) return Status::InvalidArgument("QueryEngine needs a database");
  if (!(options.probability_floor > 0 && options.probability_floor < 0.5)) {
    return Status::InvalidArgument("probability_floor must be in (0, 0.5)");
  }
  if (!std::isfinite(options.lower_zone_top) || !std::isfinite(options.upper_zone_bottom)) {
    return Status::InvalidArgument("lobe zone bounds must be finite");
  }
  auto q = std::make_unique<QueryEngineImpl>(db, std::move(model), options);
  CTDB_RETURN_IF_ERROR(q->Init());
  return std::unique_ptr<QueryEngine>(std::move(q));
}

}  // namespace ctdb
