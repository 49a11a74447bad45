// The ctdb CLI as a user runs it: outputs, --json, exit codes, bad input.
#include <doctest/doctest.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <sys/wait.h>

#include "api/src/model_manifest_json.h"
#include "ctdb/ctdb.h"
#include "tests/test_util.h"

namespace ctdb {
namespace {

struct Run {
  int code = -1;
  std::string out;  // stdout and stderr together
};

Run Ctdb(const std::string& args) {
  Run r;
  const std::string cmd = std::string(CTDB_CLI) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST_CASE("cli: demo-vectors --diseases gives each study a feature per CT-RATE label") {
  test::TempDir dir;
  const std::string path = dir.Sub("db");
  Run r = Ctdb("demo-vectors --db " + path + " --n 5 --dim 16 --diseases");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  REQUIRE(Ctdb("demo-vectors --db " + dir.Sub("plain") + " --n 5 --dim 16").code == 0);
  for (const auto& [p, want] : {std::pair{path, size_t{18}}, std::pair{dir.Sub("plain"), size_t{0}}}) {
    Options o;
    o.path = p;
    auto db = Database::Open(o);
    REQUIRE_MESSAGE(db.ok(), db.status().ToString());
    auto v = (*db)->GetVectors("demo_0_a_1");
    REQUIRE(v.ok());
    CHECK(v->diseases.size() == want);
    if (want) {
      CHECK(v->diseases[0].name == "Medical material");
      CHECK(v->diseases[0].vector.size() == 16);
    }
  }
  CHECK(Ctdb("demo-vectors --db " + path + " --n 5 --dim 16 --diseases=yes").code == 2);  // a flag takes no value
}

TEST_CASE("cli: create, fill, search, filter, get, delete") {
  test::TempDir dir;
  const std::string db = "--db " + dir.Sub("db");
  Run r = Ctdb("create " + db + " --dim 32");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(Ctdb("create " + db + " --dim 32").code == 16);  // already exists
  r = Ctdb("demo-vectors " + db + " --n 300 --dim 32 --seed 3");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("holds 300 studies") != std::string::npos);

  r = Ctdb("search " + db + " --like demo_0_a_1 --k 3 --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("{\"query\":\"demo_0_a_1\"") == 0);
  CHECK(r.out.find("{\"rank\":1,\"key\":\"demo_0_a_1\",\"score\":1.000000}") != std::string::npos);
  CHECK(r.out.find("\"rank\":3") != std::string::npos);
  CHECK(r.out.find("\"rank\":4") == std::string::npos);

  r = Ctdb("search " + db + " --like demo_0_a_1 --k 50 --filter 'sex=F,age=60-' --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  // Every hit satisfies the filter.
  size_t pos = 0, hits = 0;
  while ((pos = r.out.find("\"key\":\"", pos)) != std::string::npos) {
    pos += 7;
    const std::string key = r.out.substr(pos, r.out.find('"', pos) - pos);
    Run g = Ctdb("get " + db + " " + key + " --json");
    REQUIRE(g.code == 0);
    CHECK(g.out.find("\"sex\":\"F\"") != std::string::npos);
    const size_t a = g.out.find("\"age_years\":") + 12;
    CHECK(std::stoi(g.out.substr(a)) >= 60);
    ++hits;
  }
  CHECK(hits > 0);

  r = Ctdb("delete " + db + " demo_0_a_1");
  CHECK(r.code == 0);
  CHECK(Ctdb("get " + db + " demo_0_a_1").code == 11);
  r = Ctdb("stats " + db + " --json");
  REQUIRE(r.code == 0);
  CHECK(r.out.find("\"studies\":299") != std::string::npos);
  r = Ctdb("list " + db + " --prefix demo_1 --limit 2");
  CHECK(r.code == 0);
  CHECK(r.out == "demo_100_a_1\ndemo_100_a_2\n");
}

TEST_CASE("cli: bad input gives a clear message and the right exit code") {
  test::TempDir dir;
  const std::string db = "--db " + dir.Sub("db");
  Run r = Ctdb("");
  CHECK(r.code == 2);
  r = Ctdb("frobnicate");
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown command 'frobnicate'") != std::string::npos);
  r = Ctdb("get " + db + " somekey");
  CHECK(r.code == 11);  // no database
  CHECK(r.out.find("no database at") != std::string::npos);
  REQUIRE(Ctdb("demo-vectors " + db + " --n 20 --dim 16").code == 0);
  r = Ctdb("search " + db + " --like demo_0_a_1 --filter 'age=old'");
  CHECK(r.code == 12);
  CHECK(r.out.find("filter age") != std::string::npos);
  r = Ctdb("search " + db + " --like demo_0_a_1 --k 0");
  CHECK(r.code == 2);
  r = Ctdb("search " + db + " --like demo_0_a_1 --colour red");
  CHECK(r.code == 2);
  CHECK(r.out.find("unknown option --colour") != std::string::npos);
  r = Ctdb("search " + db + " --like nobody");
  CHECK(r.code == 11);
  r = Ctdb("create " + db + "x --dim 0");
  CHECK(r.code == 2);
  // A flag takes no value: "--json=0" is refused, not read as set.
  r = Ctdb("search " + db + " --like demo_0_a_1 --json=0");
  CHECK(r.code == 2);
  CHECK(r.out.find("option --json takes no value") != std::string::npos);
  r = Ctdb("search --help");
  CHECK(r.code == 0);
  CHECK(r.out.find("usage: ctdb search") != std::string::npos);
}

TEST_CASE("cli: eval reports R@k and MAP@k of stored vectors") {
  test::TempDir dir;
  const std::string db = "--db " + dir.Sub("db");
  REQUIRE(Ctdb("demo-vectors " + db + " --n 300 --dim 32 --seed 5").code == 0);
  Run r = Ctdb("eval " + db + " --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  auto num = [&](const std::string& field) {
    const size_t at = r.out.find("\"" + field + "\":");
    REQUIRE(at != std::string::npos);
    return std::stod(r.out.substr(at + field.size() + 3));
  };
  CHECK(num("studies") == 300);
  const double r1 = num("R@1"), r10 = num("R@10"), map = num("MAP@10");
  CHECK(r1 > 0);  // report vectors sit near their own image vectors' labels
  CHECK(r10 >= r1);
  CHECK(r10 <= 1);
  CHECK(map > 0.3);  // neighbours share findings far above chance
  CHECK(map <= 1);
  CHECK(Ctdb("eval --db " + dir.Sub("nothing")).code == 11);
}

TEST_CASE("cli: inspect NIfTI, DICOM series and errors") {
  const std::string data = CTDB_TEST_DATA;
  Run r = Ctdb("inspect " + data + "/dicomdirtests/98892001/CT5N --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"shape\":[16,16,5]") != std::string::npos);
  CHECK(r.out.find("\"spacing_mm\":[0.488281,0.488281,2.5]") != std::string::npos);
  CHECK(r.out.find("\"orientation\":\"LPS\"") != std::string::npos);
  CHECK(r.out.find("\"modality\":\"CT\"") != std::string::npos);
  r = Ctdb("inspect " + data + "/dicomdirtests");
  CHECK(r.code == 12);
  CHECK(r.out.find("choose one with --series") != std::string::npos);
  r = Ctdb("inspect " + data + "/rle.dcm");
  CHECK(r.code == 0);
  CHECK(r.out.find("512 x 512 x 1") != std::string::npos);
  r = Ctdb("inspect /nonexistent.nii.gz");
  CHECK(r.code == 11);
  test::TempDir dir;
  std::ofstream(dir.Sub("bad.nii.gz")) << "not gzip";
  r = Ctdb("inspect " + dir.Sub("bad.nii.gz"));
  CHECK(r.code == 13);
  CHECK(r.out.find("bad.nii.gz") != std::string::npos);
}

TEST_CASE("cli: model init and info, ingest with a summary, refusal of another model, reembed") {
  test::TempDir dir;
  Run r = Ctdb("synth --out " + dir.Sub("data") + " --n 4 --seed 2 --inplane 48");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(Ctdb("model init --out " + dir.Sub("m")).code == 2);  // needs --corpus or --vocab
  r = Ctdb("model init --tiny --out " + dir.Sub("m") + " --corpus " + dir.Sub("data"));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("ctdb-tiny@1#") != std::string::npos);
  r = Ctdb("model init --tiny --seed 2 --out " + dir.Sub("m2") + " --vocab " + dir.Sub("m") + "/vocab.txt");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  r = Ctdb("model info " + dir.Sub("m") + " --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"dimension\":32") != std::string::npos);
  CHECK(r.out.find("\"slab_mm\":24") != std::string::npos);
  CHECK(r.out.find("\"resample\":\"linear\"") != std::string::npos);
  CHECK(Ctdb("model info " + dir.Sub("nothing")).code == 11);

  const std::string db = " --db " + dir.Sub("db");
  r = Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m") + " --jobs 2 --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"format\":\"ct-rate\"") != std::string::npos);
  CHECK(r.out.find("\"ingested\":4") != std::string::npos);
  CHECK(r.out.find("\"failed\":0") != std::string::npos);
  r = Ctdb("stats" + db + " --json");
  CHECK(r.out.find("\"model_id\":\"ctdb-tiny@1#") != std::string::npos);
  // A broken file is listed and the exit code says "some failed".
  std::ofstream(dir.Sub("data") + "/extra.nii.gz") << "junk";
  r = Ctdb("ingest " + dir.Sub("data") + "/extra.nii.gz" + db + " --model " + dir.Sub("m"));
  CHECK(r.code == 1);
  CHECK(r.out.find("failed: ") != std::string::npos);
  CHECK(r.out.find("extra.nii.gz") != std::string::npos);
  // Another model is refused, with the way out named.
  r = Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m2"));
  CHECK(r.code == 17);
  CHECK(r.out.find("ctdb reembed") != std::string::npos);
  r = Ctdb("reembed" + db + " --model " + dir.Sub("m2") + " --from previews --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"ingested\":4") != std::string::npos);
  r = Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m2"));
  CHECK(r.code == 0);
  CHECK(r.out.find("4 ingested (4 replaced)") != std::string::npos);
  CHECK(Ctdb("reembed" + db + " --model " + dir.Sub("m2") + " --from nowhere").code == 2);
  CHECK(Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m2") + " --threads -1").code == 2);
  CHECK(Ctdb("reembed" + db + " --model " + dir.Sub("m2") + " --views 9").code == 2);
  // Test-time augmentation: the same studies as two averaged views each.
  r = Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m2") + " --views 2");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("4 ingested (4 replaced)") != std::string::npos);
  for (const char* bad : {"0", "6", "two"}) {
    r = Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m2") + " --views " + bad);
    CHECK(r.code == 2);  // a usage error, before the model opens
    CHECK_MESSAGE(r.out.find("--views must be") != std::string::npos, r.out);
  }
  CHECK(Ctdb("ingest " + dir.Sub("data") + db + " --model " + dir.Sub("m2") + " --shard 3/2").code == 2);

  // eval --data --model ingests into a scratch database and writes JSON.
  r = Ctdb("eval --data " + dir.Sub("data") + " --model " + dir.Sub("m") + " --split '' --threads 1 --out " +
           dir.Sub("eval.json"));
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("zero-shot AUC") != std::string::npos);
  CHECK(r.out.find("localization:") != std::string::npos);
  const std::string json = test::ReadFileBytes(dir.Sub("eval.json"));
  CHECK(json.find("\"macro_auc_global\"") != std::string::npos);
  CHECK(json.find("\"mae_mm\"") != std::string::npos);
  CHECK(Ctdb("eval --data " + dir.Sub("data")).code == 2);  // needs --model
  CHECK(Ctdb("eval --data " + dir.Sub("data") + " --model " + dir.Sub("m") + " --threads -1").code == 2);
  for (const char* bad : {"-1", "heavy", "nan", "0.1x", ""}) {
    Run bad_run = Ctdb("eval --data " + dir.Sub("data") + " --model " + dir.Sub("m") + " --findings-weight '" + bad + "'");
    CHECK(bad_run.code == 2);
    CHECK(bad_run.out.find("--findings-weight must be a number in [0, 100]") != std::string::npos);
  }
  for (const auto& [flag, bad, range] : {std::tuple{"detection-weight", "1.5", "[0, 1]"},
                                         std::tuple{"detection-weight", "-0.1", "[0, 1]"},
                                         std::tuple{"localize-min-score", "3", "[0, 2]"},
                                         std::tuple{"localize-min-score", "x", "[0, 2]"}}) {
    Run bad_run = Ctdb("eval --data " + dir.Sub("data") + " --model " + dir.Sub("m") + " --" + flag + " '" + bad + "'");
    CHECK(bad_run.code == 2);
    CHECK_MESSAGE(bad_run.out.find(std::string("--") + flag + " must be a number in " + range) != std::string::npos,
                  bad_run.out);
  }
  CHECK(json.find("\"mae_slab_mm\"") != std::string::npos);
  CHECK(Ctdb("eval --db " + dir.Sub("data") + " --misses x.jsonl").code == 2);  // needs --model
  // The stored vectors are m2's: evaluating them with m is refused.
  CHECK(Ctdb("eval" + db + " --model " + dir.Sub("m")).code == 17);

  // train: a model directory that loads, with its catalog; bad options are usage errors.
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("t") + " --epochs 1 --batch 2 --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"model_id\":\"ctdb-synthetic@1#") != std::string::npos);
  CHECK(r.out.find("\"siglip\"") != std::string::npos);
  CHECK(std::ifstream(dir.Sub("t") + "/diseases.json").good());
  CHECK(Ctdb("model info " + dir.Sub("t")).code == 0);
  // Handing freed memory back (instead of keeping it for the next step)
  // changes the speed, not the model: the same weights, so the same id.
  {
    const size_t at = r.out.find("\"model_id\":\"");
    REQUIRE(at != std::string::npos);
    const std::string id = r.out.substr(at, r.out.find(',', at) - at);
    const auto released = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tr") +
                               " --epochs 1 --batch 2 --json --release-memory");
    REQUIRE_MESSAGE(released.code == 0, released.out);
    CHECK(released.out.find(id) != std::string::npos);
  }
  // Windows become the manifest's input channels; the description is the caller's provenance.
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tw") +
           " --epochs 1 --batch 2 --windows=-1000:-400,-200:200 --description 'Phantoms only.'");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  const std::string manifest = test::ReadFileBytes(dir.Sub("tw") + "/manifest.json");
  CHECK(manifest.find("-400") != std::string::npos);
  CHECK(manifest.find("Phantoms only. Trained by `ctdb train`") != std::string::npos);
  // A catalog already in the model directory is the one trained with (its
  // phrases reach the vocabulary); a broken one is an error, not ignored.
  {
    std::filesystem::create_directories(dir.Sub("tc"));
    std::string cat = test::ReadFileBytes(dir.Sub("t") + "/diseases.json");
    const size_t at = cat.find("\"positive\": [");
    REQUIRE(at != std::string::npos);
    cat.insert(at + 13, "\"Zebra stripes.\", \"Zebra stripes again.\", ");  // a word must occur twice
    std::ofstream(dir.Sub("tc") + "/diseases.json") << cat;
    r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tc") + " --epochs 1 --batch 2");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(test::ReadFileBytes(dir.Sub("tc") + "/vocab.txt").find("zebra") != std::string::npos);
    std::filesystem::create_directories(dir.Sub("tb"));
    std::ofstream(dir.Sub("tb") + "/diseases.json") << "[{\"name\": ";
    r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tb") + " --epochs 1 --batch 2");
    CHECK(r.code != 0);
    CHECK(r.out.find("diseases.json") != std::string::npos);
  }
  // --stem replaces the CNN stages; the width follows the last one.
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("ts") +
           " --epochs 1 --batch 2 --stem 8:3:2,16:3:1x2x2,32:1x2x2:1x2x2");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(test::ReadFileBytes(dir.Sub("ts") + "/manifest.json").find("\"channels\": 16") != std::string::npos);
  // --layers 0: no image transformer; the tokens go straight to the pools.
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tl") +
           " --epochs 1 --batch 2 --layers 0");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(test::ReadFileBytes(dir.Sub("tl") + "/manifest.json").find("\"layers\": 0") != std::string::npos);
  CHECK(test::ReadFileBytes(dir.Sub("tl") + "/manifest.json").find("\"stem_pool\": false") != std::string::npos);
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tp") +
           " --epochs 1 --batch 2 --stem-pool");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(test::ReadFileBytes(dir.Sub("tp") + "/manifest.json").find("\"stem_pool\": true") != std::string::npos);
  // --init fine-tunes a trained model: its layout, vocabulary and phrases go
  // on, the manifest says where it started, and the source stays as it was.
  {
    const std::string src_weights = test::ReadFileBytes(dir.Sub("t") + "/weights.pt");
    // The resampling may change (it is no weight): the fine-tune learns the new input.
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("t") + " --out " + dir.Sub("ti") +
             " --epochs 1 --batch 2 --resample antialias");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(test::ReadFileBytes(dir.Sub("ti") + "/manifest.json").find("\"resample\": \"antialias\"") != std::string::npos);
    CHECK(test::ReadFileBytes(dir.Sub("t") + "/manifest.json").find("\"resample\": \"linear\"") != std::string::npos);
    CHECK(r.out.find("started from " + dir.Sub("t")) != std::string::npos);
    CHECK(test::ReadFileBytes(dir.Sub("ti") + "/vocab.txt") == test::ReadFileBytes(dir.Sub("t") + "/vocab.txt"));
    CHECK(test::ReadFileBytes(dir.Sub("ti") + "/diseases.json") == test::ReadFileBytes(dir.Sub("t") + "/diseases.json"));
    CHECK(test::ReadFileBytes(dir.Sub("ti") + "/manifest.json").find("Fine-tuned from 'ctdb-synthetic'. Trained by") !=
          std::string::npos);
    // Trained on later (a larger --epochs resumes the finished run), with a
    // description: the provenance stays, said once, and so does the rest.
    for (const char* epochs : {"2", "3"}) {
      r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("t") + " --out " + dir.Sub("ti") +
               " --epochs " + epochs + " --batch 2 --description 'Phantoms.'");
      REQUIRE_MESSAGE(r.code == 0, r.out);
      auto m = ReadManifest(dir.Sub("ti"));
      REQUIRE(m.ok());
      CHECK(m->description.rfind("Phantoms. Fine-tuned from 'ctdb-synthetic'. Trained by", 0) == 0);
      CHECK(m->description.find("Trained by") == m->description.rfind("Trained by"));
      CHECK(m->preprocess.resample == embed::Resample::kAntialias);
    }
    CHECK(test::ReadFileBytes(dir.Sub("t") + "/weights.pt") == src_weights);
    r = Ctdb("model info " + dir.Sub("ti"));
    CHECK(r.code == 0);
    CHECK(r.out.find("(LPS, antialias resampling)") != std::string::npos);
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("t") + " --out " + dir.Sub("tj") +
             " --epochs 1 --batch 2 --layers 0");
    CHECK(r.code == 2);
    CHECK(r.out.find("is a model of another layout than --layers") != std::string::npos);
    r = Ctdb("train --data " + dir.Sub("data") + " --init " + dir.Sub("t") + " --out " + dir.Sub("t") + "/.");
    CHECK(r.code == 2);
    CHECK(r.out.find("same directory") != std::string::npos);
    CHECK(Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("nothing") + " --out " +
               dir.Sub("tj")).code != 0);
    CHECK(test::ReadFileBytes(dir.Sub("t") + "/weights.pt") == src_weights);
  }
  // --finer-input grows the trained model onto a finer grid: spacing halved,
  // size doubled, one more stem stage; the same command resumes it.
  {
    // --tiny's group norm mixes channels: refused, nothing written.
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("t") + " --out " + dir.Sub("t3") +
             " --batch 2 --finer-input 2");
    CHECK(r.code == 2);
    CHECK(r.out.find("group-normalized") != std::string::npos);
    r = Ctdb("train --tiny --stem-norm batch --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tn") +
             " --epochs 1 --batch 2");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    const std::string grow = "train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " +
                             dir.Sub("tf") + " --batch 2 --finer-input 2";
    r = Ctdb(grow + " --epochs 1");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("started from " + dir.Sub("tn")) != std::string::npos);
    auto m = ReadManifest(dir.Sub("tf"));
    auto base = ReadManifest(dir.Sub("tn"));
    REQUIRE(m.ok());
    REQUIRE(base.ok());
    CHECK(m->preprocess.spacing_mm[0] == base->preprocess.spacing_mm[0] / 2);
    CHECK(m->preprocess.spacing_mm[2] == base->preprocess.spacing_mm[2] / 2);
    CHECK(m->preprocess.size[2] == base->preprocess.size[2] * 2);
    REQUIRE(m->architecture.stem.size() == base->architecture.stem.size() + 1);
    CHECK(m->architecture.stem[0].channels == 2 * std::max<int64_t>(1, base->architecture.windows.size()) + 2);
    CHECK(m->description.find("Fine-tuned from 'ctdb-synthetic'.") != std::string::npos);
    r = Ctdb("model info " + dir.Sub("tf"));
    CHECK(r.code == 0);
    const std::string state = test::ReadFileBytes(dir.Sub("tf") + "/checkpoint/state.txt");
    r = Ctdb(grow + " --epochs 2");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("resumed") != std::string::npos);
    CHECK(test::ReadFileBytes(dir.Sub("tf") + "/checkpoint/state.txt") != state);
    const std::string resumed = test::ReadFileBytes(dir.Sub("tf") + "/checkpoint/state.txt");
    r = Ctdb(grow + ":10 --epochs 3");  // not how this checkpoint grew: refused, kept
    CHECK(r.code == 2);
    CHECK(r.out.find("another layout than --finer-input") != std::string::npos);
    CHECK(test::ReadFileBytes(dir.Sub("tf") + "/checkpoint/state.txt") == resumed);
    r = Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t3") + " --finer-input 2");
    CHECK(r.code == 2);
    CHECK(r.out.find("give it with --init") != std::string::npos);
    for (const std::string bad : {"0", "2:x", "2x2", "1", "2:1", "5"}) {
      CAPTURE(bad);
      r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("t3") +
               " --finer-input " + bad);
      CHECK(r.code == 2);
      CHECK(r.out.find("finer") != std::string::npos);
    }
    CHECK(!std::filesystem::exists(dir.Sub("t3") + "/manifest.json"));
  }
  // --detect adds a detector head to a trained model (also while growing it
  // onto a finer grid); the same command resumes, another head is refused.
  {
    const std::string add = "train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " +
                            dir.Sub("td") + " --batch 2 --detect 1:6:4";
    r = Ctdb(add + " --epochs 1");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("detect") != std::string::npos);  // its loss is logged
    auto m = ReadManifest(dir.Sub("td"));
    REQUIRE(m.ok());
    CHECK(m->architecture.detect.stage == 1);
    CHECK(m->architecture.detect.channels == 6);
    CHECK(m->architecture.detect.sharpness == 4);
    CHECK(ReadManifest(dir.Sub("tn"))->architecture.detect.stage == 0);
    CHECK(Ctdb("model info " + dir.Sub("td")).code == 0);
    r = Ctdb(add + " --epochs 2");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    CHECK(r.out.find("resumed") != std::string::npos);
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("td") +
             " --batch 2 --detect 1:6:5 --epochs 3");
    CHECK(r.code == 2);
    CHECK(r.out.find("another layout than --detect") != std::string::npos);
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("tdf") +
             " --batch 2 --epochs 1 --finer-input 2 --detect 2");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    m = ReadManifest(dir.Sub("tdf"));
    REQUIRE(m.ok());
    CHECK(m->architecture.stem.size() == ReadManifest(dir.Sub("tn"))->architecture.stem.size() + 1);
    CHECK(m->architecture.detect.stage == 2);
    for (const std::string bad : {"x", "1:", "1:2:x", "1:2:3:4"}) {
      CAPTURE(bad);
      r = Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t4") + " --detect " + bad);
      CHECK(r.code == 2);
      CHECK(r.out.find("--detect wants") != std::string::npos);
    }
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("t4") +
             " --batch 2 --epochs 1 --detect 9");
    CHECK(r.code != 0);
    CHECK(r.out.find("architecture.detect.stage") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.Sub("t4") + "/weights.pt"));
  }
  // --peaks adds peak skips to a trained model the same way.
  {
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("tpk") +
             " --batch 2 --epochs 1 --peaks 0,1");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    auto m = ReadManifest(dir.Sub("tpk"));
    REQUIRE(m.ok());
    CHECK(m->architecture.peaks == std::vector<int64_t>{0, 1});
    CHECK(ReadManifest(dir.Sub("tn"))->architecture.peaks.empty());
    CHECK(Ctdb("model info " + dir.Sub("tpk")).code == 0);
    for (const std::string bad : {"x", "0,", "-1", "1.5"}) {
      CAPTURE(bad);
      r = Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t5") + " --peaks " + bad);
      CHECK(r.code == 2);
      CHECK(r.out.find("--peaks wants") != std::string::npos);
    }
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("t5") +
             " --batch 2 --epochs 1 --peaks 1,0");
    CHECK(r.code != 0);
    CHECK(r.out.find("architecture.peaks") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.Sub("t5") + "/weights.pt"));
  }
  // --readout likewise, with peaks; without them it is refused before any study is read.
  {
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("tro") +
             " --batch 2 --epochs 1 --peaks 0 --readout --readout-lr 0.003");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    auto m = ReadManifest(dir.Sub("tro"));
    REQUIRE(m.ok());
    CHECK(m->architecture.readout);
    CHECK(m->architecture.peaks == std::vector<int64_t>{0});
    CHECK(!ReadManifest(dir.Sub("tn"))->architecture.readout);
    CHECK(Ctdb("model info " + dir.Sub("tro")).code == 0);
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("t6") +
             " --batch 2 --epochs 1 --readout");
    CHECK(r.code == 2);
    CHECK(r.out.find("architecture.readout") != std::string::npos);
    CHECK(r.out.find("reading studies") == std::string::npos);
    CHECK(!std::filesystem::exists(dir.Sub("t6") + "/weights.pt"));
    for (const std::string bad : {"0", "-1", "x", "2x", "1.5"}) {
      CAPTURE(bad);
      r = Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t6") + " --peaks 0 --readout --readout-lr " + bad);
      CHECK(r.code == 2);
      CHECK(r.out.find("--readout-lr must be") != std::string::npos);
    }
    // --blobs joins a readout (added to one), not a model without it.
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tro") + " --out " + dir.Sub("tbl") +
             " --batch 2 --epochs 1 --blobs 4,8");
    REQUIRE_MESSAGE(r.code == 0, r.out);
    m = ReadManifest(dir.Sub("tbl"));
    REQUIRE(m.ok());
    CHECK(m->architecture.blobs == std::vector<double>{4, 8});
    CHECK(m->architecture.readout);
    CHECK(ReadManifest(dir.Sub("tro"))->architecture.blobs.empty());
    r = Ctdb("train --data " + dir.Sub("data") + " --split '' --init " + dir.Sub("tn") + " --out " + dir.Sub("t7") +
             " --batch 2 --epochs 1 --blobs 8");
    CHECK(r.code == 2);
    CHECK(r.out.find("architecture.blobs") != std::string::npos);
    CHECK(!std::filesystem::exists(dir.Sub("t7") + "/weights.pt"));
    for (const std::string bad : {"x", "4,", "8,4", "0", "11"}) {
      CAPTURE(bad);
      r = Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t7") + " --peaks 0 --readout --blobs " + bad);
      CHECK(r.code == 2);
      CHECK((r.out.find("--blobs wants") != std::string::npos || r.out.find("architecture.blobs") != std::string::npos));
    }
  }
  // The same command resumes; a layout flag contradicting the checkpoint is
  // refused (it used to be dropped silently) and the checkpoint is kept.
  const std::string state = test::ReadFileBytes(dir.Sub("tl") + "/checkpoint/state.txt");
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tl") +
           " --epochs 1 --batch 2 --layers 1");
  CHECK(r.code == 2);
  CHECK(r.out.find("another layout than --tiny, --layers") != std::string::npos);
  CHECK(test::ReadFileBytes(dir.Sub("tl") + "/checkpoint/state.txt") == state);
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tl") +
           " --epochs 1 --batch 2 --layers 0 --resample antialias");  // the checkpoint learnt linear input
  CHECK(r.code == 2);
  CHECK(r.out.find("another layout than --tiny, --layers, --resample") != std::string::npos);
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tr") + " --resample cubic");
  CHECK(r.code == 2);
  CHECK(r.out.find("--resample must be linear or antialias") != std::string::npos);
  CHECK(test::ReadFileBytes(dir.Sub("tl") + "/checkpoint/state.txt") == state);
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tl") +
           " --epochs 2 --batch 2 --layers 0");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(test::ReadFileBytes(dir.Sub("tl") + "/checkpoint/state.txt") != state);
  r = Ctdb("train --data " + dir.Sub("data") + " --split '' --out " + dir.Sub("tl") + " --epochs 2 --batch 2");
  CHECK(r.code == 0);  // no layout flags: the checkpoint's layout, whatever it is
  r = Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t3") + " --stem-pool --no-stem-pool");
  CHECK(r.code == 2);
  CHECK(r.out.find("contradict") != std::string::npos);
  CHECK(Ctdb("model info " + dir.Sub("tl")).code == 0);
  for (const char* bad : {"-1", "25", "two"}) {
    CHECK(Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t3") + " --layers " + bad).code == 2);
  }
  for (const char* bad : {"8:3", "8:3:2x2", "8:0:2", "x:3:2", "8:3:2,"}) {
    CHECK(Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t3") + " --stem " + bad).code == 2);
  }
  for (const char* bad : {"-400:-1000", "a:b", "-1000", "-1000:-400,"}) {
    CHECK(Ctdb("train --tiny --data " + dir.Sub("data") + " --out " + dir.Sub("t3") + " --windows=" + bad).code == 2);
  }
  CHECK(Ctdb("train --out " + dir.Sub("t2")).code == 2);
  CHECK(Ctdb("train --data " + dir.Sub("data") + " --out " + dir.Sub("t2") + " --lr fast").code == 2);
  CHECK(Ctdb("train --data " + dir.Sub("nothing") + " --out " + dir.Sub("t2")).code == 11);
  CHECK(Ctdb("bench encoder --studies 1").code == 2);
}

TEST_CASE("cli: query commands, diseases, backup/restore, serve until SIGTERM") {
  test::TempDir dir;
  REQUIRE(Ctdb("synth --out " + dir.Sub("data") + " --n 6 --seed 5 --inplane 48").code == 0);
  REQUIRE(Ctdb("model init --tiny --out " + dir.Sub("m") + " --corpus " + dir.Sub("data")).code == 0);
  const std::string db = " --db " + dir.Sub("db");
  const std::string m = db + " --model " + dir.Sub("m");
  REQUIRE(Ctdb("ingest " + dir.Sub("data") + m).code == 0);
  const std::string key = "train_1_a_1";

  Run r = Ctdb("search text right pleural effusion" + m + " --k 2 --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"z_mm\"") != std::string::npos);
  CHECK(r.out.find("\"rank\":2") != std::string::npos);
  CHECK(r.out.find("\"rank\":3") == std::string::npos);
  r = Ctdb("search text effusion" + db);  // no model
  CHECK(r.code == 12);
  CHECK(r.out.find("--model") != std::string::npos);
  r = Ctdb("search image --key " + key + m + " --k 3");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("cosine similarity of the two studies") != std::string::npos);
  CHECK(Ctdb("search image --key nope" + m).code == 11);
  CHECK(Ctdb("search image" + m).code == 2);  // needs --key or --file
  r = Ctdb("search disease Pleural effusion" + db + " --k 2 --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"probability\"") != std::string::npos);
  CHECK(Ctdb("search disease Unknown thing" + db).code == 11);
  CHECK(Ctdb("search sideways" + db).code == 2);
  r = Ctdb("search report heart" + m + " --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"sentence\"") != std::string::npos);
  r = Ctdb("classify " + key + db + " --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"disease\":\"Pleural effusion\"") != std::string::npos);
  r = Ctdb("classify " + key + db);  // text: raw, token and calibrated probabilities ("-" where none)
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("P(token) P(cal)") != std::string::npos);
  r = Ctdb("localize " + key + " nodule in the right upper lobe" + m + " --json");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("\"curve\"") != std::string::npos);
  r = Ctdb("report " + key + db);
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("DRAFT") != std::string::npos);
  r = Ctdb("diseases set Pneumothorax --positive 'Pneumothorax.|Right pneumothorax.' --negative 'No pneumothorax.'" + m);
  REQUIRE_MESSAGE(r.code == 0, r.out);
  r = Ctdb("diseases" + db + " --json");
  CHECK(r.out.find("\"name\":\"Pneumothorax\"") != std::string::npos);
  CHECK(Ctdb("diseases set X --negative 'no x'" + m).code == 2);
  CHECK(Ctdb("diseases delete Pneumothorax" + db).code == 0);
  CHECK(Ctdb("diseases delete Pneumothorax" + db).code == 11);
  r = Ctdb("diseases exemplars" + db);
  CHECK(r.out.find("from 6 studies") != std::string::npos);
  // Six studies cannot calibrate a disease (5 with and 5 without it needed);
  // --save-model writes the model's catalog back, none calibrated.
  r = Ctdb("diseases calibrate" + m + " --save-model");
  REQUIRE_MESSAGE(r.code == 0, r.out);
  CHECK(r.out.find("Pleural effusion") != std::string::npos);
  CHECK(r.out.find("uncalibrated (fewer than 5 stored studies with it, or without it)") != std::string::npos);
  CHECK(r.out.find("wrote 0 calibrations into") != std::string::npos);
  CHECK(test::ReadFileBytes(dir.Sub("m") + "/diseases.json").find("\"name\": \"Pleural effusion\"") != std::string::npos);
  CHECK(Ctdb("diseases calibrate" + db + " --save-model").code == 12);  // which model?
  CHECK(Ctdb("diseases" + db + " --save-model").code == 2);

  CHECK(Ctdb("backup" + db + " --out " + dir.Sub("bk")).code == 0);
  CHECK(Ctdb("backup" + db + " --out " + dir.Sub("bk")).code == 16);
  CHECK(Ctdb("restore --from " + dir.Sub("bk") + " --db " + dir.Sub("r")).code == 0);
  CHECK(Ctdb("restore --from " + dir.Sub("bk") + " --db " + dir.Sub("r")).code == 16);
  r = Ctdb("stats --db " + dir.Sub("r") + " --json");
  CHECK(r.out.find("\"studies\":6") != std::string::npos);

  // serve: refuses to start without keys, then runs until SIGTERM and
  // snapshots on the way out.
  r = Ctdb("serve" + m + " --port 0");
  CHECK(r.code == 12);
  CHECK(r.out.find("--insecure") != std::string::npos);
  CHECK(Ctdb("serve" + m + " --insecure --host 0.0.0.0").code == 12);
  // SIGTERM once it says it is serving (a fixed sleep raced a loaded machine).
  const std::string log = dir.Sub("serve.log");
  r = Ctdb("serve" + m + " --insecure --port 0 > " + log + " 2>&1 & pid=$!; for i in $(seq 1 600); do grep -q 'ctdb serving' " +
           log + " && break; sleep 0.1; done; kill -TERM $pid; wait $pid; echo exit=$?; cat " + log);
  CHECK(r.out.find("ctdb serving 6 studies on http://127.0.0.1:") != std::string::npos);
  CHECK(r.out.find("index snapshot written") != std::string::npos);
  CHECK(r.out.find("exit=0") != std::string::npos);
}

}  // namespace
}  // namespace ctdb
