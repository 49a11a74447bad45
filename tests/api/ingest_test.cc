// Ingest and re-embed end to end: CT-RATE layout, NIfTI folders, DICOM,
// failures that do not stop the batch, replacement, shards, model changes.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <set>
#include <thread>

#include "ctdb/ctdb.h"
#include "ctdb/ingest.h"
#include "ctdb/model.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace fs = std::filesystem;

namespace ctdb {
namespace {

struct Fixture {
  test::TempDir dir;
  std::string data = dir.Sub("data");
  std::unique_ptr<Model> model;

  explicit Fixture(int n = 6, uint64_t model_seed = 1) {
    synth::SynthOptions so;
    so.out = data;
    so.n = n;
    so.seed = 4;
    so.inplane = 48;
    REQUIRE(synth::Synthesize(so).ok());
    model = OpenModel(model_seed);
  }

  std::unique_ptr<Model> OpenModel(uint64_t seed, bool tiny_dim = true) {
    const std::string path = test::MakeTinyModel(dir.Sub("model" + std::to_string(seed) + (tiny_dim ? "" : "w")),
                                                 seed, tiny_dim ? 32 : 48);
    auto m = Model::Open(path);
    REQUIRE(m.ok());
    return std::move(m).value();
  }

  std::unique_ptr<Database> OpenDb(const std::string& name, const Model& m, bool change = false) {
    Options o;
    o.path = dir.Sub(name);
    o.create_if_missing = true;
    o.dimension = m.info().dimension;
    o.model_id = m.id();
    o.change_model = change;
    auto db = Database::Open(o);
    REQUIRE_MESSAGE(db.ok(), db.status().ToString());
    return std::move(db).value();
  }
};

std::vector<std::string> CtRateVolumes(const std::string& root) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 7 && n.find("_mask") == std::string::npos && n.rfind(".nii.gz") == n.size() - 7) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST_CASE("ingest: a CT-RATE layout becomes embedded, searchable studies with reports and labels") {
  Fixture f;
  auto db = f.OpenDb("db", *f.model);
  std::vector<uint64_t> seen;
  IngestOptions io;
  io.progress = [&](const IngestProgress& p) { seen.push_back(p.done); };
  auto sum = Ingest(*db, *f.model, f.data, io);
  REQUIRE_MESSAGE(sum.ok(), sum.status().ToString());
  CHECK(sum->format == "ct-rate");
  CHECK(sum->discovered == 6);
  CHECK(sum->ingested == 6);
  CHECK(sum->failed == 0);
  CHECK(sum->replaced == 0);
  CHECK(seen == std::vector<uint64_t>{1, 2, 3, 4, 5, 6});
  CHECK(sum->encode_seconds > 0);
  CHECK(db->Count() == 6);
  auto keys = db->ListKeys({});
  REQUIRE(keys.ok());
  auto study = db->Get(keys->front());
  REQUIRE(study.ok());
  const StudyRecord& r = study->record;
  CHECK(r.model_id == f.model->id());
  CHECK(!r.findings.empty());
  CHECK(!r.statements.empty());
  CHECK(!r.patient_id.empty());
  CHECK(r.extra.count("ctdb.rescale") == 1);  // the CSV's intercept, kept for re-embedding
  CHECK(r.extra.at("split") == "train");
  CHECK(fs::path(r.source_uri).is_absolute());
  CHECK(study->vectors.report.size() == 32);
  CHECK(study->vectors.diseases.size() == 18);
  CHECK(!study->vectors.slabs.empty());
  CHECK(!study->vectors.sentences.empty());
  CHECK(study->preview.voxels.size() > 0);
  // Every stored vector is the model's: the report vector finds its study first.
  auto hits = db->Search(VectorKind::kReport, study->vectors.report, SearchOptions{});
  REQUIRE(hits.ok());
  CHECK(hits->front().key == r.key);

  // Re-ingesting replaces every key.
  auto again = Ingest(*db, *f.model, f.data, io);
  REQUIRE(again.ok());
  CHECK(again->ingested == 6);
  CHECK(again->replaced == 6);
  CHECK(db->Count() == 6);
}

TEST_CASE("ingest: failures are listed with reasons and the batch goes on") {
  Fixture f;
  auto vols = CtRateVolumes(f.data);
  REQUIRE(vols.size() == 6);
  const std::string bytes = test::ReadFileBytes(vols[1]);
  test::WriteFileBytes(vols[1], bytes.substr(0, bytes.size() / 3));  // truncated gzip
  test::WriteFileBytes(vols[3], "not a nifti file");
  auto db = f.OpenDb("db", *f.model);
  IngestOptions io;
  io.jobs = 2;
  auto sum = Ingest(*db, *f.model, f.data, io);
  REQUIRE(sum.ok());
  CHECK(sum->ingested == 4);
  CHECK(sum->failed == 2);
  REQUIRE(sum->failures.size() == 2);
  std::set<std::string> sources;
  for (const auto& fl : sum->failures) {
    sources.insert(fl.source);
    CHECK(!fl.status.ok());
    CHECK(!fl.status.message().empty());
    CHECK(!fl.key.empty());
  }
  CHECK(sources == std::set<std::string>{vols[1], vols[3]});
  CHECK(db->Count() == 4);
}

TEST_CASE("ingest: NIfTI files and folders, masks skipped, keys from paths, shards") {
  Fixture f;
  auto vols = CtRateVolumes(f.data);
  const std::string folder = f.dir.Sub("nifti");
  fs::create_directories(folder + "/a");
  fs::create_directories(folder + "/b");
  fs::copy_file(vols[0], folder + "/a/scan.nii.gz");
  fs::copy_file(vols[1], folder + "/b/scan.nii.gz");  // same file name, other folder
  fs::copy_file(vols[2], folder + "/top.nii.gz");
  fs::copy_file(vols[2], folder + "/top_mask.nii.gz");  // a segmentation, not a study
  auto db = f.OpenDb("db", *f.model);
  auto one = Ingest(*db, *f.model, folder + "/top.nii.gz", {});
  REQUIRE(one.ok());
  CHECK(one->format == "nifti");
  CHECK(db->GetRecord("top").ok());
  auto sum = Ingest(*db, *f.model, folder, {});
  REQUIRE(sum.ok());
  CHECK(sum->discovered == 3);
  CHECK(sum->ingested == 3);
  CHECK(sum->replaced == 1);
  CHECK(db->GetRecord("a/scan").ok());
  CHECK(db->GetRecord("b/scan").ok());
  CHECK(db->Count() == 3);

  // Two shards cover the data set exactly once.
  auto s0 = f.OpenDb("s0", *f.model), s1 = f.OpenDb("s1", *f.model);
  IngestOptions io;
  io.shard_count = 2;
  io.shard_index = 0;
  auto a = Ingest(*s0, *f.model, f.data, io);
  io.shard_index = 1;
  auto b = Ingest(*s1, *f.model, f.data, io);
  REQUIRE((a.ok() && b.ok()));
  CHECK(a->ingested + b->ingested == 6);
  CHECK(a->ingested == 3);
  io.shard_index = 2;
  CHECK(Ingest(*s0, *f.model, f.data, io).status().IsInvalidArgument());
}

TEST_CASE("ingest: DICOM series and files -- non-CT series listed as failures") {
  const std::string dicom = CTDB_TEST_DATA;
  REQUIRE_MESSAGE(fs::exists(dicom), "test data missing: run tools/fetch-test-data.sh build/test-data");
  Fixture f(1);
  auto db = f.OpenDb("db", *f.model);
  auto series = Ingest(*db, *f.model, dicom + "/dicomdirtests/98892001/CT5N", {});
  REQUIRE_MESSAGE(series.ok(), series.status().ToString());
  CHECK(series->format == "dicom");
  CHECK(series->ingested == 1);
  CHECK(db->GetRecord("CT5N").ok());
  auto file = Ingest(*db, *f.model, dicom + "/CT-MONO2-16-ankle.dcm", {});
  REQUIRE(file.ok());
  CHECK(file->ingested == 1);
  auto rec = db->GetRecord("CT-MONO2-16-ankle");
  REQUIRE(rec.ok());
  CHECK(rec->extra.count("ctdb.series_uid") == 1);
  // A folder of several series (CT and MR): every CT series in, the MR ones refused by name.
  auto many = Ingest(*db, *f.model, dicom + "/dicomdirtests", {});
  REQUIRE(many.ok());
  CHECK(many->discovered > 2);
  CHECK(many->ingested >= 1);
  bool mr_named = false;
  for (const auto& fl : many->failures) mr_named |= fl.status.message().find("not CT") != std::string::npos;
  CHECK(mr_named);
}

TEST_CASE("ingest: whole-batch errors") {
  Fixture f(2);
  auto db = f.OpenDb("db", *f.model);
  CHECK(Ingest(*db, *f.model, f.dir.Sub("nope"), {}).status().IsNotFound());
  fs::create_directories(f.dir.Sub("empty"));
  CHECK(!Ingest(*db, *f.model, f.dir.Sub("empty"), {}).ok());
  IngestOptions io;
  io.jobs = 0;
  CHECK(Ingest(*db, *f.model, f.data, io).status().IsInvalidArgument());
  // A database opened for another model (or none) is not written.
  auto other = f.OpenModel(7);
  auto s = Ingest(*db, *other, f.data, {});
  CHECK(s.status().code() == Status::Code::kFailedPrecondition);
  CHECK(db->Count() == 0);
}

TEST_CASE("reembed: in place from sources equals a fresh ingest -- from previews when sources are gone") {
  Fixture f(4);
  auto b = f.OpenModel(2);
  {
    auto db = f.OpenDb("db", *f.model);
    REQUIRE(Ingest(*db, *f.model, f.data, {}).ok());
  }
  auto fresh = f.OpenDb("fresh", *b);
  REQUIRE(Ingest(*fresh, *b, f.data, {}).ok());
  {
    auto db = f.OpenDb("db", *b, /*change=*/true);
    auto sum = Reembed(*db, *b, {});
    REQUIRE_MESSAGE(sum.ok(), sum.status().ToString());
    CHECK(sum->ingested == 4);
    CHECK(sum->failed == 0);
    auto st = db->Stats();
    CHECK(st->model_id == b->id());
    CHECK(st->model_pending.empty());
    for (const auto& key : *db->ListKeys({})) {
      auto x = db->Get(key), y = fresh->Get(key);
      REQUIRE((x.ok() && y.ok()));
      CHECK(x->vectors.image == y->vectors.image);  // same bits as ingesting with b
      CHECK(x->vectors.report == y->vectors.report);
      CHECK(x->record.labels == y->record.labels);
    }
    // Nothing left to do: everything is skipped.
    auto again = Reembed(*db, *b, {});
    REQUIRE(again.ok());
    CHECK(again->skipped == 4);
    CHECK(again->ingested == 0);
  }
  // Sources deleted: auto falls back to the stored previews; "sources" fails per study.
  fs::remove_all(f.data);
  auto c = f.OpenModel(3);
  auto db = f.OpenDb("db", *c, true);
  ReembedOptions only_sources;
  only_sources.from = ReembedOptions::From::kSources;
  auto fail = Reembed(*db, *c, only_sources);
  REQUIRE(fail.ok());
  CHECK(fail->failed == 4);
  CHECK(db->Stats()->model_pending == c->id());  // still pending
  auto sum = Reembed(*db, *c, {});
  REQUIRE(sum.ok());
  CHECK(sum->ingested == 4);
  CHECK(db->Stats()->model_id == c->id());
  auto one = db->Get(db->ListKeys({})->front());
  CHECK(one->record.model_id == c->id());
  CHECK(!one->vectors.slabs.empty());
}

TEST_CASE("reembed: into a new database for a model of another dimension") {
  Fixture f(3);
  auto src = f.OpenDb("db", *f.model);
  REQUIRE(Ingest(*src, *f.model, f.data, {}).ok());
  auto wide = f.OpenModel(5, /*tiny_dim=*/false);
  CHECK(Reembed(*src, *wide, {}).status().code() == Status::Code::kFailedPrecondition);
  auto dst = f.OpenDb("wide", *wide);
  auto sum = ReembedInto(*src, *dst, *wide, {});
  REQUIRE_MESSAGE(sum.ok(), sum.status().ToString());
  CHECK(sum->ingested == 3);
  CHECK(dst->dimension() == 48);
  CHECK(src->Stats()->model_id == f.model->id());  // untouched
  CHECK(ReembedInto(*src, *dst, *wide, {})->skipped == 3);
}

TEST_CASE("ingest: searches run while a batch is written") {
  Fixture f(6);
  auto db = f.OpenDb("db", *f.model);
  std::atomic<bool> done{false};
  std::atomic<int> errors{0}, searches{0};
  std::thread reader([&] {
    auto q = test::RandomUnitVectors(1, 32, 9);
    while (!done) {
      auto r = db->Search(VectorKind::kImage, q, SearchOptions{});
      if (!r.ok()) ++errors;
      ++searches;
    }
  });
  auto sum = Ingest(*db, *f.model, f.data, {});
  done = true;
  reader.join();
  REQUIRE(sum.ok());
  CHECK(sum->ingested == 6);
  CHECK(errors == 0);
  CHECK(searches > 0);
}

}  // namespace
}  // namespace ctdb
