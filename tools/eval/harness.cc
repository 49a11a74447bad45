#include "tools/eval/harness.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>

#include "api/src/study_pipeline.h"
#include "ctdb/query.h"
#include "embed/report_parser.h"
#include "tools/eval/metrics.h"

namespace ctdb::eval {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

float Dot(const std::vector<float>& a, const std::vector<float>& b) {
  float s = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) s += a[i] * b[i];
  return s;
}

// Rank (0-based) of `key` among the hits, -1 when absent.
int RankOf(const std::vector<SearchHit>& hits, const std::string& key) {
  for (size_t j = 0; j < hits.size(); ++j) {
    if (hits[j].key == key) return static_cast<int>(j);
  }
  return -1;
}

std::string Num(double x) {
  if (!std::isfinite(x)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.4f", x);
  return buf;
}

std::string Quote(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      o += '\\';
      o += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {  // reports hold newlines; JSON lines may not
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
      o += buf;
    } else {
      o += c;
    }
  }
  return o + "\"";
}

}  // namespace

std::string ImpressionMeaning(const std::string& text) {
  const embed::ParsedReport parsed = embed::ParseReport(text);
  std::vector<std::string> parts;
  if (parsed.normal_study) parts.push_back("normal");
  for (const auto& f : parsed.findings) {
    std::string part = f.finding + "|" + ExistenceName(f.existence) + "|" + f.region;
    if (f.existence == Existence::kPresent && f.sentence < parsed.sentences.size()) {
      const std::string& sentence = parsed.sentences[f.sentence];
      if (auto mm = embed::StatedSizeMm(sentence)) part += "|" + Num(*mm) + " mm";
      std::string word;
      for (const char c : sentence + " ") {  // the first amount word, whole words only
        if (std::isalpha(static_cast<unsigned char>(c))) {
          word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          continue;
        }
        if (word == "small" || word == "moderate" || word == "large") {
          part += "|" + word;
          break;
        }
        word.clear();
      }
    }
    parts.push_back(std::move(part));
  }
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  std::string key;
  for (const auto& p : parts) key += (key.empty() ? "" : ";") + p;
  return key;
}

Result<EvalReport> Evaluate(Database& db, Model* model, const EvalOptions& options) {
  if (options.k < 1) return Status::InvalidArgument("k must be >= 1");
  if (model != nullptr) {
    CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db.Stats());
    if (st.model_id != model->id()) {
      return Status::FailedPrecondition("the database holds vectors of model '" + st.model_id + "', not " +
                                        model->id());
    }
  }
  ListOptions lo;
  lo.limit = options.limit;
  CTDB_ASSIGN_OR_RETURN(std::vector<std::string> keys, db.ListKeys(lo));
  if (keys.empty()) return Status::InvalidArgument("the database holds no studies");
  EvalReport r;
  r.studies = keys.size();
  r.k = options.k;
  const size_t top = static_cast<size_t>(std::max(options.k, 10)) + 1;

  std::vector<Study> studies;
  studies.reserve(keys.size());
  for (const auto& key : keys) {
    CTDB_ASSIGN_OR_RETURN(Study s, db.Get(key));
    s.preview = Preview{};  // not needed here
    studies.push_back(std::move(s));
  }

  // Retrieval from the stored vectors.
  std::vector<int> report_ranks;
  std::vector<std::string> report_texts;
  double map_sum = 0;
  for (size_t q = 0; q < studies.size(); ++q) {
    const Study& s = studies[q];
    SearchOptions so;
    so.k = top;
    if (!s.vectors.report.empty()) {
      CTDB_ASSIGN_OR_RETURN(auto hits, db.Search(VectorKind::kImage, s.vectors.report, so));
      report_ranks.push_back(RankOf(hits, s.record.key));
      report_texts.push_back(s.record.findings + "\n" + s.record.impression);
    }
    CTDB_ASSIGN_OR_RETURN(auto hits, db.Search(VectorKind::kImage, s.vectors.image, so));
    std::vector<double> rel;
    for (const auto& h : hits) {
      if (h.key == s.record.key || static_cast<int>(rel.size()) >= options.k) continue;  // the query itself is excluded
      CTDB_ASSIGN_OR_RETURN(StudyRecord other, db.GetRecord(h.key));
      rel.push_back(LabelOverlap(s.record.labels, other.labels));
    }
    map_sum += AveragePrecisionAtK(rel, options.k);
    if (options.progress) options.progress(q + 1, studies.size() * (model ? 2 : 1));
  }
  r.reports = report_ranks.size();
  r.report_r1 = RecallFromRanks(report_ranks, 1);
  r.report_r5 = RecallFromRanks(report_ranks, 5);
  r.report_r10 = RecallFromRanks(report_ranks, 10);
  r.report_r10_ceiling = RecallCeiling(report_texts, 10);
  r.map = map_sum / static_cast<double>(studies.size());
  r.text_r1 = r.text_r5 = r.text_r10 = r.text_r10_ceiling = r.text_r10_meaning_ceiling = r.text_r10_same_labels = kNaN;
  r.embedding_r1 = r.embedding_r5 = r.embedding_r10 = kNaN;
  r.macro_auc_global = r.macro_auc_token = r.mae_mm = r.mae_slab_mm = kNaN;
  if (model == nullptr) return r;
  r.slab_mm = model->info().slab_mm;

  // text -> image: the impression alone.
  std::vector<int> text_ranks;
  std::vector<std::string> impressions;
  size_t same_labels = 0;
  std::map<std::string, std::vector<std::string>> labels_of;  // key -> sorted labels
  for (const Study& s : studies) {
    auto l = s.record.labels;
    std::sort(l.begin(), l.end());
    labels_of[s.record.key] = std::move(l);
  }
  // The product's text search (QueryEngine::SearchText, findings-aware)
  // and the embedding alone, side by side. The model is the caller's: the
  // engine borrows it.
  CTDB_ASSIGN_OR_RETURN(auto engine,
                        QueryEngine::Open(&db, std::shared_ptr<Model>(model, [](Model*) {}), options.query));
  std::vector<int> embedding_ranks;
  for (size_t q = 0; q < studies.size(); ++q) {
    const Study& s = studies[q];
    if (!s.record.impression.empty()) {
      CTDB_ASSIGN_OR_RETURN(auto e, model->EmbedTexts({s.record.impression}));
      SearchOptions so;
      so.k = top;
      CTDB_ASSIGN_OR_RETURN(auto plain, db.Search(VectorKind::kImage, e[0], so));
      embedding_ranks.push_back(RankOf(plain, s.record.key));
      QueryOptions qo;
      qo.k = top;
      CTDB_ASSIGN_OR_RETURN(QueryResult found, engine->SearchText(s.record.impression, qo));
      std::vector<SearchHit> hits;
      for (const auto& h : found.hits) hits.push_back({h.key, 0, h.score});
      text_ranks.push_back(RankOf(hits, s.record.key));
      impressions.push_back(s.record.impression);
      const auto& want = labels_of[s.record.key];
      if ((text_ranks.back() < 0 || text_ranks.back() >= 10) && !hits.empty()) {
        TextMiss miss;
        miss.key = s.record.key;
        miss.impression = s.record.impression;
        miss.rank = text_ranks.back() < 0 ? -1 : text_ranks.back() + 1;
        miss.top_key = hits[0].key;
        CTDB_ASSIGN_OR_RETURN(StudyRecord first, db.GetRecord(hits[0].key));
        miss.top_impression = first.impression;
        miss.top_same_labels = labels_of.count(hits[0].key) && labels_of[hits[0].key] == want;
        r.text_misses.push_back(std::move(miss));
      }
      for (size_t j = 0; j < hits.size() && j < 10; ++j) {
        auto it = labels_of.find(hits[j].key);
        if (it != labels_of.end() && it->second == want) {
          ++same_labels;
          break;
        }
      }
    }
    if (options.progress) options.progress(studies.size() + q + 1, studies.size() * 2);
  }
  r.texts = text_ranks.size();
  if (!text_ranks.empty()) {
    r.text_r1 = RecallFromRanks(text_ranks, 1);
    r.text_r5 = RecallFromRanks(text_ranks, 5);
    r.text_r10 = RecallFromRanks(text_ranks, 10);
    r.text_r10_ceiling = RecallCeiling(impressions, 10);
    std::vector<std::string> meanings;
    for (const auto& i : impressions) meanings.push_back(ImpressionMeaning(i));
    r.text_r10_meaning_ceiling = RecallCeiling(meanings, 10);
    r.text_r10_same_labels = static_cast<double>(same_labels) / static_cast<double>(text_ranks.size());
    r.embedding_r1 = RecallFromRanks(embedding_ranks, 1);
    r.embedding_r5 = RecallFromRanks(embedding_ranks, 5);
    r.embedding_r10 = RecallFromRanks(embedding_ranks, 10);
  }

  // Zero-shot classification: score = x . (p+ - p-), prototypes from the model's catalog.
  std::vector<double> aucs_global, aucs_token;
  std::vector<embed::ParsedReport> parsed_reports;
  for (const Study& s : studies) parsed_reports.push_back(embed::ParseReport(s.record.findings + "\n" + s.record.impression));
  // The largest size study i's report states for disease d present, -1 if none.
  auto stated_size = [&](size_t i, const std::string& d) {
    double size = -1;
    const embed::ParsedReport& parsed = parsed_reports[i];
    for (const auto& f : parsed.findings) {
      if (f.finding != d || f.existence != Existence::kPresent || f.sentence >= parsed.sentences.size()) continue;
      if (auto mm = embed::StatedSizeMm(parsed.sentences[f.sentence])) size = std::max(size, *mm);
    }
    return size;
  };
  CTDB_ASSIGN_OR_RETURN(std::vector<DiseasePrototype> protos, model->DiseasePrototypes());
  for (const DiseasePrototype& proto : protos) {
    const std::string& d = proto.name;
    std::vector<float> w(proto.p_positive.size());
    for (size_t i = 0; i < w.size(); ++i) w[i] = proto.p_positive[i] - proto.p_negative[i];
    DiseaseScore ds;
    ds.disease = d;
    std::vector<float> sg, st, sd;
    std::vector<int> labels;
    bool have_token = true, have_detector = false;
    for (const Study& s : studies) {
      const bool positive = std::find(s.record.labels.begin(), s.record.labels.end(), d) != s.record.labels.end();
      labels.push_back(positive);
      (positive ? ds.positives : ds.negatives)++;
      sg.push_back(Dot(s.vectors.image, w));
      const NamedFeature* f = nullptr;
      for (const auto& nf : s.vectors.diseases) {
        if (nf.name == d) f = &nf;
      }
      have_token &= f != nullptr;
      st.push_back(f ? Dot(f->vector, w) : 0.0f);
      float best = 0;
      for (const Detection& det : s.vectors.detections) {
        if (det.finding == d) best = std::max(best, det.score), have_detector = true;
      }
      sd.push_back(best);
    }
    ds.auc_global = RocAuc(sg, labels);
    ds.auc_token = have_token ? RocAuc(st, labels) : kNaN;
    std::vector<double> sizes(studies.size(), -1);
    for (size_t i = 0; i < studies.size(); ++i) {
      if (labels[i]) sizes[i] = stated_size(i, d);
      ds.sized_positives += sizes[i] >= 0;
    }
    if (ds.sized_positives > 0) ds.by_size = AucBySize(have_token ? st : sg, labels, sizes);
    ds.auc_detector = have_detector ? RocAuc(sd, labels) : kNaN;
    if (have_detector && ds.sized_positives > 0) ds.detector_by_size = AucBySize(sd, labels, sizes);
    aucs_global.push_back(ds.auc_global);
    aucs_token.push_back(ds.auc_token);
    r.diseases.push_back(ds);
  }
  r.macro_auc_global = MacroAuc(aucs_global);
  r.macro_auc_token = MacroAuc(aucs_token);

  // Localization: sentences with an image reference.
  std::vector<double> pred, slab_pred, truth;
  for (size_t i = 0; i < studies.size(); ++i) {
    const Study& s = studies[i];
    auto z = s.record.extra.find(kExtraSliceZ);
    if (z == s.record.extra.end() || s.vectors.slabs.empty()) continue;
    std::istringstream in(z->second);
    double z0 = 0, dz = 0;
    if (!(in >> z0 >> dz)) continue;
    const embed::ParsedReport& parsed = parsed_reports[i];
    for (const auto& ref : parsed.references) {
      if (ref.sentence >= parsed.sentences.size() || ref.slice_index() < 0) continue;
      // The sentence without its reference: the answer must come from the image.
      CTDB_ASSIGN_OR_RETURN(Localization l,
                            engine->Localize(s.record.key, embed::RemoveSliceReferences(parsed.sentences[ref.sentence])));
      pred.push_back(l.z_mm);
      slab_pred.push_back(l.slab_z_mm);
      r.localized_by_detection += l.detection.has_value();
      truth.push_back(z0 + dz * ref.slice_index());
    }
  }
  r.localized = pred.size();
  r.mae_mm = MeanAbsoluteError(pred, truth);
  r.mae_slab_mm = MeanAbsoluteError(slab_pred, truth);
  return r;
}

std::string ReportJson(const EvalReport& r) {
  std::string j = "{\"studies\":" + std::to_string(r.studies) + ",\"report_to_volume\":{\"n\":" +
                  std::to_string(r.reports) + ",\"R@1\":" + Num(r.report_r1) + ",\"R@5\":" + Num(r.report_r5) +
                  ",\"R@10\":" + Num(r.report_r10) + ",\"R@10_ceiling\":" + Num(r.report_r10_ceiling) +
                  "},\"text_to_image\":{\"n\":" + std::to_string(r.texts) + ",\"R@1\":" + Num(r.text_r1) +
                  ",\"R@5\":" + Num(r.text_r5) + ",\"R@10\":" + Num(r.text_r10) +
                  ",\"R@10_ceiling\":" + Num(r.text_r10_ceiling) +
                  ",\"R@10_meaning_ceiling\":" + Num(r.text_r10_meaning_ceiling) +
                  ",\"R@10_same_labels\":" + Num(r.text_r10_same_labels) + ",\"embedding_only\":{\"R@1\":" +
                  Num(r.embedding_r1) + ",\"R@5\":" + Num(r.embedding_r5) + ",\"R@10\":" + Num(r.embedding_r10) +
                  "}},\"image_to_image\":{\"MAP@" +
                  std::to_string(r.k) + "\":" + Num(r.map) +
                  "},\"zero_shot\":{\"macro_auc_global\":" + Num(r.macro_auc_global) +
                  ",\"macro_auc_token\":" + Num(r.macro_auc_token) + ",\"diseases\":[";
  for (size_t i = 0; i < r.diseases.size(); ++i) {
    const auto& d = r.diseases[i];
    j += std::string(i ? "," : "") + "{\"disease\":" + Quote(d.disease) + ",\"positives\":" +
         std::to_string(d.positives) + ",\"negatives\":" + std::to_string(d.negatives) +
         ",\"auc_global\":" + Num(d.auc_global) + ",\"auc_token\":" + Num(d.auc_token);
    auto bands = [&](const char* name, const std::vector<SizeBandAuc>& by) {
      j += std::string(",\"") + name + "\":[";
      for (size_t b = 0; b < by.size(); ++b) {
        j += std::string(b ? "," : "") + "{\"band\":" + Quote(by[b].band) +
             ",\"positives\":" + std::to_string(by[b].positives) + ",\"auc\":" + Num(by[b].auc) + "}";
      }
      j += "]";
    };
    if (!d.by_size.empty()) {
      j += ",\"sized_positives\":" + std::to_string(d.sized_positives);
      bands("by_size", d.by_size);
    }
    if (std::isfinite(d.auc_detector)) {
      j += ",\"auc_detector\":" + Num(d.auc_detector);
      if (!d.detector_by_size.empty()) bands("detector_by_size", d.detector_by_size);
    }
    j += "}";
  }
  j += "]},\"localization\":{\"sentences\":" + std::to_string(r.localized) + ",\"mae_mm\":" + Num(r.mae_mm) +
       ",\"mae_slab_mm\":" + Num(r.mae_slab_mm) + ",\"by_detection\":" + std::to_string(r.localized_by_detection) +
       ",\"slab_mm\":" + Num(r.slab_mm) + "}}";
  return j;
}

std::string MissesJsonLines(const EvalReport& r) {
  std::string out;
  for (const TextMiss& m : r.text_misses) {
    out += "{\"key\":" + Quote(m.key) + ",\"impression\":" + Quote(m.impression) +
           ",\"rank\":" + std::to_string(m.rank) + ",\"top_key\":" + Quote(m.top_key) +
           ",\"top_impression\":" + Quote(m.top_impression) +
           ",\"top_same_labels\":" + (m.top_same_labels ? "true" : "false") + "}\n";
  }
  return out;
}

}  // namespace ctdb::eval
