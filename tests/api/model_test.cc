// ctdb::Model and manifest.json: parsing, errors naming fields, embedding
// whole studies, and the database's model check.
#include "tests/doctest_with_torch.h"  // first: LibTorch and doctest both define CHECK

#include <cmath>
#include <filesystem>
#include <functional>
#include <set>

#include <nlohmann/json.hpp>

#include "api/src/model_builder.h"
#include "api/src/model_manifest_json.h"
#include "ctdb/ctdb.h"
#include "ctdb/model.h"
#include "embed/native_model.h"
#include "embed/nifti_io.h"
#include "embed/torch_util.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace ctdb {
namespace {

using test::MakeTinyModel;

TEST_CASE("manifest: round trip, defaults and field-named errors") {
  embed::ModelManifest m = NewModelSpec::DefaultManifest();
  m.description = "synthetic phantoms";
  auto back = ParseManifest(ManifestToJson(m));
  REQUIRE(back.ok());
  CHECK(ManifestToJson(*back) == ManifestToJson(m));
  CHECK(back->architecture.stem.size() == 3);
  CHECK(back->diseases.size() == 18);

  auto minimal = ParseManifest(R"({"format":"torchscript","name":"x","version":"2","dimension":512})");
  REQUIRE(minimal.ok());
  CHECK(minimal->preprocess.size[0] == 128);  // defaults fill the rest
  CHECK(minimal->vocab == "vocab.txt");
  // Manifests from before the resampling choice keep the trilinear sampling they were trained with.
  CHECK(minimal->preprocess.resample == embed::Resample::kLinear);
  m.preprocess.resample = embed::Resample::kAntialias;
  back = ParseManifest(ManifestToJson(m));
  REQUIRE(back.ok());
  CHECK(back->preprocess.resample == embed::Resample::kAntialias);
  CHECK(ManifestToJson(m).find(R"("resample": "antialias")") != std::string::npos);

  auto err = [](const std::string& json) { return ParseManifest(json).status(); };
  CHECK(err("{").message().find("not valid JSON") != std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1"})").message().find("dimension: is required") !=
        std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":"256"})").message().find("dimension") !=
        std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":2.5})").message().find("integer") !=
        std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":8,"input":{"size":[1,2]}})")
            .message()
            .find("input.size") != std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":8,"input":{"resample":"cubic"}})")
            .message()
            .find("input.resample") != std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":8,"tokenizer":{"type":"bpe"}})")
            .message()
            .find("tokenizer.type") != std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":8,"architecture":{"stem":[{"kernel":[1,1,1]}]}})")
            .message()
            .find("architecture.stem[0].channels") != std::string::npos);
  CHECK(err(R"({"format":"native","name":"x","version":"1","dimension":8,"diseases":["a",3]})").IsInvalidArgument());

  // The layout version: written, read back, absent = 1, a newer one refused by name.
  CHECK(ManifestToJson(m).rfind("{\n  \"manifest_version\": 1,", 0) == 0);
  CHECK(ParseManifest(R"({"manifest_version":1,"format":"native","name":"x","version":"1","dimension":8})").ok());
  const Status newer = err(R"({"manifest_version":2,"format":"native","name":"x","version":"1","dimension":8})");
  CHECK(newer.IsInvalidArgument());
  CHECK(newer.message().find("manifest_version: 2 is not one this ctdb reads") != std::string::npos);
  CHECK(newer.message().find("newer ctdb") != std::string::npos);
  const Status zero = err(R"({"manifest_version":0,"format":"native","name":"x","version":"1","dimension":8})");
  CHECK(zero.IsInvalidArgument());
  CHECK(zero.message().find("newer") == std::string::npos);
  CHECK(err(R"({"manifest_version":"1","format":"native","name":"x","version":"1","dimension":8})")
            .message()
            .find("manifest_version: must be a number") != std::string::npos);
}

TEST_CASE("model: open errors name the problem") {
  test::TempDir dir;
  CHECK(Model::Open(dir.Sub("none")).status().IsNotFound());
  std::filesystem::create_directories(dir.Sub("empty"));
  CHECK(Model::Open(dir.Sub("empty")).status().message().find("manifest.json") != std::string::npos);
  const std::string path = MakeTinyModel(dir.Sub("m"));
  auto m = ReadManifest(path);
  REQUIRE(m.ok());
  m->slab_mm = 7;
  REQUIRE(WriteManifest(path, *m).ok());
  auto bad = Model::Open(path);
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("slab_mm") != std::string::npos);
}

TEST_CASE("model: a study from a NIfTI file, with report and sentence embeddings") {
  test::TempDir dir;
  auto model = Model::Open(MakeTinyModel(dir.Sub("m")));
  REQUIRE(model.ok());
  const ModelInfo& info = (*model)->info();
  CHECK(info.dimension == 32);
  CHECK(info.slab_mm == 24);
  CHECK(info.volume_flops > 0);
  synth::SynthOptions so;
  so.inplane = 64;
  auto s = synth::MakeStudy(9, 0, 4, so);
  REQUIRE(embed::WriteNifti(dir.Sub("scan_1.nii.gz"), s.volume, embed::NiftiType::kInt16).ok());
  StudyRecord r;
  r.findings = "Right pleural effusion. Mild cardiomegaly.";
  r.impression = "Pleural effusion.";
  auto study = (*model)->EmbedStudyFile(dir.Sub("scan_1.nii.gz"), r);
  REQUIRE_MESSAGE(study.ok(), study.status().ToString());
  CHECK(study->record.key == "scan_1");
  CHECK(study->record.model_id == (*model)->id());
  CHECK(study->record.shape == s.volume.shape);
  CHECK(study->vectors.image.size() == 32);
  CHECK(study->vectors.report.size() == 32);
  REQUIRE(study->vectors.sentences.size() == 3);
  CHECK(study->vectors.sentences[1].name == "Mild cardiomegaly.");
  CHECK(study->vectors.diseases.size() == 18);
  CHECK(study->vectors.diseases[12].name == "Pleural effusion");
  CHECK(!study->vectors.slabs.empty());
  CHECK(study->preview.voxels.size() > 0);
  // The same volume as a preview-like grid embeds too (re-embedding path).
  auto v = (*model)->EmbedVolume(study->preview);
  REQUIRE(v.ok());
  CHECK(v->image.size() == 32);
  CHECK((*model)->EmbedStudyFile(dir.Sub("missing.nii.gz"), r).status().IsNotFound());
  Preview empty;
  CHECK((*model)->EmbedVolume(empty).status().IsInvalidArgument());
}

TEST_CASE("model: stem normalization is a manifest choice -- batch norm runs in eval mode") {
  test::TempDir dir;
  NewModelSpec spec;
  spec.manifest = NewModelSpec::TinyManifest();
  spec.corpus = {"No pleural effusion.", "Right pleural effusion."};
  spec.manifest.architecture.stem_norm = "layer";
  CHECK(CreateNativeModel(dir.Sub("bad"), spec).message().find("architecture.stem_norm") != std::string::npos);
  spec.manifest.architecture.stem_norm = "batch";
  auto back = ParseManifest(ManifestToJson(spec.manifest));
  REQUIRE(back.ok());
  CHECK(back->architecture.stem_norm == "batch");
  CHECK(ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8})")->architecture.stem_norm ==
        "group");  // older manifests keep their GroupNorm
  REQUIRE(CreateNativeModel(dir.Sub("m"), spec).ok());
  auto model = Model::Open(dir.Sub("m"));
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  synth::SynthOptions so;
  so.inplane = 48;
  auto s = synth::MakeStudy(3, 0, 2, so);
  REQUIRE(embed::WriteNifti(dir.Sub("a.nii.gz"), s.volume, embed::NiftiType::kInt16).ok());
  auto a = (*model)->EmbedStudyFile(dir.Sub("a.nii.gz"), {});
  auto b = (*model)->EmbedStudyFile(dir.Sub("a.nii.gz"), {});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->vectors.image == b->vectors.image);  // running statistics, not the batch's
}

TEST_CASE("model: stem pooling is a manifest choice, off for older manifests, and reaches the embedding") {
  test::TempDir dir;
  NewModelSpec spec;
  spec.manifest = NewModelSpec::TinyManifest();
  spec.corpus = {"No pleural effusion.", "Right pleural effusion."};
  CHECK(!ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8})")->architecture.stem_pool);
  spec.manifest.architecture.stem_pool = true;
  auto back = ParseManifest(ManifestToJson(spec.manifest));
  REQUIRE(back.ok());
  CHECK(back->architecture.stem_pool);
  // Same seed, same weights (the option adds no parameters): only the
  // pooling differs, so the embeddings must too.
  REQUIRE(CreateNativeModel(dir.Sub("on"), spec).ok());
  spec.manifest.architecture.stem_pool = false;
  REQUIRE(CreateNativeModel(dir.Sub("off"), spec).ok());
  CHECK(test::ReadFileBytes(dir.Sub("on") + "/weights.pt").size() == test::ReadFileBytes(dir.Sub("off") + "/weights.pt").size());
  synth::SynthOptions so;
  so.inplane = 48;
  auto s = synth::MakeStudy(3, 0, 2, so);
  REQUIRE(embed::WriteNifti(dir.Sub("a.nii.gz"), s.volume, embed::NiftiType::kInt16).ok());
  std::vector<std::vector<float>> images;
  for (const char* name : {"on", "off"}) {
    auto model = Model::Open(dir.Sub(name));
    REQUIRE_MESSAGE(model.ok(), model.status().ToString());
    auto e = (*model)->EmbedStudyFile(dir.Sub("a.nii.gz"), {});
    REQUIRE(e.ok());
    images.push_back(e->vectors.image);
  }
  CHECK(images[0] != images[1]);
}

TEST_CASE("model: HU windows are input channels named in the manifest -- bad windows are refused") {
  test::TempDir dir;
  NewModelSpec spec;
  spec.manifest = NewModelSpec::TinyManifest();
  spec.corpus = {"No pleural effusion.", "Right pleural effusion."};
  spec.manifest.architecture.windows = {{-1000, -400}, {200, 100}};
  CHECK(CreateNativeModel(dir.Sub("bad"), spec).message().find("architecture.windows") != std::string::npos);
  CHECK(ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8,"architecture":{"windows":[[1]]}})")
            .status()
            .message()
            .find("windows") != std::string::npos);
  spec.manifest.architecture.windows = {{-1000, -400}, {-200, 200}, {150, 1000}};
  auto back = ParseManifest(ManifestToJson(spec.manifest));
  REQUIRE(back.ok());
  CHECK((back->architecture.windows == spec.manifest.architecture.windows));  // a bool: glog cannot print arrays
  CHECK(ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8})")->architecture.windows.empty());
  // Three channels into the first convolution: its multiply-adds triple.
  embed::ModelManifest one = spec.manifest;
  one.architecture.windows.clear();
  CHECK(embed::ImageFlops(spec.manifest) - embed::ImageFlops(one) ==
        doctest::Approx(2.0 * 2 * 8 * 27 * (8 * 16 * 16)));
  REQUIRE(CreateNativeModel(dir.Sub("m"), spec).ok());
  auto model = Model::Open(dir.Sub("m"));
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  synth::SynthOptions so;
  so.inplane = 48;
  REQUIRE(embed::WriteNifti(dir.Sub("a.nii.gz"), synth::MakeStudy(3, 0, 2, so).volume, embed::NiftiType::kInt16).ok());
  REQUIRE(embed::WriteNifti(dir.Sub("b.nii.gz"), synth::MakeStudy(3, 1, 2, so).volume, embed::NiftiType::kInt16).ok());
  auto a = (*model)->EmbedStudyFile(dir.Sub("a.nii.gz"), {});
  auto b = (*model)->EmbedStudyFile(dir.Sub("b.nii.gz"), {});
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->vectors.image.size() == 32);
  CHECK(a->vectors.image != b->vectors.image);
}

TEST_CASE("model: the id covers the grid, scaling and disease order the weights are read with, not the description") {
  test::TempDir dir;
  const std::string base = MakeTinyModel(dir.Sub("base"), 1);
  auto original = Model::Open(base);
  REQUIRE(original.ok());
  const auto id_after = [&](const std::string& name, const std::function<void(embed::ModelManifest*)>& edit) {
    const std::string copy = dir.Sub(name);
    std::filesystem::copy(base, copy, std::filesystem::copy_options::recursive);
    auto m = ReadManifest(copy);
    REQUIRE(m.ok());
    edit(&*m);
    REQUIRE(WriteManifest(copy, *m).ok());
    auto model = Model::Open(copy);
    REQUIRE_MESSAGE(model.ok(), model.status().ToString());
    return (*model)->id();
  };
  CHECK(id_after("described", [](embed::ModelManifest* m) { m->description = "Retold provenance."; }) ==
        (*original)->id());
  CHECK(id_after("finer", [](embed::ModelManifest* m) { m->preprocess.spacing_mm[0] = m->preprocess.spacing_mm[1] /= 2; }) !=
        (*original)->id());
  CHECK(id_after("window", [](embed::ModelManifest* m) { m->preprocess.hu_max = 400; }) != (*original)->id());
  CHECK(id_after("resample", [](embed::ModelManifest* m) { m->preprocess.resample = embed::Resample::kAntialias; }) !=
        (*original)->id());
  REQUIRE(ReadManifest(base)->diseases.size() >= 2);
  CHECK(id_after("order", [](embed::ModelManifest* m) { std::swap(m->diseases[0], m->diseases[1]); }) !=
        (*original)->id());
  // Same manifest and files in another directory: the same model.
  CHECK(id_after("copy", [](embed::ModelManifest*) {}) == (*original)->id());
}

TEST_CASE("model: a detector head is a manifest choice, absent in older manifests, in the id, and opens") {
  test::TempDir dir;
  NewModelSpec spec;
  spec.manifest = NewModelSpec::TinyManifest();
  spec.corpus = {"No pleural effusion.", "Right pleural effusion."};
  const auto plain = spec.manifest;
  CHECK(ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8})")->architecture.detect.stage == 0);
  // Written only when present: manifests (and ids) of models without one are as before.
  CHECK(ManifestToJson(plain).find("detect") == std::string::npos);
  spec.manifest.architecture.detect.stage = 1;
  spec.manifest.architecture.detect.channels = 6;
  spec.manifest.architecture.detect.sharpness = 4;
  const std::string text = ManifestToJson(spec.manifest);
  CHECK(text.find("\"detect\"") != std::string::npos);
  auto back = ParseManifest(text);
  REQUIRE(back.ok());
  CHECK(back->architecture.detect.stage == 1);
  CHECK(back->architecture.detect.channels == 6);
  CHECK(back->architecture.detect.sharpness == 4);
  auto nostage = ParseManifest(R"({"format":"native","name":"x","version":"1","dimension":8,
                                   "architecture":{"detect":{"channels":4}}})");
  REQUIRE(!nostage.ok());
  CHECK(nostage.status().message().find("architecture.detect.stage") != std::string::npos);
  // The head changes the vectors: it is part of the id's fingerprint.
  CHECK(embed::ManifestFingerprint(spec.manifest) != embed::ManifestFingerprint(plain));
  auto unused = plain;
  unused.architecture.detect.channels = 99;  // no head: its width means nothing
  CHECK(embed::ManifestFingerprint(unused) == embed::ManifestFingerprint(plain));
  NewModelSpec blunt = spec;
  blunt.manifest.architecture.detect.sharpness = 0;
  CHECK(CreateNativeModel(dir.Sub("blunt"), blunt).message().find("detect.sharpness") != std::string::npos);
  // A model with a head is made, opened and embeds.
  REQUIRE(CreateNativeModel(dir.Sub("headed"), spec).ok());
  auto model = Model::Open(dir.Sub("headed"));
  REQUIRE_MESSAGE(model.ok(), model.status().ToString());
  auto e = (*model)->EmbedTexts({"Right pleural effusion."});
  REQUIRE(e.ok());
  // Beyond the stem it is refused by name.
  spec.manifest.architecture.detect.stage = static_cast<int64_t>(spec.manifest.architecture.stem.size());
  CHECK(CreateNativeModel(dir.Sub("bad"), spec).message().find("architecture.detect.stage") != std::string::npos);
}

// Every leaf of `j` (objects and arrays walked), as a JSON pointer.
void Leaves(const nlohmann::json& j, const nlohmann::json::json_pointer& at, std::vector<nlohmann::json::json_pointer>* out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) Leaves(it.value(), at / it.key(), out);
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) Leaves(j[i], at / i, out);
  } else {
    out->push_back(at);
  }
}

TEST_CASE("model: every manifest field that can change the vectors is in the id's fingerprint") {
  // The fingerprint (embed/) lists the fields a second time beside the JSON
  // codec (api/): a field added to the manifest and forgotten there would
  // leave it out of the id. So every leaf of a written manifest is changed in
  // turn; the fingerprint must change, except for the provenance and file
  // names listed here.
  const std::set<std::string> not_in_id = {"/manifest_version", "/name",          "/version",
                                           "/description",      "/files/weights", "/tokenizer/vocab",
                                           "/tokenizer/type"};
  for (const char* format : {"native", "torchscript"}) {
    CAPTURE(format);
    embed::ModelManifest m = NewModelSpec::TinyManifest();
    m.format = format;
    m.architecture.windows = {{-1000, -400}, {150, 1000}};
    m.architecture.detect.stage = 1;  // so that its fields are written
    m.architecture.peaks = {0, 1};    // likewise
    const nlohmann::json base = nlohmann::json::parse(ManifestToJson(m));
    const std::string base_print = embed::ManifestFingerprint(*ParseManifest(base.dump()));
    std::vector<nlohmann::json::json_pointer> leaves;
    Leaves(base, nlohmann::json::json_pointer(), &leaves);
    size_t checked = 0;
    for (const auto& at : leaves) {
      const std::string path = at.to_string();
      CAPTURE(path);
      if (not_in_id.count(path) || path.rfind("/files/", 0) == 0) continue;
      const nlohmann::json& v = base[at];
      std::vector<nlohmann::json> edits;
      if (v.is_boolean()) edits = {!v.get<bool>()};
      if (v.is_number_integer()) edits = {v.get<int64_t>() + 1};
      if (v.is_number_float()) edits = {v.get<double>() * 1.5 + 0.25};
      if (v.is_string()) edits = {v.get<std::string>() + "x", "antialias", "linear", "batch", "none", "torchscript", "native"};
      bool changed = false;
      for (const auto& e : edits) {
        if (e == v) continue;
        nlohmann::json j = base;
        j[at] = e;
        auto parsed = ParseManifest(j.dump());
        if (!parsed.ok()) continue;  // e.g. "resample" takes only its two names
        changed = embed::ManifestFingerprint(*parsed) != base_print;
        break;
      }
      CHECK_MESSAGE(changed, path << " changes the manifest but not the model id");
      ++checked;
    }
    CHECK(checked > 20);
  }
}

TEST_CASE("model: disease prototypes from the built-in catalog and from an edited diseases.json") {
  test::TempDir dir;
  const std::string path = MakeTinyModel(dir.Sub("m"));
  auto model = Model::Open(path);
  REQUIRE(model.ok());
  auto protos = (*model)->DiseasePrototypes();
  REQUIRE(protos.ok());
  REQUIRE(protos->size() == 18);
  CHECK((*protos)[12].name == "Pleural effusion");
  CHECK((*protos)[12].negative.front() == "No pleural effusion.");
  CHECK((*protos)[12].p_positive.size() == 32);
  CHECK((*protos)[12].p_positive != (*protos)[12].p_negative);
  // The phrases alone, unembedded (what a catalog upgrade compares).
  auto phrases = (*model)->DiseasePhrases();
  REQUIRE(phrases.ok());
  REQUIRE(phrases->size() == 18);
  CHECK((*phrases)[12].name == "Pleural effusion");
  CHECK((*phrases)[12].positive == (*protos)[12].positive);
  CHECK((*phrases)[12].p_positive.empty());
  CHECK((*phrases)[12].calibration_studies == 0);
  // p+ is the mean of the positive phrases' embeddings.
  auto e = (*model)->EmbedTexts((*protos)[3].positive);
  REQUIRE(e.ok());
  for (size_t i = 0; i < 32; ++i) {
    float mean = 0;
    for (const auto& v : *e) mean += v[i] / static_cast<float>(e->size());
    CHECK((*protos)[3].p_positive[i] == doctest::Approx(mean).epsilon(1e-5));
  }
  // Users edit the catalog: a new disease with its own phrases.
  test::WriteFileBytes(path + "/diseases.json",
                       R"([{"name": "Pneumothorax", "positive": ["Pneumothorax.", "Air in the pleural space."],
                            "negative": ["No pneumothorax."]}])");
  auto edited = Model::Open(path);
  auto p2 = (*edited)->DiseasePrototypes();
  REQUIRE(p2.ok());
  REQUIRE(p2->size() == 1);
  CHECK((*p2)[0].name == "Pneumothorax");
  test::WriteFileBytes(path + "/diseases.json", R"([{"name": "X", "positive": []}])");
  auto bad = (*Model::Open(path))->DiseasePrototypes();
  CHECK(bad.status().IsInvalidArgument());
  CHECK(bad.status().message().find("positive") != std::string::npos);
}

TEST_CASE("database: remembers its model, refuses another, re-embed marks and finishes a change") {
  test::TempDir dir;
  auto a = Model::Open(MakeTinyModel(dir.Sub("a"), 1));
  auto b = Model::Open(MakeTinyModel(dir.Sub("b"), 2));
  REQUIRE((a.ok() && b.ok()));
  Options o;
  o.path = dir.Sub("db");
  o.create_if_missing = true;
  o.dimension = 32;
  o.model_id = (*a)->id();
  {
    auto db = Database::Open(o);
    REQUIRE(db.ok());
    auto v = test::RandomUnitVectors(1, 32, 1);
    Study s = test::MakeStudy("k1", v.data(), 32);
    REQUIRE((*db)->Put(s).ok());
    auto rec = (*db)->GetRecord("k1");
    CHECK(rec->model_id == (*a)->id());  // filled in
    s.record.model_id = (*b)->id();
    CHECK((*db)->Put(s).IsInvalidArgument());
    CHECK((*(*db)->Stats()).model_id == (*a)->id());
  }
  Options ob = o;
  ob.model_id = (*b)->id();
  auto refused = Database::Open(ob);
  CHECK(refused.status().code() == Status::Code::kFailedPrecondition);
  CHECK(refused.status().message().find((*a)->id()) != std::string::npos);
  CHECK(refused.status().message().find("reembed") != std::string::npos);
  Options plain = o;
  plain.model_id = "";
  CHECK(Database::Open(plain).ok());  // model-free reads still work

  ob.change_model = true;
  {
    auto db = Database::Open(ob);
    REQUIRE(db.ok());
    CHECK((*(*db)->Stats()).model_pending == (*b)->id());
    Status unfinished = (*db)->FinishModelChange();
    CHECK(unfinished.code() == Status::Code::kFailedPrecondition);
    CHECK(unfinished.message().find("1 studies") != std::string::npos);
  }
  // Interrupted: neither model may write now.
  CHECK(Database::Open(o).status().message().find("interrupted") != std::string::npos);
  ob.change_model = false;
  CHECK(Database::Open(ob).status().code() == Status::Code::kFailedPrecondition);
  ob.change_model = true;
  auto db = Database::Open(ob);
  REQUIRE(db.ok());
  auto v = test::RandomUnitVectors(1, 32, 2);
  REQUIRE((*db)->Put(test::MakeStudy("k1", v.data(), 32)).ok());  // re-embedded with b
  REQUIRE((*db)->FinishModelChange().ok());
  auto st = (*db)->Stats();
  CHECK(st->model_id == (*b)->id());
  CHECK(st->model_pending.empty());
  CHECK((*db)->FinishModelChange().code() == Status::Code::kFailedPrecondition);
}

}  // namespace
}  // namespace ctdb
