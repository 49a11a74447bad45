#include <doctest/doctest.h>

#include <atomic>
#include <cmath>
#include <random>
#include <set>
#include <thread>

#include "ctdb/ctdb.h"
#include "tests/test_util.h"

namespace ctdb {
namespace {

constexpr size_t kDim = 32;

std::unique_ptr<Database> OpenDb(const std::string& path, const std::string& factory = "Flat", size_t dim = kDim) {
  Options o;
  o.path = path;
  o.create_if_missing = true;
  o.dimension = dim;
  o.index_factory = factory;
  o.sync_writes = false;
  auto db = Database::Open(o);
  REQUIRE_MESSAGE(db.ok(), db.status().ToString());
  return std::move(db).value();
}

TEST_CASE("put then get returns the study with normalized vectors") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  Study s;
  s.record.key = "train_1_a_1";
  s.record.sex = Sex::kMale;
  s.record.age_years = 58;
  s.record.study_date = 20190704;
  s.record.labels = {"Emphysema"};
  s.vectors.image.assign(kDim, 2.0f);
  s.vectors.report.assign(kDim, -1.0f);
  s.vectors.slabs = {{-100.f, std::vector<float>(kDim, 1.f)}, {-88.f, std::vector<float>(kDim, 3.f)}};
  s.vectors.diseases = {{"Emphysema", std::vector<float>(kDim, 0.5f)}};
  s.vectors.sentences = {{"Centrilobular emphysema.", std::vector<float>(kDim, 4.f)}};
  s.vectors.detections = {{"Lung nodule", 0.8f, {-30.f, 5.5f, -120.f}}, {"Lung nodule", 0.1f, {40.f, 0.f, -80.f}}};
  s.preview.shape = {2, 2, 2};
  s.preview.spacing_mm = {5, 5, 5};
  s.preview.voxels = {-1000, -900, 0, 40, 700, 1000, -100, 30};
  REQUIRE(db->Put(s).ok());
  auto got = db->Get("train_1_a_1");
  REQUIRE(got.ok());
  CHECK(got->record.age_years == 58);
  CHECK(got->record.labels == s.record.labels);
  const float u = 1.f / std::sqrt(float(kDim));
  CHECK(got->vectors.image[0] == doctest::Approx(u));
  CHECK(got->vectors.report[3] == doctest::Approx(-u));
  REQUIRE(got->vectors.slabs.size() == 2);
  CHECK(got->vectors.slabs[1].z_mm == doctest::Approx(-88));
  CHECK(got->vectors.slabs[1].vector[0] == doctest::Approx(u));
  CHECK(got->vectors.diseases[0].name == "Emphysema");
  CHECK(got->vectors.sentences[0].name == "Centrilobular emphysema.");
  REQUIRE(got->vectors.detections.size() == 2);  // stored as given, not normalized
  CHECK(got->vectors.detections[0].finding == "Lung nodule");
  CHECK(got->vectors.detections[0].score == 0.8f);
  CHECK(got->vectors.detections[1].position_mm == std::array<float, 3>{40.f, 0.f, -80.f});
  CHECK(got->preview.voxels == s.preview.voxels);
  CHECK(db->Count() == 1);
  CHECK(db->Get("nope").status().IsNotFound());
  CHECK(db->GetRecord("nope").status().IsNotFound());
}

TEST_CASE("bad studies are refused with InvalidArgument and nothing is written") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const auto v = test::RandomUnitVectors(1, kDim, 1);
  auto bad = [&](auto mutate, const char* needle) {
    Study s = test::MakeStudy("k", v.data(), kDim);
    mutate(s);
    Status st = db->Put(s);
    CHECK(st.IsInvalidArgument());
    CHECK_MESSAGE(st.message().find(needle) != std::string::npos, st.message());
  };
  bad([](Study& s) { s.record.key.clear(); }, "key is empty");
  bad([](Study& s) { s.vectors.image.clear(); }, "image vector is required");
  bad([](Study& s) { s.vectors.image.resize(kDim + 1); }, "dimension 33");
  bad([](Study& s) { s.vectors.image[3] = NAN; }, "non-finite");
  bad([](Study& s) { std::fill(s.vectors.image.begin(), s.vectors.image.end(), 0.f); }, "all zeros");
  bad([](Study& s) { s.vectors.report.assign(5, 1.f); }, "report vector");
  bad([](Study& s) { s.record.age_years = 200; }, "age_years");
  bad([](Study& s) { s.record.study_date = 20211340; }, "study_date");
  bad([](Study& s) {
    s.preview.shape = {2, 2, 2};
    s.preview.spacing_mm = {1, 1, 1};
    s.preview.voxels.resize(7);
  }, "preview has 7 voxels");
  bad([](Study& s) { s.vectors.slabs = {{NAN, std::vector<float>(kDim, 1.f)}}; }, "slab z");
  bad([](Study& s) { s.vectors.detections = {{"Lung nodule", 1.2f, {0, 0, 0}}}; }, "detection score of Lung nodule");
  bad([](Study& s) { s.vectors.detections = {{"Lung nodule", 0.5f, {0, NAN, 0}}}; }, "detection position");
  bad([](Study& s) { s.vectors.detections = {{"", 0.5f, {0, 0, 0}}}; }, "no finding name");
  CHECK(db->Count() == 0);
  CHECK(db->Delete("").IsInvalidArgument());
  CHECK(db->Delete("missing").IsNotFound());
}

TEST_CASE("search finds each study first by its own vector -- delete hides it") {
  test::TempDir dir;
  for (const char* factory : {"Flat", "HNSW32"}) {
    CAPTURE(factory);
    auto db = OpenDb(dir.Sub(factory), factory);
    const size_t n = 300;
    const auto v = test::RandomUnitVectors(n, kDim, 2);
    for (size_t i = 0; i < n; ++i) REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
    SearchOptions so;
    so.k = 5;
    auto hits = db->Search(VectorKind::kImage, v.data(), n, so);
    REQUIRE(hits.ok());
    for (size_t i = 0; i < n; ++i) {
      REQUIRE((*hits)[i].size() == 5);
      CHECK((*hits)[i][0].key == "s" + std::to_string(i));
      CHECK((*hits)[i][0].score == doctest::Approx(1.0).epsilon(1e-4));
      for (size_t j = 1; j < 5; ++j) CHECK((*hits)[i][j - 1].score >= (*hits)[i][j].score);
    }
    REQUIRE(db->Delete("s7").ok());
    auto after = db->Search(VectorKind::kImage, std::vector<float>(&v[7 * kDim], &v[8 * kDim]), so);
    REQUIRE(after.ok());
    for (const auto& h : *after) CHECK(h.key != "s7");
    CHECK(db->Count() == n - 1);
  }
}

TEST_CASE("replacing a study by key moves it to its new vector") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const auto v = test::RandomUnitVectors(3, kDim, 3);
  REQUIRE(db->Put(test::MakeStudy("a", &v[0], kDim)).ok());
  REQUIRE(db->Put(test::MakeStudy("b", &v[kDim], kDim)).ok());
  REQUIRE(db->Put(test::MakeStudy("a", &v[2 * kDim], kDim)).ok());
  CHECK(db->Count() == 2);
  SearchOptions so;
  so.k = 10;
  auto hits = db->Search(VectorKind::kImage, std::vector<float>(&v[2 * kDim], &v[3 * kDim]), so);
  REQUIRE(hits.ok());
  REQUIRE(hits->size() == 2);  // the old vector of "a" is gone
  CHECK((*hits)[0].key == "a");
  CHECK((*hits)[0].score == doctest::Approx(1.0).epsilon(1e-4));
}

TEST_CASE("k and offset page through the same ranking") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const auto v = test::RandomUnitVectors(100, kDim, 4);
  for (size_t i = 0; i < 100; ++i) REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
  const std::vector<float> q(v.begin(), v.begin() + kDim);
  SearchOptions all;
  all.k = 30;
  auto full = db->Search(VectorKind::kImage, q, all);
  REQUIRE(full.ok());
  for (size_t page = 0; page < 3; ++page) {
    SearchOptions so;
    so.k = 10;
    so.offset = page * 10;
    auto part = db->Search(VectorKind::kImage, q, so);
    REQUIRE(part.ok());
    REQUIRE(part->size() == 10);
    for (size_t j = 0; j < 10; ++j) CHECK((*part)[j].key == (*full)[page * 10 + j].key);
  }
  SearchOptions beyond;
  beyond.offset = 95;
  beyond.k = 10;
  CHECK(db->Search(VectorKind::kImage, q, beyond)->size() == 5);
  SearchOptions bad;
  bad.k = 0;
  CHECK(db->Search(VectorKind::kImage, q, bad).status().IsInvalidArgument());
  CHECK(db->Search(VectorKind::kImage, std::vector<float>(3, 1.f), all).status().IsInvalidArgument());
  CHECK(db->Search(VectorKind::kImage, std::vector<float>(kDim, 0.f), all).status().IsInvalidArgument());
}

TEST_CASE("metadata filters through the database equal brute force") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const size_t n = 2000;
  const auto v = test::RandomUnitVectors(n, kDim, 5);
  std::vector<StudyRecord> recs;
  std::mt19937 rng(5);
  for (size_t i = 0; i < n; ++i) {
    Study s = test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim);
    s.record.sex = rng() % 2 ? Sex::kFemale : Sex::kMale;
    s.record.age_years = 20 + static_cast<int>(rng() % 70);
    s.record.study_date = 20180101 + static_cast<int>(rng() % 6) * 10000;
    s.record.manufacturer = rng() % 3 ? "SIEMENS" : "PHILIPS";
    if (rng() % 10 == 0) s.record.labels = {"Lung nodule"};
    recs.push_back(s.record);
    REQUIRE(db->Put(s).ok());
  }
  for (const char* expr : {"sex=F", "sex=M,age=60-70", "date=20200101-20211231,manufacturer=philips",
                           "label=Lung nodule", "label=Lung nodule,sex=F,age=-40"}) {
    CAPTURE(expr);
    auto f = ParseFilter(expr);
    REQUIRE(f.ok());
    std::vector<bool> keep(n);
    for (size_t i = 0; i < n; ++i) {
      const auto& r = recs[i];
      bool k = true;
      if (f->sex) k = k && r.sex == *f->sex;
      if (f->min_age_years) k = k && r.age_years >= *f->min_age_years;
      if (f->max_age_years) k = k && r.age_years <= *f->max_age_years;
      if (f->min_study_date) k = k && r.study_date >= *f->min_study_date;
      if (f->max_study_date) k = k && r.study_date <= *f->max_study_date;
      if (f->manufacturer) k = k && r.manufacturer == "PHILIPS";
      if (!f->has_labels.empty()) k = k && !r.labels.empty();
      keep[i] = k;
    }
    SearchOptions so;
    so.k = 10;
    so.filter = *f;
    const auto queries = test::RandomUnitVectors(10, kDim, 55);
    auto hits = db->Search(VectorKind::kImage, queries.data(), 10, so);
    REQUIRE(hits.ok());
    for (size_t q = 0; q < 10; ++q) {
      const auto truth = test::BruteForceTopK(v, kDim, &queries[q * kDim], 10, keep);
      REQUIRE((*hits)[q].size() == truth.size());
      for (size_t j = 0; j < truth.size(); ++j) CHECK((*hits)[q][j].key == "s" + std::to_string(truth[j]));
    }
  }
}

TEST_CASE("studies without a report never match a report search") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const auto v = test::RandomUnitVectors(4, kDim, 6);
  Study with = test::MakeStudy("with", &v[0], kDim);
  with.vectors.report.assign(&v[kDim], &v[2 * kDim]);
  REQUIRE(db->Put(with).ok());
  REQUIRE(db->Put(test::MakeStudy("without", &v[2 * kDim], kDim)).ok());
  SearchOptions so;
  auto hits = db->Search(VectorKind::kReport, std::vector<float>(&v[2 * kDim], &v[3 * kDim]), so);
  REQUIRE(hits.ok());
  REQUIRE(hits->size() == 1);
  CHECK((*hits)[0].key == "with");
  auto stats = db->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->image_index.live == 2);
  CHECK(stats->report_index.live == 1);
}

TEST_CASE("reopen after close serves the same studies and answers") {
  test::TempDir dir;
  const auto v = test::RandomUnitVectors(200, kDim, 7);
  std::vector<std::string> before;
  {
    auto db = OpenDb(dir.Sub("db"));
    for (size_t i = 0; i < 200; ++i) REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
    REQUIRE(db->Delete("s3").ok());
    auto hits = db->Search(VectorKind::kImage, std::vector<float>(v.begin(), v.begin() + kDim), {});
    REQUIRE(hits.ok());
    for (const auto& h : *hits) before.push_back(h.key);
  }
  Options o;
  o.path = dir.Sub("db");  // dimension 0: take the stored one
  auto db = Database::Open(o);
  REQUIRE(db.ok());
  CHECK((*db)->dimension() == kDim);
  CHECK((*db)->Count() == 199);
  std::vector<std::string> after;
  auto hits = (*db)->Search(VectorKind::kImage, std::vector<float>(v.begin(), v.begin() + kDim), {});
  REQUIRE(hits.ok());
  for (const auto& h : *hits) after.push_back(h.key);
  CHECK(before == after);
  o.dimension = kDim * 2;
  db.value().reset();
  auto mismatch = Database::Open(o);
  CHECK(mismatch.status().IsInvalidArgument());
}

TEST_CASE("open validates options") {
  test::TempDir dir;
  Options o;
  o.path = dir.Sub("db");
  CHECK(Database::Open(o).status().IsNotFound());
  o.create_if_missing = true;
  CHECK(Database::Open(o).status().IsInvalidArgument());  // no dimension
  o.dimension = 16;
  o.index_factory = "Bogus";
  CHECK(Database::Open(o).status().IsInvalidArgument());
  o.index_factory = "Flat";
  o.exact_filter_max_fraction = 2;
  CHECK(Database::Open(o).status().IsInvalidArgument());
  o.exact_filter_max_fraction = 0.2;
  o.path = "";
  CHECK(Database::Open(o).status().IsInvalidArgument());
}

TEST_CASE("changing the index factory between opens rebuilds the index") {
  test::TempDir dir;
  const auto v = test::RandomUnitVectors(300, kDim, 8);
  {
    auto db = OpenDb(dir.Sub("db"), "Flat");
    for (size_t i = 0; i < 300; ++i) REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
  }
  auto db = OpenDb(dir.Sub("db"), "HNSW32");
  auto stats = db->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->image_index.factory == "HNSW32");
  CHECK(stats->image_index.live == 300);
  CHECK(stats->recovery.rebuilt);
  auto hits = db->Search(VectorKind::kImage, std::vector<float>(&v[9 * kDim], &v[10 * kDim]), {});
  REQUIRE(hits.ok());
  CHECK((*hits)[0].key == "s9");
  db.reset();
  // The database remembers its factory: opening without one keeps HNSW32, no rebuild.
  Options o;
  o.path = dir.Sub("db");
  auto again = Database::Open(o);
  REQUIRE(again.ok());
  CHECK((*again)->Stats()->image_index.factory == "HNSW32");
  CHECK_FALSE((*again)->Stats()->recovery.rebuilt);
}

TEST_CASE("compact drops tombstones and keeps answers") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const auto v = test::RandomUnitVectors(100, kDim, 9);
  for (size_t i = 0; i < 100; ++i) REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
  for (size_t i = 0; i < 100; i += 3) REQUIRE(db->Delete("s" + std::to_string(i)).ok());
  CHECK(db->Stats()->image_index.tombstones == 34);
  REQUIRE(db->Compact().ok());
  auto s = db->Stats();
  CHECK(s->image_index.tombstones == 0);
  CHECK(s->image_index.live == 66);
  auto hits = db->Search(VectorKind::kImage, std::vector<float>(&v[4 * kDim], &v[5 * kDim]), {});
  CHECK((*hits)[0].key == "s4");
}

TEST_CASE("searches run concurrently with writes and always see a consistent index") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"), "HNSW32");
  const size_t n = 600;
  const auto v = test::RandomUnitVectors(n, kDim, 10);
  for (size_t i = 0; i < 100; ++i) REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
  std::atomic<bool> done{false};
  std::atomic<int> searches{0}, failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&, t] {
      SearchOptions so;
      so.k = 10;
      size_t i = static_cast<size_t>(t);
      while (!done) {
        auto hits = db->Search(VectorKind::kImage, std::vector<float>(&v[(i % 100) * kDim], &v[(i % 100 + 1) * kDim]), so);
        if (!hits.ok() || hits->empty() || (*hits)[0].key.empty()) ++failures;
        else {
          for (size_t j = 1; j < hits->size(); ++j) {
            if ((*hits)[j - 1].score < (*hits)[j].score || (*hits)[j].key.empty()) ++failures;
          }
        }
        ++searches;
        i += 4;
      }
    });
  }
  for (size_t i = 100; i < n; ++i) {
    REQUIRE(db->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
    if (i % 5 == 0) REQUIRE(db->Delete("s" + std::to_string(i - 50)).ok());
  }
  done = true;
  for (auto& th : readers) th.join();
  CHECK(failures == 0);
  CHECK(searches > 0);
  CHECK(db->Count() == n - 100);
  CHECK(db->Stats()->image_index.live == n - 100);
}

}  // namespace
}  // namespace ctdb

namespace ctdb {
namespace {

TEST_CASE("reports are parsed on Put and searchable by stated finding") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  const auto v = test::RandomUnitVectors(4, kDim, 77);
  const char* findings[] = {"Small right pleural effusion. No nodule.", "No pleural effusion. A 6 mm nodule in the left upper lobe.",
                            "Possible pleural effusion.", "Normal study."};
  for (int i = 0; i < 4; ++i) {
    Study s = test::MakeStudy("r" + std::to_string(i), &v[i * kDim], kDim);
    s.record.findings = findings[i];
    REQUIRE(db->Put(s).ok());
  }
  auto rec = db->GetRecord("r1");
  REQUIRE(rec.ok());
  REQUIRE(rec->statements.size() == 2);
  CHECK(rec->statements[0].finding == "Pleural effusion");
  CHECK(rec->statements[0].existence == Existence::kAbsent);
  CHECK(rec->statements[1].finding == "Lung nodule");
  CHECK(rec->statements[1].region == "left upper lobe");
  CHECK(rec->statements[1].sentence == 1);
  auto keys_for = [&](const std::string& expr) {
    SearchOptions so;
    so.k = 10;
    so.filter = ParseFilter(expr).value();
    std::set<std::string> keys;
    for (const auto& h : *db->Search(VectorKind::kImage, std::vector<float>(v.begin(), v.begin() + kDim), so)) {
      keys.insert(h.key);
    }
    return keys;
  };
  CHECK(keys_for("finding=pleural effusion") == std::set<std::string>{"r0"});  // not negated, not uncertain
  CHECK(keys_for("finding=Lung nodule") == std::set<std::string>{"r1"});
  CHECK(keys_for("finding=Emphysema").empty());
  // Replacing the report updates the index of findings.
  Study s = test::MakeStudy("r0", &v[0], kDim);
  s.record.findings = "Pleural effusion has resolved.";
  REQUIRE(db->Put(s).ok());
  CHECK(keys_for("finding=pleural effusion").empty());
}

TEST_CASE("database: GetDiseaseVectors reads the image vector, disease features and detections, nothing else") {
  test::TempDir dir;
  auto db = OpenDb(dir.Sub("db"));
  std::vector<float> x(kDim, 0.0f), f(kDim, 0.0f), g(kDim, 0.0f);
  x[0] = 1, f[1] = 1, g[2] = 1;
  Study s = test::MakeStudy("a", x.data(), kDim);
  s.vectors.report = g;
  s.vectors.slabs = {{10.0f, f}, {22.0f, g}};
  s.vectors.diseases = {{"Pleural effusion", f}, {"Cardiomegaly", g}};
  s.vectors.sentences = {{"Right pleural effusion.", f}};
  s.vectors.detections = {{"Lung nodule", 0.7f, {1, 2, 3}}};
  REQUIRE(db->Put(s).ok());
  auto v = db->GetDiseaseVectors("a");
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  CHECK(v->image == x);
  REQUIRE(v->diseases.size() == 2);
  CHECK(v->diseases[0].name == "Pleural effusion");
  CHECK(v->diseases[0].vector == f);
  CHECK(v->diseases[1].vector == g);
  CHECK(v->report.empty());
  CHECK(v->slabs.empty());
  CHECK(v->sentences.empty());
  REQUIRE(v->detections.size() == 1);
  CHECK(v->detections[0].score == 0.7f);
  CHECK(db->GetDiseaseVectors("nobody").status().IsNotFound());
  s.vectors.detections.clear();  // replaced without: the old ones go with the old row
  REQUIRE(db->Put(s).ok());
  CHECK(db->GetDiseaseVectors("a")->detections.empty());
  CHECK(db->Get("a")->vectors.detections.empty());
  REQUIRE(db->Delete("a").ok());
  CHECK(db->GetDiseaseVectors("a").status().IsNotFound());
}

}  // namespace
}  // namespace ctdb
