#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "db/record_codec.h"
#include "index/checksum.h"

namespace ctdb::db {
namespace {

StudyRecord FullRecord() {
  StudyRecord r;
  r.key = "train_1_a_1";
  r.patient_id = "train_1";
  r.sex = Sex::kFemale;
  r.age_years = 63;
  r.study_date = 20210317;
  r.manufacturer = "SIEMENS";
  r.spacing_mm = {0.75, 0.75, 1.5};
  r.shape = {512, 512, 301};
  r.source_uri = "/data/ct rate/train_1_a_1.nii.gz";
  r.findings = "Bilateral pleural effusion, \"moderate\".\nNo nodule (series 2, image 143).";
  r.impression = "Effusion. Ünicode ✓";
  r.labels = {"Pleural effusion", "Cardiomegaly"};
  r.extra = {{"XYSpacing", "[0.75, 0.75]"}, {"RescaleSlope", "1"}};
  r.model_id = "ctdb-demo-1";
  r.statements = {{"Pleural effusion", "right pleura", Existence::kPresent, 0},
                  {"Lung nodule", "right upper lobe", Existence::kAbsent, 1}};
  return r;
}

TEST_CASE("record round trip keeps every field") {
  const StudyRecord r = FullRecord();
  auto back = DecodeRecord(EncodeRecord(r), "record");
  REQUIRE(back.ok());
  CHECK(back->key == r.key);
  CHECK(back->patient_id == r.patient_id);
  CHECK(back->sex == r.sex);
  CHECK(back->age_years == r.age_years);
  CHECK(back->study_date == r.study_date);
  CHECK(back->manufacturer == r.manufacturer);
  CHECK(back->spacing_mm == r.spacing_mm);
  CHECK(back->shape == r.shape);
  CHECK(back->source_uri == r.source_uri);
  CHECK(back->findings == r.findings);
  CHECK(back->impression == r.impression);
  CHECK(back->labels == r.labels);
  CHECK(back->extra == r.extra);
  CHECK(back->model_id == r.model_id);
  REQUIRE(back->statements.size() == 2);
  CHECK(back->statements[1].finding == "Lung nodule");
  CHECK(back->statements[1].region == "right upper lobe");
  CHECK(back->statements[1].existence == Existence::kAbsent);
  CHECK(back->statements[1].sentence == 1);
}

TEST_CASE("every truncation of a record is Corruption") {
  const std::string enc = EncodeRecord(FullRecord());
  for (size_t len = 0; len < enc.size(); ++len) {
    auto r = DecodeRecord(std::string_view(enc).substr(0, len), "record of row 7");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsCorruption());
  }
}

TEST_CASE("every single-bit flip in a record is Corruption") {
  const std::string enc = EncodeRecord(FullRecord());
  for (size_t i = 0; i < enc.size(); ++i) {
    std::string bad = enc;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    auto r = DecodeRecord(bad, "record of row 7");
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().IsCorruption());
    CHECK(r.status().message().find("row 7") != std::string::npos);
  }
}

TEST_CASE("version 1 records (before report statements) still decode") {
  // A v2 encoding without statements, relabelled v1 with the count removed.
  StudyRecord r = FullRecord();
  r.statements.clear();
  std::string enc = EncodeRecord(r);
  enc.erase(enc.size() - 8, 4);  // drop the u32 statement count before the CRC
  enc[0] = 1;
  const uint32_t crc = index::Crc32c(enc.data(), enc.size() - 4);
  std::memcpy(&enc[enc.size() - 4], &crc, 4);
  auto back = DecodeRecord(enc, "record");
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->model_id == r.model_id);
  CHECK(back->statements.empty());
}

TEST_CASE("disease entries round trip their calibration, and version 1 entries decode uncalibrated") {
  DiseaseEntry e;
  e.name = "Lung nodule";
  e.positive = {"A lung nodule."};
  e.negative = {"No nodule."};
  e.positive_prototype = {0.6f, 0.8f};
  e.model_id = "m@1#ab";
  e.logit_scale = 21.5;
  e.calibration_scale = 0.28;
  e.calibration_bias = -0.36;
  e.calibration_studies = 600;
  auto back = DecodeDisease(EncodeDisease(e), "disease");
  REQUIRE_MESSAGE(back.ok(), back.status().ToString());
  CHECK(back->calibration_scale == 0.28);
  CHECK(back->calibration_bias == -0.36);
  CHECK(back->calibration_studies == 600);
  CHECK(back->logit_scale == 21.5);

  // A v2 encoding with the three calibration fields removed, relabelled v1.
  std::string enc = EncodeDisease(e);
  enc.erase(enc.size() - 4 - 24, 24);
  enc[0] = 1;
  uint32_t crc = index::Crc32c(enc.data(), enc.size() - 4);
  std::memcpy(&enc[enc.size() - 4], &crc, 4);
  auto v1 = DecodeDisease(enc, "disease");
  REQUIRE_MESSAGE(v1.ok(), v1.status().ToString());
  CHECK(v1->logit_scale == 21.5);
  CHECK(v1->calibration_scale == 1);
  CHECK(v1->calibration_bias == 0);
  CHECK(v1->calibration_studies == 0);

  // A non-finite calibration is corruption, not a probability of NaN.
  e.calibration_bias = std::nan("");
  auto bad = DecodeDisease(EncodeDisease(e), "disease Lung nodule");
  REQUIRE(bad.status().IsCorruption());
  CHECK(bad.status().message().find("non-finite calibration") != std::string::npos);
}

TEST_CASE("a newer value version is refused with a clear message") {
  std::string enc = EncodeRecord(FullRecord());
  enc[0] = 99;  // a version from the future, with a valid checksum
  const uint32_t crc = index::Crc32c(enc.data(), enc.size() - 4);
  std::memcpy(&enc[enc.size() - 4], &crc, 4);
  auto r = DecodeRecord(enc, "record of row 3");
  REQUIRE(r.status().IsCorruption());
  CHECK(r.status().message().find("unsupported value version 99") != std::string::npos);
}

TEST_CASE("vectors, slabs, named features, preview and oplog round trip") {
  const std::vector<float> v = {0.5f, -0.25f, 1e-7f, 3.f};
  auto vb = DecodeVector(EncodeVector(v), "v");
  REQUIRE(vb.ok());
  CHECK(*vb == v);

  std::vector<SlabFeature> slabs = {{-120.5f, v}, {-108.5f, {1, 2, 3, 4}}};
  auto sb = DecodeSlabs(EncodeSlabs(slabs), "s");
  REQUIRE(sb.ok());
  REQUIRE(sb->size() == 2);
  CHECK((*sb)[1].z_mm == doctest::Approx(-108.5));
  CHECK((*sb)[1].vector == slabs[1].vector);

  std::vector<NamedFeature> named = {{"Pleural effusion", v}, {"There is a 6 mm nodule.", {4, 3, 2, 1}}};
  auto nb = DecodeNamedFeatures(EncodeNamedFeatures(named), "n");
  REQUIRE(nb.ok());
  CHECK((*nb)[1].name == named[1].name);
  CHECK((*nb)[0].vector == v);

  Preview p;
  p.shape = {4, 3, 2};
  p.spacing_mm = {5, 5, 10};
  for (int i = 0; i < 24; ++i) p.voxels.push_back(static_cast<int16_t>(-1000 + 100 * i));
  auto pb = DecodePreview(EncodePreview(p), "p");
  REQUIRE(pb.ok());
  CHECK(pb->voxels == p.voxels);
  CHECK(pb->shape == p.shape);

  auto ob = DecodeOplogEntry(EncodeOplogEntry({OplogOp::kDelete, 42, "k"}), "o");
  REQUIRE(ob.ok());
  CHECK(ob->op == OplogOp::kDelete);
  CHECK(ob->row == 42);
  CHECK(ob->key == "k");
}

TEST_CASE("detections round trip -- a bad score, position or name is Corruption") {
  const std::vector<Detection> ds = {{"Lung nodule", 0.93f, {-41.5f, 12.f, -130.25f}}, {"Lung nodule", 0.f, {0, 0, 0}}};
  auto db = DecodeDetections(EncodeDetections(ds), "d");
  REQUIRE(db.ok());
  REQUIRE(db->size() == 2);
  CHECK((*db)[0].finding == "Lung nodule");
  CHECK((*db)[0].score == 0.93f);
  CHECK((*db)[0].position_mm == ds[0].position_mm);
  CHECK((*db)[1].score == 0.f);
  CHECK(DecodeDetections(EncodeDetections({}), "d")->empty());
  for (const Detection& bad : {Detection{"Lung nodule", 1.5f, {0, 0, 0}}, Detection{"Lung nodule", NAN, {0, 0, 0}},
                               Detection{"Lung nodule", 0.5f, {0, INFINITY, 0}}, Detection{"", 0.5f, {0, 0, 0}}}) {
    auto r = DecodeDetections(EncodeDetections({bad}), "detections of row 7");
    CHECK(r.status().IsCorruption());
    CHECK(r.status().message().find("detections of row 7") != std::string::npos);
  }
  const std::string enc = EncodeDetections(ds);
  for (size_t n = 0; n < enc.size(); ++n) CHECK(!DecodeDetections(enc.substr(0, n), "d").ok());
}

TEST_CASE("a preview whose voxel count disagrees with its shape is Corruption") {
  Preview p;
  p.shape = {4, 3, 2};
  p.voxels.resize(24);
  std::string enc = EncodePreview(p);
  p.shape = {4, 3, 3};  // lie about the shape, keep 24 voxels
  std::string lie = EncodePreview(p);
  CHECK(DecodePreview(enc, "p").ok());
  CHECK(DecodePreview(lie, "p").status().IsCorruption());
}

TEST_CASE("garbage is Corruption, never a crash or huge allocation") {
  for (const std::string& g : {std::string(), std::string("x"), std::string(64, '\xff'), std::string(5, '\0')}) {
    CHECK(DecodeRecord(g, "r").status().IsCorruption());
    CHECK(DecodeVector(g, "v").status().IsCorruption());
    CHECK(DecodeSlabs(g, "s").status().IsCorruption());
    CHECK(DecodeDetections(g, "d").status().IsCorruption());
    CHECK(DecodePreview(g, "p").status().IsCorruption());
    CHECK(DecodeOplogEntry(g, "o").status().IsCorruption());
  }
}

}  // namespace
}  // namespace ctdb::db
