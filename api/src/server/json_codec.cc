#include "api/src/server/json_codec.h"

#include <nlohmann/json.hpp>

namespace ctdb::server {
namespace {

using json = nlohmann::json;

// Text from clients and reports may hold invalid UTF-8: replace, never throw.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

const char* SexName(Sex s) { return s == Sex::kFemale ? "F" : s == Sex::kMale ? "M" : ""; }

json Record(const StudyRecord& r) {
  json j = {{"key", r.key},
            {"patient_id", r.patient_id},
            {"sex", SexName(r.sex)},
            {"age_years", r.age_years},
            {"study_date", r.study_date},
            {"manufacturer", r.manufacturer},
            {"spacing_mm", r.spacing_mm},
            {"shape", r.shape},
            {"findings", r.findings},
            {"impression", r.impression},
            {"labels", r.labels},
            {"model_id", r.model_id}};
  json st = json::array();
  for (const auto& s : r.statements) {
    st.push_back({{"finding", s.finding}, {"region", s.region}, {"existence", ExistenceName(s.existence)}});
  }
  j["statements"] = std::move(st);
  return j;
}

json Disease(const DiseaseEntry& e) {
  json j = {{"name", e.name},
            {"positive", e.positive},
            {"negative", e.negative},
            {"embedded", !e.positive_prototype.empty()},
            {"model_id", e.model_id},
            {"exemplar_studies", e.exemplar_studies}};
  if (e.calibration_studies > 0) {
    j["calibration"] = {{"scale", e.calibration_scale}, {"bias", e.calibration_bias}, {"studies", e.calibration_studies}};
  }
  return j;
}

}  // namespace

std::string RecordJson(const StudyRecord& record) { return Dump(Record(record)); }

std::string QueryResultJson(const QueryResult& r, size_t offset) {
  json hits = json::array();
  for (size_t i = 0; i < r.hits.size(); ++i) {
    const QueryHit& h = r.hits[i];
    json j = {{"rank", offset + i + 1}, {"key", h.key}, {"score", h.score}};
    if (h.probability) j["probability"] = *h.probability;
    if (h.z_mm) j["z_mm"] = *h.z_mm;
    if (h.slab_score) j["slab_score"] = *h.slab_score;
    if (!h.sentence.empty()) j["sentence"] = h.sentence;
    j["study"] = {{"age_years", h.record.age_years}, {"sex", SexName(h.record.sex)},
                  {"study_date", h.record.study_date}, {"impression", h.record.impression},
                  {"labels", h.record.labels}};
    hits.push_back(std::move(j));
  }
  return Dump({{"score_meaning", r.score_meaning}, {"hits", std::move(hits)}});
}

std::string ClassifyJson(const std::string& key, const std::vector<DiseaseProbability>& ps) {
  json out = json::array();
  for (const auto& p : ps) {
    json j = {{"disease", p.disease}, {"probability", p.probability}, {"margin", p.margin}, {"labelled", p.labelled}};
    if (p.token_probability) j["token_probability"] = *p.token_probability;
    if (p.calibrated_probability) j["calibrated_probability"] = *p.calibrated_probability;
    if (!p.detections.empty()) {
      json ds = json::array();
      for (const Detection& d : p.detections) ds.push_back({{"score", d.score}, {"position_mm", d.position_mm}});
      j["detections"] = std::move(ds);
    }
    out.push_back(std::move(j));
  }
  return Dump({{"key", key},
               {"score_meaning", "probability = sigmoid(logit_scale * (x.p+ - x.p-)), x the study's global image "
                                 "embedding, p+/p- the disease's phrase prototypes; token_probability uses the "
                                 "disease's query-token feature; calibrated_probability (calibrated diseases) = sigmoid(scale * z + "
                                 "bias), z the log-odds of token_probability (else probability), fitted on labelled "
                                 "studies; labelled = the study's own label; detections (where the model has a "
                                 "detector for the disease): its candidates, best first, score = the detector's "
                                 "sigmoid output (not calibrated), position_mm = LPS x (+left) and y (+posterior) "
                                 "from the field of view's centre, z = patient z"},
               {"diseases", std::move(out)}});
}

std::string LocalizationJson(const Localization& l) {
  json curve = json::array();
  for (const auto& p : l.curve) curve.push_back({{"z_mm", p.z_mm}, {"score", p.score}});
  json out = {{"key", l.key},
              {"z_mm", l.z_mm},
              {"slab_z_mm", l.slab_z_mm},
              {"score", l.score},
              {"slab_mm", l.slab_mm},
              {"score_meaning", "cosine of the text's embedding and each axial slab's feature; z_mm is the "
                                "detection's z when a detection of a finding the text states answers, else the "
                                "best slab's centre (slab_z_mm)"},
              {"curve", std::move(curve)}};
  if (l.detection) {
    out["detection"] = {{"finding", l.detection->finding},
                        {"score", l.detection->score},
                        {"position_mm", l.detection->position_mm}};
  }
  return Dump(out);
}

std::string ReportDraftJson(const std::string& key, const ReportDraft& d) {
  json n = json::array(), f = json::array();
  for (const auto& x : d.neighbors) n.push_back({{"key", x.key}, {"score", x.score}, {"impression", x.impression}});
  for (const auto& x : d.findings) f.push_back({{"finding", x.finding}, {"support", x.support}, {"sentence", x.sentence}});
  return Dump({{"key", key},
               {"draft", d.text},
               {"findings", std::move(f)},
               {"neighbors", std::move(n)},
               {"note", "drafted from the reports of the most similar stored studies; support = score-weighted share "
                        "of them stating the finding. A draft, not a diagnosis."}});
}

std::string DiseasesJson(const std::vector<DiseaseEntry>& c) {
  json out = json::array();
  for (const auto& e : c) out.push_back(Disease(e));
  return Dump({{"diseases", std::move(out)}});
}

std::string DiseaseJson(const DiseaseEntry& e) { return Dump(Disease(e)); }

std::string StatsJson(const DatabaseStats& s) {
  auto index = [](const IndexStats& i) {
    return json{{"factory", i.factory}, {"trained", i.trained},       {"rows", i.rows},
                {"live", i.live},       {"tombstones", i.tombstones}, {"memory_bytes", i.memory_bytes}};
  };
  return Dump({{"studies", s.studies},
               {"dimension", s.dimension},
               {"format_version", s.format_version},
               {"last_sequence", s.last_sequence},
               {"snapshot_sequence", s.snapshot_sequence},
               {"disk_bytes", s.disk_bytes},
               {"image_index", index(s.image_index)},
               {"report_index", index(s.report_index)},
               {"model_id", s.model_id},
               {"model_pending", s.model_pending}});
}

}  // namespace ctdb::server
