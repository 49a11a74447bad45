// The evaluation harness on hand-made vectors (hand-computed results) and
// end to end on synthetic studies with a (tiny, untrained) model.
#include <doctest/doctest.h>

#include <cmath>
#include <sstream>

#include <nlohmann/json.hpp>

#include "ctdb/ctdb.h"
#include "ctdb/ingest.h"
#include "ctdb/model.h"
#include "embed/report_parser.h"
#include "tests/test_util.h"
#include "tools/eval/harness.h"
#include "tools/synth/synth.h"

namespace ctdb::eval {
namespace {

std::vector<float> V(float a, float b, float c, float d) { return {a, b, c, d}; }

TEST_CASE("harness: impressions that state the same findings, regions, sizes and amounts mean the same") {
  auto same = [](const std::string& a, const std::string& b) {
    const std::string ka = ImpressionMeaning(a), kb = ImpressionMeaning(b);
    CHECK_MESSAGE(!ka.empty(), a);
    return ka == kb;
  };
  CHECK(same("1. Cardiomegaly.", "1. Enlarged heart."));
  CHECK(same("1. Mediastinal lymphadenopathy.", "1. Enlarged mediastinal lymph nodes."));
  CHECK(same("1. Emphysema. 2. Hiatal hernia.", "1. Hiatal hernia. 2. Emphysema."));  // order
  CHECK(same("1. 6 mm nodule in the right upper lobe, follow-up recommended.", "1. 6 mm right upper lobe nodule."));
  CHECK(same("Normal chest CT.", "No acute cardiopulmonary abnormality."));
  CHECK_FALSE(same("1. 4 mm right upper lobe nodule.", "1. 6 mm right upper lobe nodule."));       // size
  CHECK_FALSE(same("1. 6 mm right upper lobe nodule.", "1. 6 mm left upper lobe nodule."));        // side
  CHECK_FALSE(same("1. 6 mm right upper lobe nodule.", "1. 6 mm right lower lobe nodule."));       // level
  CHECK_FALSE(same("1. Small left pleural effusion.", "1. Large left pleural effusion."));          // amount
  CHECK_FALSE(same("1. Cardiomegaly.", "1. Cardiomegaly. 2. Emphysema."));
  CHECK_FALSE(same("No pleural effusion.", "Pleural effusion."));                                 // existence
  CHECK_FALSE(same("Normal chest CT.", "1. Cardiomegaly."));
  CHECK(ImpressionMeaning("Follow-up as clinically indicated.").empty());
}

TEST_CASE("harness: stored-vector metrics match a hand computation") {
  test::TempDir dir;
  Options o;
  o.path = dir.Sub("db");
  o.create_if_missing = true;
  o.dimension = 4;
  auto db = Database::Open(o);
  REQUIRE(db.ok());
  // Images: A = e1, B = 0.8 e1 + 0.6 e2, C = e3. Reports: A -> e1 (own rank 0),
  // B -> 0.9 e1 + 0.1 e2 (A first, B second: rank 1), C -> e3 (rank 0).
  struct S {
    const char* key;
    std::vector<float> image, report;
    std::vector<std::string> labels;
  };
  const S studies[] = {{"A", V(1, 0, 0, 0), V(1, 0, 0, 0), {"x"}},
                       {"B", V(0.8f, 0.6f, 0, 0), V(0.9f, 0.1f, 0, 0), {"x"}},
                       {"C", V(0, 0, 1, 0), V(0, 0, 1, 0), {"y"}}};
  for (const auto& s : studies) {
    Study st;
    st.record.key = s.key;
    st.record.labels = s.labels;
    st.vectors.image = s.image;
    st.vectors.report = s.report;
    REQUIRE((*db)->Put(st).ok());
  }
  EvalOptions eo;
  eo.k = 2;
  auto r = Evaluate(**db, nullptr, eo);
  REQUIRE(r.ok());
  CHECK(r->studies == 3);
  CHECK(r->reports == 3);
  CHECK(r->report_r1 == doctest::Approx(2.0 / 3));
  CHECK(r->report_r5 == doctest::Approx(1.0));
  // AP@2: A -> [B rel 1, C rel 0] = (1 + 1/2) / 2 = 0.75; B likewise; C -> 0.
  CHECK(r->map == doctest::Approx(0.5));
  CHECK(std::isnan(r->text_r1));  // needs a model
  CHECK(r->diseases.empty());
  const std::string json = ReportJson(*r);
  CHECK(json.find("\"MAP@2\":0.5000") != std::string::npos);
  CHECK(json.find("\"R@1\":null") != std::string::npos);
}

TEST_CASE("harness: with a model, every metric is computed and counts match the reports") {
  test::TempDir dir;
  synth::SynthOptions so;
  so.out = dir.Sub("data");
  so.n = 24;  // more than 10 + 1: an impression can miss its study
  so.seed = 6;
  so.inplane = 48;
  REQUIRE(synth::Synthesize(so).ok());
  auto model = Model::Open(test::MakeTinyModel(dir.Sub("m")));
  REQUIRE(model.ok());
  Options o;
  o.path = dir.Sub("db");
  o.create_if_missing = true;
  o.dimension = 32;
  o.model_id = (*model)->id();
  auto db = Database::Open(o);
  REQUIRE(db.ok());
  auto sum = Ingest(**db, **model, so.out, {});
  REQUIRE(sum.ok());
  REQUIRE(sum->ingested == 24);
  auto r = Evaluate(**db, model->get(), {});
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  CHECK(r->texts == 24);
  // Every impression not finding its study in the top 10 is listed, with
  // what came first instead; a tiny untrained model misses many.
  const auto found = static_cast<size_t>(std::lround(r->text_r10 * static_cast<double>(r->texts)));
  CHECK(r->text_misses.size() == r->texts - found);
  REQUIRE(!r->text_misses.empty());
  std::istringstream lines(MissesJsonLines(*r));
  std::string line;
  for (const auto& m : r->text_misses) {
    CHECK((m.rank == -1 || m.rank > 10));
    CHECK(m.top_key != m.key);
    auto rec = (*db)->GetRecord(m.key);
    REQUIRE(rec.ok());
    CHECK(m.impression == rec->impression);
    CHECK(m.top_impression == (*db)->GetRecord(m.top_key)->impression);
    REQUIRE(std::getline(lines, line));
    const auto j = nlohmann::json::parse(line);  // valid JSON, newlines in reports escaped
    CHECK(j.at("key") == m.key);
    CHECK(j.at("impression") == m.impression);
    CHECK(j.at("rank") == m.rank);
  }
  CHECK_FALSE(std::getline(lines, line));
  // Invariants: no model beats the ceiling, and finding one's own study
  // means finding a study with its label set.
  CHECK(r->text_r10 <= r->text_r10_ceiling);
  CHECK(r->text_r10_ceiling <= 1.0);
  // Meanings group identical texts and more: the ceiling by meaning is lower.
  CHECK(r->text_r10_meaning_ceiling <= r->text_r10_ceiling);
  CHECK(r->text_r10_meaning_ceiling > 0);
  CHECK(ReportJson(*r).find("\"R@10_meaning_ceiling\":") != std::string::npos);
  CHECK(r->text_r10_same_labels >= r->text_r10);
  CHECK(r->report_r10 <= r->report_r10_ceiling);
  CHECK(ReportJson(*r).find("\"R@10_same_labels\":") != std::string::npos);
  CHECK(r->diseases.size() == 18);
  size_t refs = 0;
  for (const auto& key : *(*db)->ListKeys({})) {
    auto rec = (*db)->GetRecord(key);
    refs += embed::ParseReport(rec->findings + "\n" + rec->impression).references.size();
  }
  CHECK(r->localized == refs);
  CHECK(refs > 0);
  CHECK(r->mae_mm >= 0);
  // A model without a detector: every sentence answered by its best slab.
  CHECK(r->localized_by_detection == 0);
  CHECK(r->mae_slab_mm == r->mae_mm);
  for (const auto& d : r->diseases) CHECK(!std::isfinite(d.auc_detector));
  CHECK(r->slab_mm == 24);
  for (const auto& d : r->diseases) {
    if (d.positives > 0 && d.negatives > 0) {
      CHECK(d.auc_global >= 0);
      CHECK(d.auc_global <= 1);
    } else {
      CHECK(std::isnan(d.auc_global));
    }
  }
  // Synthetic reports state every nodule's size: each sized positive is in
  // one band, and the JSON carries them.
  bool nodules = false;
  for (const auto& d : r->diseases) {
    int in_bands = 0;
    for (const auto& b : d.by_size) in_bands += b.positives;
    CHECK(in_bands == d.sized_positives);
    if (d.disease != "Lung nodule" || d.positives == 0) continue;
    nodules = true;
    CHECK(d.sized_positives == d.positives);
    CHECK(!d.by_size.empty());
  }
  CHECK(nodules);
  CHECK(ReportJson(*r).find("\"by_size\":[{\"band\":") != std::string::npos);
  // Another model's vectors are not evaluated with this one.
  auto m9 = Model::Open(test::MakeTinyModel(dir.Sub("m9"), 9));
  CHECK(Evaluate(**db, m9->get(), {}).status().code() == Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace ctdb::eval
