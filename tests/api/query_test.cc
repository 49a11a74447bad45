// QueryEngine: the arithmetic of disease search and classification on
// hand-made vectors, every query end to end on ingested synthetic studies,
// catalog editing, and backup / restore.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <tuple>

#include "api/src/model_manifest_json.h"
#include "api/src/study_pipeline.h"
#include "ctdb/ctdb.h"
#include "embed/disease_catalog.h"
#include "tests/test_util.h"
#include "embed/nifti_io.h"
#include "tools/synth/synth.h"

namespace fs = std::filesystem;

namespace ctdb {
namespace {

std::unique_ptr<Database> OpenDb(const std::string& path, size_t dim, const std::string& model_id = "") {
  Options o;
  o.path = path;
  o.create_if_missing = true;
  o.dimension = dim;
  o.model_id = model_id;
  auto db = Database::Open(o);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

std::vector<float> Unit(size_t d, size_t i) {
  std::vector<float> v(d, 0.0f);
  v[i] = 1;
  return v;
}

// Studies whose image vectors are known, and one disease with p+ = e0,
// p- = e1: x.(p+ - p-) = x0 - x1.
struct HandMade {
  test::TempDir dir;
  std::unique_ptr<Database> db = OpenDb(dir.Sub("db"), 4);
  HandMade() {
    const float xs[][4] = {{0.9f, 0.1f, 0.4f, 0}, {0.1f, 0.9f, 0.4f, 0}, {0.6f, 0.6f, 0.5f, 0}, {0.7f, 0.0f, 0.7f, 0.1f}};
    for (int i = 0; i < 4; ++i) {
      Study s = test::MakeStudy("s" + std::to_string(i), xs[i], 4);
      s.record.labels = i == 0 ? std::vector<std::string>{"Effusion"} : std::vector<std::string>{};
      REQUIRE(db->Put(s).ok());
    }
    DiseaseEntry e;
    e.name = "Effusion";
    e.positive = {"effusion"};
    e.negative = {"no effusion"};
    e.positive_prototype = Unit(4, 0);
    e.negative_prototype = Unit(4, 1);
    e.logit_scale = 10;
    REQUIRE(db->PutDisease(e).ok());
  }
  // x0 - x1 of the stored (normalized) image vector.
  float Margin(const std::string& key) {
    auto v = db->GetVectors(key);
    REQUIRE(v.ok());
    return v->image[0] - v->image[1];
  }
};

TEST_CASE("query: disease search ranks by x.(p+ - p-) and reports sigmoid(scale * margin)") {
  HandMade h;
  auto q = QueryEngine::Open(h.db.get(), nullptr);
  REQUIRE(q.ok());
  QueryOptions o;
  o.k = 4;
  auto r = (*q)->SearchDisease("effusion", o);  // case-insensitive
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(r->hits.size() == 4);
  CHECK(r->hits[0].key == "s0");
  CHECK(r->hits[1].key == "s3");
  CHECK(r->hits[3].key == "s1");
  for (size_t i = 0; i < 4; ++i) {
    const float m = h.Margin(r->hits[i].key);
    REQUIRE(r->hits[i].probability.has_value());
    CHECK(*r->hits[i].probability == doctest::Approx(1 / (1 + std::exp(-10 * m))).epsilon(1e-4));
    CHECK(r->hits[i].score == doctest::Approx(m / std::sqrt(2.0f)).epsilon(1e-4));  // cosine with p+ - p-
    if (i) CHECK(*r->hits[i].probability <= *r->hits[i - 1].probability);
  }
  CHECK(r->score_meaning.find("p+ - p-") != std::string::npos);

  // Paging and filters.
  o.k = 2;
  o.offset = 1;
  auto page = (*q)->SearchDisease("Effusion", o);
  REQUIRE(page.ok());
  REQUIRE(page->hits.size() == 2);
  CHECK(page->hits[0].key == "s3");
  o.offset = 0;
  o.filter = *ParseFilter("label=Effusion");
  auto filtered = (*q)->SearchDisease("Effusion", o);
  REQUIRE(filtered.ok());
  REQUIRE(filtered->hits.size() == 1);
  CHECK(filtered->hits[0].key == "s0");

  // Errors.
  CHECK((*q)->SearchDisease("Pneumothorax", {}).status().IsNotFound());
  CHECK((*q)->SearchDisease("Effusion", {}, 1.5).status().IsInvalidArgument());
  CHECK((*q)->SearchDisease("Effusion", {}, 0.5).status().code() == Status::Code::kFailedPrecondition);  // no exemplars
  QueryOptions bad;
  bad.k = 0;
  CHECK((*q)->SearchDisease("Effusion", bad).status().IsInvalidArgument());
  // No model: text queries say what is missing.
  auto t = (*q)->SearchText("effusion", {});
  CHECK(t.status().code() == Status::Code::kFailedPrecondition);
  CHECK(t.status().message().find("model") != std::string::npos);
}

TEST_CASE("query: classify, exemplars, image search without the study itself") {
  HandMade h;
  auto q = QueryEngine::Open(h.db.get(), nullptr);
  REQUIRE(q.ok());
  auto c = (*q)->Classify("s0");
  REQUIRE(c.ok());
  REQUIRE(c->size() == 1);
  CHECK((*c)[0].labelled);
  CHECK((*c)[0].margin == doctest::Approx(h.Margin("s0")).epsilon(1e-4));
  CHECK((*c)[0].probability > 0.99f);
  CHECK(!(*c)[0].token_probability.has_value());  // no disease features stored
  auto c1 = (*q)->Classify("s1");
  REQUIRE(c1.ok());
  CHECK((*c1)[0].probability < 0.01f);
  CHECK((*q)->Classify("missing").status().IsNotFound());

  auto n = (*q)->ComputeExemplars();
  REQUIRE(n.ok());
  CHECK(*n == 4);
  auto cat = (*q)->Diseases();
  REQUIRE(cat.ok());
  CHECK((*cat)[0].exemplar_studies == 4);
  CHECK((*cat)[0].exemplar_positive.size() == 4);
  // Exemplar direction only (weight 1): e+ = s0, e- = mean(s1, s2, s3).
  auto ex = (*q)->SearchDisease("Effusion", {}, 1.0);
  REQUIRE(ex.ok());
  CHECK(ex->hits[0].key == "s0");

  auto im = (*q)->SearchImageByKey("s0", {});
  REQUIRE(im.ok());
  CHECK(im->hits.size() == 3);
  for (const auto& hit : im->hits) CHECK(hit.key != "s0");
  CHECK((*q)->SearchImageByKey("s0", {}, "Effusion").status().code() == Status::Code::kFailedPrecondition);
  CHECK((*q)->SearchImageByKey("nope", {}).status().IsNotFound());
  CHECK((*q)->SearchImageByFile("/x.nii.gz", {}).status().code() == Status::Code::kFailedPrecondition);
}

// v minus its components along `basis` (unit vectors), made unit.
std::vector<float> Orthogonalized(std::vector<float> v, const std::vector<std::vector<float>>& basis) {
  for (const auto& b : basis) {
    double d = 0;
    for (size_t i = 0; i < v.size(); ++i) d += static_cast<double>(v[i]) * b[i];
    for (size_t i = 0; i < v.size(); ++i) v[i] -= static_cast<float>(d * b[i]);
  }
  double n = 0;
  for (float x : v) n += static_cast<double>(x) * x;
  REQUIRE(n > 1e-6);
  for (float& x : v) x = static_cast<float>(x / std::sqrt(n));
  return v;
}

TEST_CASE("query: text search re-ranks by the findings the text states, present or absent") {
  test::TempDir dir;
  std::shared_ptr<Model> model = std::move(Model::Open(test::MakeTinyModel(dir.Sub("model"))).value());
  auto db = OpenDb(dir.Sub("db"), 32, model->id());
  auto texts = model->EmbedTexts({"Pleural effusion.", "No pleural effusion."});
  REQUIRE(texts.ok());
  const std::vector<float> t = (*texts)[0], t_no = Orthogonalized((*texts)[1], {t});
  std::vector<float> seed_u(32), seed_w(32);
  for (size_t i = 0; i < 32; ++i) seed_u[i] = std::sin(1.0f + static_cast<float>(i)), seed_w[i] = std::cos(3.0f * static_cast<float>(i));
  // u: the effusion direction; w: off every query and u.
  const std::vector<float> u = Orthogonalized(seed_u, {t, t_no});
  const std::vector<float> w = Orthogonalized(seed_w, {t, t_no, u});
  std::vector<float> minus_u = u, b_image(32);
  for (float& x : minus_u) x = -x;
  for (size_t i = 0; i < 32; ++i) b_image[i] = 0.8f * t[i] + 0.6f * w[i];
  // "close": the text's own embedding, no effusion by its effusion token;
  // "shows": cosine 0.8 with the text, effusion by its token.
  Study close = test::MakeStudy("close", t.data(), 32), shows = test::MakeStudy("shows", b_image.data(), 32);
  close.vectors.diseases = {{"Pleural effusion", minus_u}};
  shows.vectors.diseases = {{"Pleural effusion", u}};
  REQUIRE(db->Put(close).ok());
  REQUIRE(db->Put(shows).ok());
  DiseaseEntry e;
  e.name = "Pleural effusion";
  e.positive = {"Pleural effusion."};
  e.negative = {"No pleural effusion."};
  e.positive_prototype = u;  // p+ - p- = 2u: margins -2 and +2
  e.negative_prototype = minus_u;
  e.model_id = model->id();
  e.logit_scale = 10;
  REQUIRE(db->PutDisease(e).ok());

  auto order = [&](QueryEngine& q, const std::string& text) {
    QueryOptions o;
    o.k = 2;
    auto r = q.SearchText(text, o);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->hits.size() == 2);
    return std::make_pair(r->hits[0].key + "," + r->hits[1].key, r->score_meaning);
  };
  auto plain = QueryEngine::Open(db.get(), model, QueryEngineOptions{1000, 5, 0.0});
  REQUIRE(plain.ok());
  CHECK(order(**plain, "Pleural effusion.").first == "close,shows");  // cosine 1 vs 0.8
  auto aware = QueryEngine::Open(db.get(), model);
  REQUIRE(aware.ok());
  // 1 + 0.1 log 0.001 = 0.31 against 0.8 + 0.1 log 0.999 = 0.80 (probability_floor 0.001).
  const auto stated = order(**aware, "Pleural effusion.");
  CHECK(stated.first == "shows,close");
  CHECK(stated.second.find("(Pleural effusion)") != std::string::npos);
  // Stated absent: the study without it first (the cosines differ by at most 0.2).
  const auto absent = order(**aware, "No pleural effusion.");
  CHECK(absent.first == "close,shows");
  CHECK(absent.second.find("(no Pleural effusion)") != std::string::npos);
}

// Two studies that both show what the text states; which ranks first is
// up to the terms beyond the stated findings' existence.
struct TwoShowing {
  test::TempDir dir;
  std::shared_ptr<Model> model = std::move(Model::Open(test::MakeTinyModel(dir.Sub("model"))).value());
  std::unique_ptr<Database> db = OpenDb(dir.Sub("db"), 32, model->id());
  std::vector<float> t, u, v, w;  // the text; effusion, cardiomegaly and a free direction, each off the others

  explicit TwoShowing(const std::string& text) {
    auto texts = model->EmbedTexts({text});
    REQUIRE(texts.ok());
    t = (*texts)[0];
    std::vector<float> seed_u(32), seed_v(32), seed_w(32);
    for (size_t i = 0; i < 32; ++i) {
      seed_u[i] = std::sin(1.0f + static_cast<float>(i));
      seed_v[i] = std::cos(2.0f + 0.7f * static_cast<float>(i));
      seed_w[i] = std::cos(3.0f * static_cast<float>(i));
    }
    u = Orthogonalized(seed_u, {t});
    v = Orthogonalized(seed_v, {t, u});
    w = Orthogonalized(seed_w, {t, u, v});
    for (const auto& [name, direction] : {std::pair{"Pleural effusion", u}, std::pair{"Cardiomegaly", v}}) {
      DiseaseEntry e;
      e.name = name;
      e.positive = {std::string(name) + "."};
      e.negative = {"No " + std::string(name) + "."};
      e.positive_prototype = direction;
      std::vector<float> minus = direction;
      for (float& x : minus) x = -x;
      e.negative_prototype = minus;  // p+ - p- = 2 dir
      e.model_id = model->id();
      e.logit_scale = 10;
      REQUIRE(db->PutDisease(e).ok());
    }
  }
  // Image vector cos(image, t) = c, the rest along w.
  void Put(const std::string& key, float c, std::vector<NamedFeature> diseases, std::vector<Detection> detections = {}) {
    std::vector<float> image(32);
    for (size_t i = 0; i < 32; ++i) image[i] = c * t[i] + std::sqrt(1 - c * c) * w[i];
    Study s = test::MakeStudy(key, image.data(), 32);
    s.vectors.diseases = std::move(diseases);
    s.vectors.detections = std::move(detections);
    REQUIRE(db->Put(s).ok());
  }
  std::pair<std::string, std::string> Order(const QueryEngineOptions& eo, const std::string& text) {
    auto q = QueryEngine::Open(db.get(), model, eo);
    REQUIRE_MESSAGE(q.ok(), q.status().ToString());
    QueryOptions o;
    o.k = 2;
    auto r = (*q)->SearchText(text, o);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    REQUIRE(r->hits.size() == 2);
    return {r->hits[0].key + "," + r->hits[1].key, r->score_meaning};
  }
  static std::vector<float> Sum(const std::vector<float>& a, const std::vector<float>& b, float sb) {
    std::vector<float> out(a.size());
    for (size_t i = 0; i < a.size(); ++i) out[i] = a[i] + sb * b[i];
    return out;
  }
};

TEST_CASE("query: text search reads the findings a text leaves unstated as absent") {
  TwoShowing f("Pleural effusion.");
  std::vector<float> minus_v = f.v;
  for (float& x : minus_v) x = -x;
  // "more": closer by embedding, but its cardiomegaly token says cardiomegaly too.
  f.Put("more", 0.9f, {{"Pleural effusion", f.u}, {"Cardiomegaly", f.v}});
  f.Put("just", 0.8f, {{"Pleural effusion", f.u}, {"Cardiomegaly", minus_v}});
  QueryEngineOptions off;
  off.unstated_weight = 0;
  off.unstated_weight_uncalibrated = 0;
  off.sentence_weight = 0;
  CHECK(f.Order(off, "Pleural effusion.").first == "more,just");  // the stated finding: both 0.999
  // 0.9 + 0.5 log 0.001 = -2.55 against 0.8 + 0.5 log 0.999 = 0.80.
  QueryEngineOptions on = off;
  on.unstated_weight = on.unstated_weight_uncalibrated = 0.5;
  const auto r = f.Order(on, "Pleural effusion.");
  CHECK(r.first == "just,more");
  CHECK(r.second.find("the mean log-probability of absence of the 1 catalog findings it does not state, each x 0.5") !=
        std::string::npos);
  // Stating both: nothing is left unstated, and the closer one leads again.
  CHECK(f.Order(on, "Pleural effusion. Cardiomegaly.").first == "more,just");
  // A text stating no catalog finding is not re-ranked at all.
  CHECK(f.Order(on, "Follow-up.").second.find("absence") == std::string::npos);
}

TEST_CASE("query: text search mixes in the detector's best detection of a finding by detection_weight") {
  TwoShowing f("Pleural effusion.");
  // Both tokens undecided (orthogonal to p+ - p-: P = 0.5); the detector
  // says "close" shows no effusion and "found" does. Names match without case.
  f.Put("close", 0.9f, {{"Pleural effusion", f.w}, {"Cardiomegaly", f.w}}, {{"pleural effusion", 0.01f, {1, 2, 3}}});
  f.Put("found", 0.8f, {{"Pleural effusion", f.w}, {"Cardiomegaly", f.w}},
        {{"Cardiomegaly", 0.995f, {0, 0, 0}}, {"Pleural effusion", 0.99f, {-20, 4, -100}}});
  QueryEngineOptions o;
  o.unstated_weight = 0;
  o.unstated_weight_uncalibrated = 0;
  o.detection_weight = 0;
  const auto unread = f.Order(o, "Pleural effusion.");
  CHECK(unread.first == "close,found");  // the detector unread: by cosine
  CHECK(unread.second.find("detector") == std::string::npos);
  // Half: log-odds 0.5 x 0 + 0.5 x logit(0.01) -> P 0.09: 0.9 + 0.1 log 0.09 = 0.66 against
  // 0.8 + 0.1 log 0.91 = 0.79.
  o.detection_weight = 0.5;
  CHECK(f.Order(o, "Pleural effusion.").first == "found,close");
  o.detection_weight = 1;
  const auto read = f.Order(o, "Pleural effusion.");
  CHECK(read.first == "found,close");
  // The score's meaning says which findings the detector answered, and how.
  CHECK(read.second.find("(Pleural effusion: log-odds 0 x the token's plus 1 x those of the model's detector's best "
                         "detection on the side the text states") != std::string::npos);
  CHECK(f.Order(o, "Cardiomegaly.").second.find("(Cardiomegaly: log-odds") != std::string::npos);
  CHECK(f.Order(o, "No pleural effusion.").first == "close,found");
  // Classify lists each disease's own detections.
  auto q = QueryEngine::Open(f.db.get(), f.model, o);
  REQUIRE(q.ok());
  auto ps = (*q)->Classify("found");
  REQUIRE(ps.ok());
  for (const DiseaseProbability& p : *ps) {
    REQUIRE(p.detections.size() == 1);
    CHECK(p.detections[0].finding == p.disease);
    if (p.disease == "Pleural effusion") CHECK(p.detections[0].position_mm == std::array<float, 3>{-20, 4, -100});
  }
}

TEST_CASE("query: localize answers with the detection of a stated finding on its side, the best slab otherwise") {
  TwoShowing f("Pleural effusion.");
  Study s = test::MakeStudy("a", f.t.data(), 32);
  s.vectors.slabs = {{-100.f, f.t}, {-50.f, f.w}};
  s.vectors.detections = {{"Pleural effusion", 0.9f, {-30, 0, -80}},  // right (LPS x < 0)
                          {"Pleural effusion", 0.6f, {40, 5, -60}},   // left
                          {"Cardiomegaly", 0.2f, {0, 0, -20}}};
  REQUIRE(f.db->Put(s).ok());
  auto at = [&](const QueryEngineOptions& o, const std::string& text) {
    auto q = QueryEngine::Open(f.db.get(), f.model, o);
    REQUIRE(q.ok());
    auto l = (*q)->Localize("a", text);
    REQUIRE_MESSAGE(l.ok(), l.status().ToString());
    CHECK((l->slab_z_mm == -100.f || l->slab_z_mm == -50.f));
    CHECK(l->curve.size() == 2);
    return *l;
  };
  const QueryEngineOptions o;
  const Localization right = at(o, "Right pleural effusion.");
  REQUIRE(right.detection);
  CHECK(right.z_mm == -80.f);
  CHECK(right.detection->position_mm[0] == -30.f);
  const Localization left = at(o, "Small left pleural effusion.");
  REQUIRE(left.detection);
  CHECK(left.z_mm == -60.f);
  CHECK(left.detection->position_mm == std::array<float, 3>{40, 5, -60});
  CHECK(at(o, "Pleural effusion.").z_mm == -80.f);  // no side: the best
  // Below the minimum score, absent, or with detections off: the best slab.
  for (const char* text : {"Cardiomegaly.", "No pleural effusion."}) {
    const Localization l = at(o, text);
    CHECK_MESSAGE(!l.detection, text);
    CHECK(l.z_mm == l.slab_z_mm);
  }
  QueryEngineOptions slabs_only;
  slabs_only.localize_min_score = 2;
  const Localization l = at(slabs_only, "Right pleural effusion.");
  CHECK(!l.detection);
  CHECK(l.z_mm == l.slab_z_mm);
}

// A record whose slices span patient z -200 .. -100 mm (101 slices 1 mm
// apart): lower-lobe zone below -155, upper above -132.5 (default bounds).
void SpanZ(StudyRecord* r) {
  r->shape = {16, 16, 101};
  r->spacing_mm = {1, 1, 1};
  r->extra[kExtraSliceZ] = "-200 1";
}

TEST_CASE("query: a finding stated in a lobe reads the detections at that lobe's height") {
  TwoShowing f("Lung nodule.");
  DiseaseEntry nodule;
  nodule.name = "Lung nodule";
  nodule.positive = {"Lung nodule."};
  nodule.negative = {"No lung nodule."};
  nodule.positive_prototype = f.u;
  nodule.negative_prototype = f.v;
  nodule.model_id = f.model->id();
  REQUIRE(f.db->PutDisease(nodule).ok());
  // Localize: the best right nodule is high in the scan, a weaker one low.
  Study s = test::MakeStudy("a", f.t.data(), 32);
  SpanZ(&s.record);
  s.vectors.slabs = {{-150.f, f.t}};
  s.vectors.detections = {{"Lung nodule", 0.9f, {-40, 0, -120}}, {"Lung nodule", 0.7f, {-45, 10, -180}},
                          {"Lung nodule", 0.8f, {40, 0, -140}}};
  REQUIRE(f.db->Put(s).ok());
  auto z_of = [&](const QueryEngineOptions& o, const std::string& text) {
    auto q = QueryEngine::Open(f.db.get(), f.model, o);
    REQUIRE(q.ok());
    auto l = (*q)->Localize("a", text);
    REQUIRE_MESSAGE(l.ok(), l.status().ToString());
    return l->z_mm;
  };
  const QueryEngineOptions o;
  CHECK(z_of(o, "4 mm right lower lobe nodule.") == -180.f);
  CHECK(z_of(o, "4 mm nodule in the right upper lobe.") == -120.f);
  CHECK(z_of(o, "5 mm lingula nodule.") == -140.f);  // left, middle zone
  CHECK(z_of(o, "Right lung nodule.") == -120.f);    // no lobe: the best on the side
  QueryEngineOptions off;
  off.lower_zone_top = off.upper_zone_bottom = 0;
  CHECK(z_of(off, "4 mm right lower lobe nodule.") == -120.f);
  // A record without slice geometry (not ingested from a volume): any height.
  Study b = s;
  b.record.key = "b";
  b.record.extra.clear();
  REQUIRE(f.db->Put(b).ok());
  auto q = QueryEngine::Open(f.db.get(), f.model, o);
  REQUIRE(q.ok());
  CHECK((*q)->Localize("b", "4 mm right lower lobe nodule.")->z_mm == -120.f);

  // Text search: "high" is closer by embedding, its right nodule in the
  // upper zone; "low" has one in the lower zone. Tokens undecided.
  REQUIRE(f.db->Delete("a").ok());
  REQUIRE(f.db->Delete("b").ok());
  for (const auto& [key, c, z] : {std::tuple{"high", 0.9f, -120.f}, std::tuple{"low", 0.8f, -180.f}}) {
    Study st = test::MakeStudy(key, f.t.data(), 32);
    std::vector<float> image(32);
    for (size_t i = 0; i < 32; ++i) image[i] = c * f.t[i] + std::sqrt(1 - c * c) * f.w[i];
    st.vectors.image = image;
    SpanZ(&st.record);
    st.vectors.diseases = {{"Lung nodule", f.w}, {"Pleural effusion", f.w}, {"Cardiomegaly", f.w}};
    st.vectors.detections = {{"Lung nodule", 0.95f, {-40, 0, z}}};
    REQUIRE(f.db->Put(st).ok());
  }
  QueryEngineOptions t;
  t.unstated_weight = 0;
  t.unstated_weight_uncalibrated = 0;
  const auto lower = f.Order(t, "4 mm right lower lobe nodule.");
  CHECK(lower.first == "low,high");
  CHECK(lower.second.find("at the height of the lobe it names") != std::string::npos);
  CHECK(f.Order(t, "4 mm right upper lobe nodule.").first == "high,low");
  CHECK(f.Order(off, "4 mm right lower lobe nodule.").first == "high,low");  // zones off: both found
  QueryEngineOptions bad;
  bad.probability_floor = 0;
  CHECK(QueryEngine::Open(f.db.get(), f.model, bad).status().IsInvalidArgument());
}

TEST_CASE("query: calibrate fits each disease to the stored labels -- classify and text search use it") {
  TwoShowing f("Pleural effusion.");
  {
    auto q = QueryEngine::Open(f.db.get(), f.model);
    REQUIRE(q.ok());
    CHECK((*q)->CalibrateDiseases().status().code() == Status::Code::kFailedPrecondition);  // no studies
  }
  // 16 studies: effusion token cos c with u (margin 2c, raw log-odds 20c);
  // labelled where c > 0, two of them the other way. Cardiomegaly: never.
  for (int i = 0; i < 16; ++i) {
    const float c = -0.9f + 0.12f * static_cast<float>(i);
    std::vector<float> token(32);
    for (size_t k = 0; k < 32; ++k) token[k] = c * f.u[k] + std::sqrt(1 - c * c) * f.w[k];
    f.Put("s" + std::to_string(i), 0.5f, {{"Pleural effusion", token}, {"Cardiomegaly", f.w}});
    Study st = *f.db->Get("s" + std::to_string(i));
    if ((c > 0) != (i == 3 || i == 12)) st.record.labels = {"Pleural effusion"};
    REQUIRE(f.db->Put(st).ok());
  }
  auto q = QueryEngine::Open(f.db.get(), f.model);
  REQUIRE(q.ok());
  auto cal = (*q)->CalibrateDiseases();
  REQUIRE_MESSAGE(cal.ok(), cal.status().ToString());
  const DiseaseEntry* eff = nullptr;
  for (const auto& e : *cal) {
    if (e.name == "Pleural effusion") eff = &e;
    if (e.name == "Cardiomegaly") CHECK(e.calibration_studies == 0);  // no positives
  }
  REQUIRE(eff);
  CHECK(eff->calibration_studies == 16);
  CHECK(eff->calibration_scale > 0);
  CHECK(eff->calibration_scale < 1);  // two mistakes: the raw log-odds (up to 18) are overconfident
  // Classify: sigmoid(scale z + bias) beside the raw token probability.
  auto ps = (*q)->Classify("s0");
  REQUIRE(ps.ok());
  for (const DiseaseProbability& p : *ps) {
    if (p.disease == "Cardiomegaly") CHECK(!p.calibrated_probability);
    if (p.disease != "Pleural effusion") continue;
    REQUIRE(p.token_probability);
    REQUIRE(p.calibrated_probability);
    const double z = std::log(*p.token_probability / (1 - *p.token_probability));
    CHECK(*p.calibrated_probability ==
          doctest::Approx(1 / (1 + std::exp(-(eff->calibration_scale * z + eff->calibration_bias)))).epsilon(1e-3));
    CHECK(*p.calibrated_probability > *p.token_probability);  // less sure it is absent
  }
  CHECK(f.Order({}, "Pleural effusion.").second.find("(calibrated on labelled studies: Pleural effusion)") !=
        std::string::npos);
  // Stored: a new engine reads it; the same phrases keep it, new ones reset it.
  auto again = QueryEngine::Open(f.db.get(), f.model);
  REQUIRE(again.ok());
  auto same = (*again)->SetDisease("Pleural effusion", eff->positive, eff->negative);
  REQUIRE(same.ok());
  CHECK(same->calibration_studies == 16);
  auto edited = (*again)->SetDisease("Pleural effusion", {"Fluid in the pleural space."}, eff->negative);
  REQUIRE(edited.ok());
  CHECK(edited->calibration_studies == 0);
  CHECK(edited->calibration_scale == 1);
}

TEST_CASE("query: a model's shipped calibration seeds new catalogs and reaches older uncalibrated ones") {
  test::TempDir dir;
  const std::string path = test::MakeTinyModel(dir.Sub("m"));
  auto model = Model::Open(path);
  REQUIRE(model.ok());
  std::shared_ptr<Model> m = std::move(model).value();
  // An older database: its catalog seeded before the model had a calibration.
  auto old_db = OpenDb(dir.Sub("old"), 32, m->id());
  REQUIRE(QueryEngine::Open(old_db.get(), m).ok());
  const std::vector<DiseaseEntry> before = *old_db->ListDiseases();
  REQUIRE(before.size() >= 2);
  CHECK(before[0].calibration_studies == 0);
  // The model's own catalog, written out with a calibration for its first disease.
  std::vector<embed::DiseasePrompts> file;
  for (const auto& p : *m->DiseasePrototypes()) file.push_back({p.name, p.positive, p.negative});
  auto named = [](auto& list, const std::string& name) {
    auto it = std::find_if(list.begin(), list.end(), [&](const auto& e) { return e.name == name; });
    REQUIRE(it != list.end());
    return &*it;
  };
  const std::string first = before[0].name, other = before[1].name;
  named(file, first)->calibration_scale = 0.25;
  named(file, first)->calibration_bias = -1.5;
  named(file, first)->calibration_studies = 1400;
  REQUIRE(WriteDiseaseCatalog(path, file).ok());
  auto reread = ReadDiseaseCatalog(path);
  REQUIRE(reread.ok());
  CHECK(named(*reread, first)->calibration_scale == 0.25);
  CHECK(named(*reread, other)->calibration_studies == 0);
  std::shared_ptr<Model> shipped = std::move(Model::Open(path).value());
  for (const std::string which : {"new", "old"}) {
    std::unique_ptr<Database> db = which == "new" ? OpenDb(dir.Sub("new"), 32, m->id()) : std::move(old_db);
    auto q = QueryEngine::Open(db.get(), shipped);
    REQUIRE(q.ok());
    auto c = (*q)->Diseases();
    REQUIRE(c.ok());
    CHECK_MESSAGE(named(*c, first)->calibration_studies == 1400, which);
    CHECK(named(*c, first)->calibration_bias == -1.5);
    CHECK(named(*c, other)->calibration_studies == 0);
  }
  // A malformed calibration is refused with the entry named.
  test::WriteFileBytes(path + "/diseases.json", R"([{"name": "X", "positive": ["x."], "negative": ["no x."],
                                                     "calibration": {"scale": 1, "bias": 0, "studies": 0}}])");
  auto bad = ReadDiseaseCatalog(path);
  REQUIRE(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("(X): \"calibration\"") != std::string::npos);
}

TEST_CASE("query: disease search ranks by the model's detector where it covers the disease") {
  TwoShowing f("Pleural effusion.");
  // Every image off p+ - p- (margin 0): only the detector tells them apart.
  f.Put("low", 0.9f, {}, {{"Pleural effusion", 0.2f, {0, 0, 0}}});
  f.Put("high", 0.8f, {}, {{"Pleural effusion", 0.9f, {0, 0, 0}}, {"Cardiomegaly", 0.99f, {0, 0, 0}}});
  f.Put("mid", 0.7f, {}, {{"Cardiomegaly", 0.95f, {0, 0, 0}}, {"pleural effusion", 0.6f, {0, 0, 0}}});
  // No detection of it at all: its global margin (0: P 0.5) stands in.
  f.Put("none", 0.6f, {}, {{"Cardiomegaly", 0.95f, {0, 0, 0}}});
  auto search = [&](const QueryEngineOptions& eo, const std::string& disease, size_t k, size_t offset) {
    auto q = QueryEngine::Open(f.db.get(), f.model, eo);
    REQUIRE(q.ok());
    QueryOptions o;
    o.k = k;
    o.offset = offset;
    auto r = (*q)->SearchDisease(disease, o, 0);
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    std::string keys;
    for (const auto& h : r->hits) keys += (keys.empty() ? "" : ",") + h.key;
    return std::make_pair(keys, *r);
  };
  const auto [order, r] = search(QueryEngineOptions{}, "Pleural effusion", 4, 0);
  CHECK(order == "high,mid,none,low");
  CHECK(r.hits[0].probability == doctest::Approx(0.9f).epsilon(1e-4));
  CHECK(r.hits[2].probability == doctest::Approx(0.5f).epsilon(1e-4));
  CHECK(r.hits[3].probability == doctest::Approx(0.2f).epsilon(1e-4));
  CHECK(r.score_meaning.find("detector") != std::string::npos);
  CHECK(search(QueryEngineOptions{}, "Pleural effusion", 2, 1).first == "mid,none");  // pages the same ranking
  QueryEngineOptions off;
  off.detection_weight = 0;
  CHECK(search(off, "Pleural effusion", 4, 0).second.score_meaning.find("detector") == std::string::npos);
}

TEST_CASE("query: disease search without a detector for the disease is one inner-product search") {
  TwoShowing f("Pleural effusion.");
  f.Put("a", 0.9f, {}, {{"Cardiomegaly", 0.9f, {0, 0, 0}}});
  f.Put("b", 0.8f, {});
  auto q = QueryEngine::Open(f.db.get(), f.model);
  REQUIRE(q.ok());
  QueryOptions o;
  o.k = 2;
  auto r = (*q)->SearchDisease("Pleural effusion", o, 0);
  REQUIRE(r.ok());
  CHECK(r->hits.size() == 2);
  CHECK(r->score_meaning.find("detector") == std::string::npos);
}

TEST_CASE("query: a whole-study normal text states every catalog finding absent") {
  TwoShowing f("Normal chest CT.");
  std::vector<float> minus_u = f.u, minus_v = f.v;
  for (float& x : minus_u) x = -x;
  for (float& x : minus_v) x = -x;
  f.Put("sick", 0.9f, {{"Pleural effusion", f.u}, {"Cardiomegaly", f.v}});
  f.Put("well", 0.8f, {{"Pleural effusion", minus_u}, {"Cardiomegaly", minus_v}});
  QueryEngineOptions plain;
  plain.findings_weight = 0;
  CHECK(f.Order(plain, "Normal chest CT.").first == "sick,well");
  // 0.9 + 0.1 log 0.001 = 0.21 against 0.8 + 0.1 log 0.999 = 0.80.
  const auto r = f.Order(QueryEngineOptions{}, "Normal chest CT.");
  CHECK(r.first == "well,sick");
  CHECK(r.second.find("no Pleural effusion") != std::string::npos);
  CHECK(r.second.find("no Cardiomegaly") != std::string::npos);
  // A normal statement that names a finding is not one.
  CHECK(f.Order(QueryEngineOptions{}, "Normal chest CT except for cardiomegaly.").second.find("no Pleural effusion") ==
        std::string::npos);
}

TEST_CASE("query: text search matches each stated sentence with its finding's token feature") {
  TwoShowing f("Right pleural effusion.");
  // Both tokens show effusion (margin 2/sqrt 2 along u: P = 0.999 each, the floor);
  // "right"'s leans toward the sentence, "left"'s away from it.
  const float h = 1 / std::sqrt(2.0f);
  std::vector<float> toward = TwoShowing::Sum(f.u, f.t, 1), away = TwoShowing::Sum(f.u, f.t, -1);
  for (float& x : toward) x *= h;
  for (float& x : away) x *= h;
  f.Put("left", 0.9f, {{"Pleural effusion", away}});
  f.Put("right", 0.8f, {{"Pleural effusion", toward}});
  QueryEngineOptions off;
  off.unstated_weight = 0;
  off.unstated_weight_uncalibrated = 0;
  off.sentence_weight = 0;
  off.attribute_weight = 0;
  CHECK(f.Order(off, "Right pleural effusion.").first == "left,right");
  // 0.9 + 0.5 (-0.71) against 0.8 + 0.5 (0.71).
  QueryEngineOptions on = off;
  on.sentence_weight = 0.5;
  const auto r = f.Order(on, "Right pleural effusion.");
  CHECK(r.first == "right,left");
  CHECK(r.second.find("0.5 x the mean cosine of each sentence stating a present finding") != std::string::npos);
  // A finding stated absent has no sentence to match: the embedding decides.
  CHECK(f.Order(on, "No pleural effusion.").second.find("mean cosine") == std::string::npos);
}

TEST_CASE("query: text search contrasts each stated attribute with the sentence so changed") {
  TwoShowing f("Right pleural effusion.");
  auto left_text = f.model->EmbedTexts({"Left pleural effusion."});
  REQUIRE(left_text.ok());
  const std::vector<float>& l = (*left_text)[0];
  double lt = 0;
  for (size_t i = 0; i < 32; ++i) lt += static_cast<double>(l[i]) * f.t[i];
  // e: what "left" adds beyond the text; |l_perp| its length in l.
  const std::vector<float> e = Orthogonalized(l, {f.t});
  double l_perp = 0;
  for (size_t i = 0; i < 32; ++i) l_perp += static_cast<double>(l[i]) * e[i];
  REQUIRE(l_perp > 0.01);  // the model tells the two sentences apart
  const std::vector<float> w = Orthogonalized(f.w, {e});
  // cos(image, t) = c, along e a: the contrast x.t - x.l = c (1 - l.t) - a |l_perp|.
  auto put = [&](const std::string& key, float c, float a) {
    std::vector<float> image(32);
    for (size_t i = 0; i < 32; ++i) image[i] = c * f.t[i] + a * e[i] + std::sqrt(1 - c * c - a * a) * w[i];
    Study s = test::MakeStudy(key, image.data(), 32);
    s.vectors.diseases = {{"Pleural effusion", f.u}};  // both show it: P = 1 - probability_floor
    REQUIRE(f.db->Put(s).ok());
  };
  put("leans-left", 0.9f, 0.3f);
  put("leans-right", 0.8f, -0.3f);
  auto contrast = [&](double c, double a) { return c * (1 - lt) - a * l_perp; };
  QueryEngineOptions off;
  off.unstated_weight = 0;
  off.unstated_weight_uncalibrated = 0;
  off.attribute_weight = 0;
  CHECK(f.Order(off, "Right pleural effusion.").first == "leans-left,leans-right");  // cosine 0.9 vs 0.8
  // A weight at which the contrast turns the order: twice the one that ties.
  QueryEngineOptions on = off;
  on.attribute_weight = 2 * 0.1 / (contrast(0.8, -0.3) - contrast(0.9, 0.3));
  auto q = QueryEngine::Open(f.db.get(), f.model, on);
  REQUIRE(q.ok());
  QueryOptions o;
  o.k = 2;
  auto r = (*q)->SearchText("Right pleural effusion.", o);
  REQUIRE_MESSAGE(r.ok(), r.status().ToString());
  REQUIRE(r->hits.size() == 2);
  CHECK(r->hits[0].key == "leans-right");
  CHECK(r->hits[0].score == doctest::Approx(0.8 + 0.1 * std::log(1 - on.probability_floor) + on.attribute_weight * contrast(0.8, -0.3)).epsilon(1e-4));
  CHECK(r->hits[1].score == doctest::Approx(0.9 + 0.1 * std::log(1 - on.probability_floor) + on.attribute_weight * contrast(0.9, 0.3)).epsilon(1e-4));
  CHECK(r->score_meaning.find("attributes its present findings' sentences state (side)") != std::string::npos);
  // Nothing to contrast: no attribute word, or the finding stated absent.
  CHECK(f.Order(on, "Pleural effusion.").second.find("attributes") == std::string::npos);
  CHECK(f.Order(on, "No right pleural effusion.").second.find("attributes") == std::string::npos);
}

TEST_CASE("query: every query end to end on ingested synthetic studies, catalog edits persist") {
  test::TempDir dir;
  synth::SynthOptions so;
  so.out = dir.Sub("data");
  so.n = 8;
  so.seed = 11;
  so.inplane = 48;
  REQUIRE(synth::Synthesize(so).ok());
  std::shared_ptr<Model> model = std::move(Model::Open(test::MakeTinyModel(dir.Sub("model"))).value());
  {
    auto db = OpenDb(dir.Sub("db"), 32, model->id());
    REQUIRE(Ingest(*db, *model, so.out, {}).ok());
    auto q = QueryEngine::Open(db.get(), model);
    REQUIRE_MESSAGE(q.ok(), q.status().ToString());
    // The catalog was seeded from the model and embedded.
    auto cat = (*q)->Diseases();
    REQUIRE(cat.ok());
    CHECK(cat->size() == 18);
    for (const auto& e : *cat) {
      CHECK(e.model_id == model->id());
      CHECK(e.positive_prototype.size() == 32);
    }

    QueryOptions o;
    o.k = 3;
    auto t = (*q)->SearchText("large right pleural effusion", o);
    REQUIRE(t.ok());
    REQUIRE(t->hits.size() == 3);
    for (const auto& hit : t->hits) {
      REQUIRE(hit.z_mm.has_value());
      auto v = db->GetVectors(hit.key);
      REQUIRE(v.ok());
      bool is_slab = false;
      for (const auto& s : v->slabs) is_slab |= s.z_mm == *hit.z_mm;
      CHECK(is_slab);
      CHECK(!hit.record.key.empty());
    }
    CHECK((*q)->SearchText("   ", o).status().IsInvalidArgument());

    const std::string key = t->hits[0].key;
    auto loc = (*q)->Localize(key, "nodule in the right upper lobe");
    REQUIRE(loc.ok());
    auto v = db->GetVectors(key);
    CHECK(loc->curve.size() == v->slabs.size());
    float best = -2;
    for (const auto& p : loc->curve) best = std::max(best, p.score);
    CHECK(loc->score == best);
    CHECK(loc->slab_mm == 24);

    auto cl = (*q)->Classify(key);
    REQUIRE(cl.ok());
    CHECK(cl->size() == 18);
    for (const auto& p : *cl) {
      CHECK(p.token_probability.has_value());
      CHECK(p.probability >= 0);
      CHECK(p.probability <= 1);
    }

    auto d = (*q)->DraftReport(key);
    REQUIRE(d.ok());
    CHECK(!d->neighbors.empty());
    CHECK(d->neighbors.size() <= 5);
    for (const auto& n : d->neighbors) CHECK(n.key != key);
    CHECK(!d->text.empty());
    for (const auto& f : d->findings) CHECK(f.support >= 0.5f);

    auto rep = (*q)->SearchReports("pleural effusion", o);
    REQUIRE(rep.ok());
    REQUIRE(!rep->hits.empty());
    CHECK(!rep->hits[0].sentence.empty());

    auto tok = (*q)->SearchImageByKey(key, o, "Pleural effusion");
    REQUIRE(tok.ok());
    CHECK(tok->hits.size() == 3);
    CHECK(tok->score_meaning.find("query-token") != std::string::npos);

    // A volume file as the query finds its own stored copy first (a plain
    // NIfTI in HU: CT-RATE files need their CSV's rescale to read right).
    synth::SynthStudy st = synth::MakeStudy(99, 0, 1, so);
    const std::string file = dir.Sub("plain.nii.gz");
    REQUIRE(embed::WriteNifti(file, st.volume, embed::NiftiType::kInt16).ok());
    REQUIRE(Ingest(*db, *model, file, {}).ok());
    auto byfile = (*q)->SearchImageByFile(file, o);
    REQUIRE_MESSAGE(byfile.ok(), byfile.status().ToString());
    CHECK(byfile->hits[0].key == "plain");
    CHECK(byfile->hits[0].score > 0.999f);

    auto set = (*q)->SetDisease("Pneumothorax", {"There is a pneumothorax.", "Pneumothorax."}, {"No pneumothorax."});
    REQUIRE(set.ok());
    CHECK((*q)->SearchDisease("pneumothorax", o).ok());
    CHECK((*q)->SetDisease("Empty", {}, {}).status().IsInvalidArgument());
  }
  // Reopened with the same model: the edit is still there, nothing re-embedded.
  auto db = OpenDb(dir.Sub("db"), 32, model->id());
  auto q = QueryEngine::Open(db.get(), model);
  REQUIRE(q.ok());
  auto cat = (*q)->Diseases();
  REQUIRE(cat.ok());
  CHECK(cat->size() == 19);
  REQUIRE(db->DeleteDisease("PNEUMOTHORAX").ok());
  CHECK(db->DeleteDisease("Pneumothorax").IsNotFound());
  // Another model is refused: its vectors are not comparable.
  std::shared_ptr<Model> other = std::move(Model::Open(test::MakeTinyModel(dir.Sub("other"), 2)).value());
  CHECK(QueryEngine::Open(db.get(), other).status().code() == Status::Code::kFailedPrecondition);
}

TEST_CASE("database: disease entries are validated") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"), 4);
  DiseaseEntry e;
  e.name = "X";
  CHECK(db->PutDisease(e).IsInvalidArgument());  // no positive phrase
  e.positive = {"x"};
  e.positive_prototype = {1, 0, 0};
  CHECK(db->PutDisease(e).IsInvalidArgument());  // wrong dimension
  e.positive_prototype = {1, 0, 0, NAN};
  CHECK(db->PutDisease(e).IsInvalidArgument());
  e.positive_prototype = {1, 0, 0, 0};
  e.name = "";
  CHECK(db->PutDisease(e).IsInvalidArgument());
  e.name = "X";
  REQUIRE(db->PutDisease(e).ok());
  auto list = db->ListDiseases();
  REQUIRE(list.ok());
  REQUIRE(list->size() == 1);
  CHECK(list->front().positive_prototype == e.positive_prototype);
}

TEST_CASE("database: backup is a consistent openable copy -- restore refuses to overwrite") {
  test::TempDir dir;
  const auto vecs = test::RandomUnitVectors(50, 8, 3);
  {
    auto db = OpenDb(dir.Sub("db"), 8);
    for (int i = 0; i < 50; ++i) REQUIRE(db->Put(test::MakeStudy("k" + std::to_string(i), &vecs[i * 8], 8)).ok());
    REQUIRE(db->Backup(dir.Sub("bk")).ok());
    CHECK(db->Backup(dir.Sub("bk")).code() == Status::Code::kAlreadyExists);
    // Writes after the backup are not in it.
    REQUIRE(db->Delete("k0").ok());
  }
  CHECK(fs::exists(dir.Sub("bk") + "/index/image.snapshot"));
  REQUIRE(Database::Restore(dir.Sub("bk"), dir.Sub("restored")).ok());
  CHECK(Database::Restore(dir.Sub("bk"), dir.Sub("restored")).code() == Status::Code::kAlreadyExists);
  CHECK(Database::Restore(dir.Sub("nothing"), dir.Sub("r2")).IsNotFound());
  CHECK(!fs::exists(dir.Sub("r2")));
  Options o;
  o.path = dir.Sub("restored");
  auto db = Database::Open(o);
  REQUIRE(db.ok());
  CHECK((*db)->Count() == 50);
  auto st = (*db)->Stats();
  REQUIRE(st.ok());
  CHECK(!st->recovery.rebuilt);
  CHECK(st->recovery.replayed == 0);  // the snapshot matched the checkpoint
  auto hits = (*db)->Search(VectorKind::kImage, std::vector<float>(vecs.begin(), vecs.begin() + 8), SearchOptions{});
  REQUIRE(hits.ok());
  CHECK(hits->front().key == "k0");
}

}  // namespace
}  // namespace ctdb
