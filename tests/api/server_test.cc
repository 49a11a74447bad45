// The REST server over loopback: every endpoint's happy path and bad input
// (malformed JSON, wrong types, missing fields, unknown study, oversized
// upload, missing or read-only key on a write, path traversal), uploads of
// NIfTI and zipped DICOM, metrics, OpenAPI, TLS, and many clients while
// ingesting.
#include <doctest/doctest.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <zlib.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "api/src/server/auth.h"
#include "api/src/server/json_codec.h"
#include "api/src/server/upload.h"
#include "ctdb/ctdb.h"
#include "ctdb/server.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace ctdb {
namespace {

const char kRead[] = "read-key-0123456789abcdef";
const char kWrite[] = "write-key-0123456789abcdef";

// A stored-entries zip built by hand (names as given, "../" included).
std::string MakeZip(const std::vector<std::pair<std::string, std::string>>& files) {
  std::string out, central;
  auto u16 = [](std::string& s, uint16_t v) { s += static_cast<char>(v & 255), s += static_cast<char>(v >> 8); };
  auto u32 = [&](std::string& s, uint32_t v) { u16(s, static_cast<uint16_t>(v & 0xFFFF)), u16(s, static_cast<uint16_t>(v >> 16)); };
  for (const auto& [name, data] : files) {
    const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
    const uint32_t offset = static_cast<uint32_t>(out.size());
    u32(out, 0x04034b50), u16(out, 20), u16(out, 0), u16(out, 0), u16(out, 0), u16(out, 0);
    u32(out, crc), u32(out, static_cast<uint32_t>(data.size())), u32(out, static_cast<uint32_t>(data.size()));
    u16(out, static_cast<uint16_t>(name.size())), u16(out, 0);
    out += name + data;
    u32(central, 0x02014b50), u16(central, 20), u16(central, 20), u16(central, 0), u16(central, 0);
    u16(central, 0), u16(central, 0), u32(central, crc), u32(central, static_cast<uint32_t>(data.size()));
    u32(central, static_cast<uint32_t>(data.size())), u16(central, static_cast<uint16_t>(name.size()));
    u16(central, 0), u16(central, 0), u16(central, 0), u16(central, 0), u32(central, 0), u32(central, offset);
    central += name;
  }
  const uint32_t cd_off = static_cast<uint32_t>(out.size());
  out += central;
  u32(out, 0x06054b50), u16(out, 0), u16(out, 0), u16(out, static_cast<uint16_t>(files.size()));
  u16(out, static_cast<uint16_t>(files.size())), u32(out, static_cast<uint32_t>(central.size())), u32(out, cd_off);
  u16(out, 0);
  return out;
}

// A self-signed certificate and key for localhost, written as PEM files.
void MakeCertificate(const std::string& cert, const std::string& key) {
  EVP_PKEY* pkey = EVP_RSA_gen(2048);
  REQUIRE(pkey != nullptr);
  X509* x = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, pkey);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  REQUIRE(X509_sign(x, pkey, EVP_sha256()) > 0);
  FILE* f = std::fopen(cert.c_str(), "wb");
  PEM_write_X509(f, x);
  std::fclose(f);
  f = std::fopen(key.c_str(), "wb");
  PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr);
  std::fclose(f);
  X509_free(x);
  EVP_PKEY_free(pkey);
}

struct Fixture {
  test::TempDir dir;
  synth::SynthOptions so;
  std::shared_ptr<Model> model;
  std::unique_ptr<Database> db;
  std::unique_ptr<QueryEngine> engine;
  std::unique_ptr<Server> server;
  std::string files = dir.Sub("files");

  explicit Fixture(ServerOptions o = {}) {
    so.out = dir.Sub("data");
    so.n = 6;
    so.seed = 21;
    so.inplane = 48;
    REQUIRE(synth::Synthesize(so).ok());
    model = std::move(Model::Open(test::MakeTinyModel(dir.Sub("model"))).value());
    Options dbo;
    dbo.path = dir.Sub("db");
    dbo.create_if_missing = true;
    dbo.dimension = 32;
    dbo.model_id = model->id();
    db = std::move(Database::Open(dbo).value());
    REQUIRE(Ingest(*db, *model, so.out, {}).ok());
    engine = std::move(QueryEngine::Open(db.get(), model).value());
    fs::create_directories(files);
    std::ofstream(dir.Sub("keys")) << "# test keys\n" << kRead << " read\n" << kWrite << " write\n";
    o.port = 0;
    o.api_keys_file = dir.Sub("keys");
    o.files_root = files;
    o.threads = 4;
    auto s = Server::Create(db.get(), model, engine.get(), o);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    server = std::move(s).value();
    REQUIRE(server->Start().ok());
  }
  ~Fixture() { server->Stop(); }

  httplib::Client Client(const char* key = kRead) {
    httplib::Client c("127.0.0.1", server->port());
    if (key) c.set_bearer_token_auth(key);
    c.set_read_timeout(60, 0);
    return c;
  }
  std::string FirstKey() { return db->ListKeys({}).value().front(); }
  std::string AVolume() {
    for (const auto& e : fs::recursive_directory_iterator(so.out)) {
      const std::string n = e.path().string();
      if (n.find("_mask") == std::string::npos && n.size() > 7 && n.substr(n.size() - 7) == ".nii.gz") return n;
    }
    FAIL("no volume");
    return "";
  }
};

json Body(const httplib::Result& r) {
  REQUIRE(r);
  return json::parse(r->body);
}

void CheckError(const httplib::Result& r, int status, const std::string& code) {
  REQUIRE(r);
  CHECK(r->status == status);
  const json j = json::parse(r->body);
  REQUIRE(j.contains("error"));
  CHECK(j["error"]["code"] == code);
  CHECK(!j["error"]["message"].get<std::string>().empty());
}

TEST_CASE("server: options are checked before anything starts") {
  test::TempDir dir;
  Options dbo;
  dbo.path = dir.Sub("db");
  dbo.create_if_missing = true;
  dbo.dimension = 4;
  auto db = std::move(Database::Open(dbo).value());
  auto engine = std::move(QueryEngine::Open(db.get(), nullptr).value());
  ServerOptions o;
  o.api_keys_env = "CTDB_TEST_NO_SUCH_VAR";
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsInvalidArgument());  // no keys
  o.insecure = true;
  o.host = "0.0.0.0";
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsInvalidArgument());  // insecure off loopback
  o.host = "127.0.0.1";
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).ok());
  o.tls_cert_file = "cert.pem";
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsInvalidArgument());  // cert without key
  o.tls_cert_file = "";
  o.insecure = false;
  std::ofstream(dir.Sub("short")) << "short read\n";
  o.api_keys_file = dir.Sub("short");
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsInvalidArgument());
  std::ofstream(dir.Sub("bad")) << "0123456789abcdefgh admin\n";
  o.api_keys_file = dir.Sub("bad");
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsInvalidArgument());
  o.api_keys_file = dir.Sub("missing");
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsNotFound());
  // Keys from the environment.
  o.api_keys_file = "";
  o.api_keys_env = "CTDB_TEST_SERVER_KEYS";
  setenv("CTDB_TEST_SERVER_KEYS", "env-write-key-0123456789:write, env-read-key-0123456789:read", 1);
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).ok());
  setenv("CTDB_TEST_SERVER_KEYS", "env-write-key-0123456789:admin", 1);
  CHECK(Server::Create(db.get(), nullptr, engine.get(), o).status().IsInvalidArgument());
  unsetenv("CTDB_TEST_SERVER_KEYS");
  server::ApiKeys keys;
  REQUIRE(keys.AddList("env-write-key-0123456789:write,env-read-key-0123456789:read", "test").ok());
  CHECK(keys.Check("Bearer env-write-key-0123456789") == server::Scope::kWrite);
  CHECK(keys.Check("Bearer env-read-key-0123456789") == server::Scope::kRead);
  CHECK(keys.Check("Bearer env-read-key-012345678") == server::Scope::kNone);  // a prefix is not the key
  CHECK(keys.Check("env-read-key-0123456789") == server::Scope::kNone);        // no scheme
  CHECK(keys.Check("") == server::Scope::kNone);
}

TEST_CASE("server: keys and scopes") {
  Fixture f;
  auto anon = f.Client(nullptr);
  CHECK(anon.Get("/healthz")->status == 200);
  CHECK(anon.Get("/openapi.json")->status == 200);
  auto r = anon.Get("/v1/stats");
  CheckError(r, 401, "unauthenticated");
  CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");
  auto wrong = f.Client("not-a-key-but-long-enough");
  CheckError(wrong.Get("/v1/stats"), 401, "unauthenticated");
  auto reader = f.Client(kRead);
  CHECK(reader.Get("/v1/stats")->status == 200);
  const std::string key = f.FirstKey();
  CheckError(reader.Delete(("/v1/studies/" + key).c_str()), 403, "permission_denied");
  CheckError(reader.Put("/v1/diseases/X", R"({"positive":["x"]})", "application/json"), 403, "permission_denied");
  CHECK(f.db->GetRecord(key).ok());  // nothing lost
  auto writer = f.Client(kWrite);
  auto del = writer.Delete(("/v1/studies/" + key).c_str());
  REQUIRE(del);
  CHECK(del->status == 200);
  CHECK(f.db->GetRecord(key).status().IsNotFound());
  CheckError(writer.Delete(("/v1/studies/" + key).c_str()), 404, "not_found");
}

TEST_CASE("server: query endpoints, happy paths and bad input") {
  Fixture f;
  auto c = f.Client();
  const std::string key = f.FirstKey();

  auto text = c.Post("/v1/search/text", R"({"text":"right pleural effusion","k":3})", "application/json");
  REQUIRE(text);
  CHECK(text->status == 200);
  json j = json::parse(text->body);
  CHECK(j["hits"].size() == 3);
  CHECK(j["hits"][0].contains("z_mm"));
  CHECK(j["hits"][0]["rank"] == 1);
  CHECK(!j["score_meaning"].get<std::string>().empty());
  CheckError(c.Post("/v1/search/text", "{bad json", "application/json"), 400, "invalid_argument");
  CheckError(c.Post("/v1/search/text", R"({"text":5})", "application/json"), 400, "invalid_argument");
  CheckError(c.Post("/v1/search/text", R"({"k":3})", "application/json"), 400, "invalid_argument");
  CheckError(c.Post("/v1/search/text", R"({"text":"x","k":"3"})", "application/json"), 400, "invalid_argument");
  CheckError(c.Post("/v1/search/text", R"({"text":"x","k":0})", "application/json"), 400, "invalid_argument");
  CheckError(c.Post("/v1/search/text", R"([1,2])", "application/json"), 400, "invalid_argument");
  CheckError(c.Post("/v1/search/text", R"({"text":"x","filter":"age=abc"})", "application/json"), 400,
             "invalid_argument");

  auto page = c.Post("/v1/search/text", R"({"text":"effusion","k":2,"offset":2,"filter":"age=0-200"})", "application/json");
  REQUIRE(page);
  CHECK(page->status == 200);
  CHECK(json::parse(page->body)["hits"][0]["rank"] == 3);

  auto rep = c.Post("/v1/search/reports", R"({"text":"pleural effusion","k":2})", "application/json");
  REQUIRE(rep);
  CHECK(rep->status == 200);
  CHECK(json::parse(rep->body)["hits"][0].contains("sentence"));

  auto dis = Body(c.Post("/v1/search/disease", R"({"disease":"Pleural effusion","k":4})", "application/json"));
  CHECK(dis["hits"].size() == 4);
  CHECK(dis["hits"][0].contains("probability"));
  CheckError(c.Post("/v1/search/disease", R"({"disease":"Unknown thing"})", "application/json"), 404, "not_found");
  CheckError(c.Post("/v1/search/disease", R"({"disease":"Pleural effusion","exemplar_weight":"a"})", "application/json"),
             400, "invalid_argument");

  auto img = Body(c.Post("/v1/search/image", json{{"key", key}, {"k", 2}}.dump(), "application/json"));
  CHECK(img["hits"].size() == 2);
  CHECK(img["hits"][0]["key"] != key);
  CheckError(c.Post("/v1/search/image", R"({"key":"nope"})", "application/json"), 404, "not_found");
  CheckError(c.Post("/v1/search/image", R"({})", "application/json"), 400, "invalid_argument");
  auto tok = Body(c.Post("/v1/search/image", json{{"key", key}, {"disease", "Cardiomegaly"}}.dump(), "application/json"));
  CHECK(tok["score_meaning"].get<std::string>().find("Cardiomegaly") != std::string::npos);

  // Image search by an uploaded volume.
  httplib::MultipartFormDataItems up = {{"volume", test::ReadFileBytes(f.AVolume()), "q.nii.gz", "application/gzip"},
                                        {"options", R"({"k":1})", "", "application/json"}};
  auto byup = c.Post("/v1/search/image", up);
  REQUIRE(byup);
  CHECK(byup->status == 200);
  CHECK(json::parse(byup->body)["hits"].size() == 1);
  httplib::MultipartFormDataItems junk = {{"volume", "hello", "q.txt", "text/plain"}};
  CheckError(c.Post("/v1/search/image", junk), 400, "invalid_argument");

  auto cls = Body(c.Get(("/v1/studies/" + key + "/classify").c_str()));
  CHECK(cls["diseases"].size() == 18);
  CheckError(c.Get("/v1/studies/nope/classify"), 404, "not_found");
  auto loc = Body(c.Post(("/v1/studies/" + key + "/localize").c_str(), R"({"text":"nodule"})", "application/json"));
  CHECK(loc["curve"].size() > 0);
  CheckError(c.Post(("/v1/studies/" + key + "/localize").c_str(), R"({"text":["a"]})", "application/json"), 400,
             "invalid_argument");
  auto draft = Body(c.Get(("/v1/studies/" + key + "/report-draft").c_str()));
  CHECK(!draft["draft"].get<std::string>().empty());
  auto rec = Body(c.Get(("/v1/studies/" + key).c_str()));
  CHECK(rec["key"] == key);
  auto keys = Body(c.Get("/v1/studies?limit=2"));
  CHECK(keys["keys"].size() == 2);
  CheckError(c.Get("/v1/studies?limit=abc"), 400, "invalid_argument");
  auto png = c.Get(("/v1/studies/" + key + "/slice.png?window=mediastinum").c_str());
  REQUIRE(png);
  CHECK(png->status == 200);
  CHECK(png->get_header_value("Content-Type") == "image/png");
  CHECK(png->body.compare(1, 3, "PNG") == 0);
  CheckError(c.Get(("/v1/studies/" + key + "/slice.png?z=1e9").c_str()), 400, "invalid_argument");
  CheckError(c.Get(("/v1/studies/" + key + "/slice.png?z=abc").c_str()), 400, "invalid_argument");
  CheckError(c.Get(("/v1/studies/" + key + "/slice.png?window=purple").c_str()), 400, "invalid_argument");
  CheckError(c.Get("/v1/no/such/route"), 404, "not_found");

  auto stats = Body(c.Get("/v1/stats"));
  CHECK(stats["studies"] == 6);
  auto ready = Body(c.Get("/readyz"));
  CHECK(ready["status"] == "ready");
}

TEST_CASE("server: disease catalog edits need write scope and take effect") {
  Fixture f;
  auto w = f.Client(kWrite);
  auto put = w.Put("/v1/diseases/Pneumothorax", R"({"positive":["Pneumothorax."],"negative":["No pneumothorax."]})",
                   "application/json");
  REQUIRE(put);
  CHECK(put->status == 200);
  CHECK(json::parse(put->body)["embedded"] == true);
  auto list = Body(w.Get("/v1/diseases"));
  CHECK(list["diseases"].size() == 19);
  CHECK(w.Post("/v1/search/disease", R"({"disease":"pneumothorax"})", "application/json")->status == 200);
  CheckError(w.Put("/v1/diseases/X", R"({"positive":[]})", "application/json"), 400, "invalid_argument");
  CheckError(w.Put("/v1/diseases/X", R"({"positive":"Pneumothorax."})", "application/json"), 400, "invalid_argument");
  CheckError(w.Put("/v1/diseases/X", R"({"negative":["x"]})", "application/json"), 400, "invalid_argument");
  CHECK(w.Delete("/v1/diseases/Pneumothorax")->status == 200);
  CheckError(w.Delete("/v1/diseases/Pneumothorax"), 404, "not_found");
  // Gone from the server's queries too, not only from storage.
  CheckError(w.Post("/v1/search/disease", R"({"disease":"pneumothorax"})", "application/json"), 404, "not_found");
  CHECK(Body(w.Get("/v1/diseases"))["diseases"].size() == 18);
  auto ex = Body(w.Post("/v1/diseases/exemplars", "", "application/json"));
  CHECK(ex["studies"] == 6);
  // Calibration: six studies are too few (5 with and 5 without a disease):
  // the catalog comes back, every entry without a "calibration".
  auto cal = w.Post("/v1/diseases/calibration", "", "application/json");
  REQUIRE(cal->status == 200);
  const json cat = json::parse(cal->body)["diseases"];
  CHECK(cat.size() == 18);
  for (const auto& e : cat) CHECK(!e.contains("calibration"));
  CheckError(f.Client(kRead).Post("/v1/diseases/calibration", "", "application/json"), 403, "permission_denied");
}

TEST_CASE("server: uploads (NIfTI, zipped DICOM), duplicates, size limit and path confinement") {
  ServerOptions o;
  o.max_body_bytes = 2 << 20;
  Fixture f(o);
  auto w = f.Client(kWrite);
  const std::string vol = test::ReadFileBytes(f.AVolume());
  httplib::MultipartFormDataItems up = {
      {"volume", vol, "new_study.nii.gz", "application/gzip"},
      {"metadata", R"({"sex":"F","age_years":61,"findings":"Small right pleural effusion.","labels":["Pleural effusion"]})",
       "", "application/json"}};
  auto r = w.Post("/v1/studies", up);
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(json::parse(r->body)["key"] == "new_study");
  auto rec = f.db->GetRecord("new_study");
  REQUIRE(rec.ok());
  CHECK(rec->age_years == 61);
  CHECK(rec->sex == Sex::kFemale);
  CHECK(rec->source_uri == "upload:new_study");
  CHECK(f.db->Count() == 7);
  CheckError(w.Post("/v1/studies", up), 409, "already_exists");
  up.push_back({"replace", "true", "", "text/plain"});
  CHECK(w.Post("/v1/studies", up)->status == 201);
  CHECK(f.db->Count() == 7);
  CheckError(f.Client(kRead).Post("/v1/studies", up), 403, "permission_denied");
  httplib::MultipartFormDataItems bad_meta = {{"volume", vol, "x.nii.gz", ""}, {"metadata", "{", "", ""}};
  CheckError(w.Post("/v1/studies", bad_meta), 400, "invalid_argument");
  httplib::MultipartFormDataItems bad_age = {{"volume", vol, "x.nii.gz", ""}, {"metadata", R"({"age_years":"old"})", "", ""}};
  CheckError(w.Post("/v1/studies", bad_age), 400, "invalid_argument");
  httplib::MultipartFormDataItems truncated = {{"volume", vol.substr(0, vol.size() / 2), "t.nii.gz", ""}};
  auto tr = w.Post("/v1/studies", truncated);
  REQUIRE(tr);
  CHECK(tr->status >= 400);
  CHECK(f.db->GetRecord("t").status().IsNotFound());

  // Larger than the body limit: 413, nothing stored.
  httplib::MultipartFormDataItems big = {{"volume", std::string(3 << 20, 'x'), "big.nii", ""}};
  auto b = w.Post("/v1/studies", big);
  REQUIRE(b);
  CHECK(b->status == 413);
  CHECK(f.db->Count() == 7);

  // A zip of a DICOM series (here one CT slice from Debian's test files).
  // A zip of a DICOM series (a multi-slice CT series from pydicom's test
  // files); entry names try to climb out and must not.
  const std::string series = std::string(CTDB_TEST_DATA) + "/dicomdirtests/98892001/CT5N";
  REQUIRE(fs::is_directory(series));
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto& e : fs::directory_iterator(series)) {
    entries.push_back({"../../evil/" + e.path().filename().string(), test::ReadFileBytes(e.path().string())});
  }
  httplib::MultipartFormDataItems z = {{"volume", MakeZip(entries), "series.zip", "application/zip"},
                                       {"metadata", R"({"key":"dicom_upload"})", "", ""}};
  auto zr = w.Post("/v1/studies", z);
  REQUIRE(zr);
  CHECK_MESSAGE(zr->status == 201, zr->body);
  CHECK(f.db->GetRecord("dicom_upload").ok());
  CHECK(!fs::exists(f.dir.path() + "/evil"));
  CHECK(!fs::exists("/tmp/evil"));
  httplib::MultipartFormDataItems badzip = {{"volume", "PK\x03\x04garbage", "s.zip", ""}, {"metadata", R"({"key":"z"})", "", ""}};
  CheckError(w.Post("/v1/studies", badzip), 400, "invalid_argument");

  // Server-side paths: only inside the files root.
  fs::copy_file(f.AVolume(), f.files + "/inside.nii.gz");
  auto ok = w.Post("/v1/studies", R"({"path":"inside.nii.gz","metadata":{"key":"from_path"}})", "application/json");
  REQUIRE(ok);
  CHECK_MESSAGE(ok->status == 201, ok->body);
  for (const char* p : {"../keys", "../../../../etc/passwd", "/etc/passwd", "sub/../../keys"}) {
    CheckError(w.Post("/v1/studies", json{{"path", p}, {"metadata", {{"key", "t"}}}}.dump(), "application/json"), 403,
               "permission_denied");
    CheckError(w.Post("/v1/search/image", json{{"path", p}}.dump(), "application/json"), 403, "permission_denied");
  }
  fs::create_symlink(f.dir.Sub("keys"), f.files + "/link");
  CheckError(w.Post("/v1/search/image", R"({"path":"link"})", "application/json"), 403, "permission_denied");
  CheckError(w.Post("/v1/search/image", R"({"path":"missing.nii.gz"})", "application/json"), 404, "not_found");
}

TEST_CASE("server: zip extraction never writes outside its folder and refuses bombs") {
  test::TempDir dir;
  fs::create_directories(dir.Sub("out"));
  auto n = server::ExtractZip(MakeZip({{"../a", "1"}, {"/abs/b", "22"}, {"dir/", ""}}), dir.Sub("out"), 100);
  REQUIRE(n.ok());
  CHECK(*n == 2);
  CHECK(test::ReadFileBytes(dir.Sub("out/00001.dcm")) == "1");
  CHECK(test::ReadFileBytes(dir.Sub("out/00002.dcm")) == "22");
  CHECK(!fs::exists(dir.Sub("a")));
  CHECK(server::ExtractZip(MakeZip({{"a", std::string(200, 'x')}}), dir.Sub("out"), 100).status().IsInvalidArgument());
  CHECK(server::ExtractZip(MakeZip({{"a", "1"}, {"b", "2"}}), dir.Sub("out"), 100, 1).status().IsInvalidArgument());
  CHECK(server::ExtractZip("not a zip at all, just text", dir.Sub("out"), 100).status().IsInvalidArgument());
  std::string cut = MakeZip({{"a", "hello"}});
  cut[30 + 1] = 'X';  // damage inside the data region is fine; damage the header:
  cut[0] = 'X';
  CHECK(server::ExtractZip(cut, dir.Sub("out"), 100).status().IsInvalidArgument());
}

TEST_CASE("server: metrics count requests -- the OpenAPI document covers every route") {
  Fixture f;
  auto c = f.Client();
  for (int i = 0; i < 3; ++i) c.Post("/v1/search/text", R"({"text":"nodule"})", "application/json");
  c.Get("/v1/studies/nope");
  auto m = c.Get("/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->body.find("ctdb_http_requests_total{method=\"POST\",route=\"/v1/search/text\",status=\"200\"} 3") !=
        std::string::npos);
  CHECK(m->body.find("route=\"/v1/studies/{key}\",status=\"404\"} 1") != std::string::npos);
  CHECK(m->body.find("ctdb_http_request_duration_seconds_bucket{method=\"POST\",route=\"/v1/search/text\",le=\"+Inf\"} 3") !=
        std::string::npos);
  CHECK(m->body.find("ctdb_studies 6") != std::string::npos);
  CHECK(m->body.find("ctdb_index_rows{index=\"image\"} 6") != std::string::npos);
  // The last gauges too (a fixed buffer once cut them off).
  CHECK(m->body.find("ctdb_index_memory_bytes{index=\"report\"} ") != std::string::npos);
  CHECK(m->body.find("\nctdb_disk_bytes ") != std::string::npos);

  const json doc = Body(c.Get("/openapi.json"));
  CHECK(doc["openapi"] == "3.0.3");
  int checked = 0;
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [verb, op] : item.items()) {
      if (verb == "parameters") continue;
      CHECK(op.contains("operationId"));
      CHECK(op.contains("responses"));
      // Every documented route exists: a request gets an answer other than
      // "no route" (bodies are empty, so most say 400).
      std::string p = path;
      for (const char* var : {"{key}", "{name}"}) {
        const size_t at = p.find(var);
        if (at != std::string::npos) p.replace(at, std::strlen(var), "x");
      }
      httplib::Result r = verb == "get"      ? c.Get(p.c_str())
                          : verb == "post"   ? c.Post(p.c_str(), "", "application/json")
                          : verb == "put"    ? c.Put(p.c_str(), "", "application/json")
                                             : c.Delete(p.c_str());
      REQUIRE(r);
      CHECK_MESSAGE(r->body.find("no route") == std::string::npos, (verb + " " + p));
      ++checked;
    }
  }
  CHECK(checked >= 20);
  // References resolve.
  const std::string text = doc.dump();
  for (size_t at = 0; (at = text.find("#/components/", at)) != std::string::npos; ++at) {
    const size_t end = text.find('"', at);
    const json::json_pointer ptr(text.substr(at + 1, end - at - 1));
    CHECK_MESSAGE(doc.contains(ptr), text.substr(at, end - at));
  }
}

TEST_CASE("server: many concurrent clients while studies are ingested and deleted") {
  Fixture f;
  std::atomic<int> ok{0}, bad{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> readers;
  for (int t = 0; t < 6; ++t) {
    readers.emplace_back([&, t] {
      auto c = f.Client();
      while (!done) {
        auto r = t % 2 ? c.Post("/v1/search/text", R"({"text":"pleural effusion","k":5})", "application/json")
                       : c.Post("/v1/search/disease", R"({"disease":"Cardiomegaly","k":5})", "application/json");
        (r && r->status == 200) ? ++ok : ++bad;
      }
    });
  }
  auto w = f.Client(kWrite);
  const std::string vol = test::ReadFileBytes(f.AVolume());
  for (int i = 0; i < 8; ++i) {
    httplib::MultipartFormDataItems up = {{"volume", vol, "x.nii.gz", ""},
                                          {"metadata", json{{"key", "c" + std::to_string(i)}}.dump(), "", ""}};
    auto r = w.Post("/v1/studies", up);
    REQUIRE(r);
    CHECK(r->status == 201);
    if (i % 2) CHECK(w.Delete(("/v1/studies/c" + std::to_string(i - 1)).c_str())->status == 200);
  }
  done = true;
  for (auto& t : readers) t.join();
  CHECK(bad == 0);
  CHECK(ok > 12);
  CHECK(f.db->Count() == 6 + 4);
}

TEST_CASE("server: TLS with a certificate -- stop drains and refuses new work") {
  test::TempDir certs;
  ServerOptions o;
  o.tls_cert_file = certs.Sub("cert.pem");
  o.tls_key_file = certs.Sub("key.pem");
  MakeCertificate(o.tls_cert_file, o.tls_key_file);
  Fixture f(o);
  httplib::SSLClient c("127.0.0.1", f.server->port());
  c.enable_server_certificate_verification(false);
  c.set_bearer_token_auth(kRead);
  auto r = c.Post("/v1/search/text", R"({"text":"nodule","k":2})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  httplib::Client plain("127.0.0.1", f.server->port());
  auto p = plain.Get("/healthz");
  CHECK((!p || p->status != 200));  // plain HTTP is not served on the TLS port

  // Stop while an upload is in flight: it either completes and is stored,
  // or was never accepted; never acknowledged and lost.
  const std::string vol = test::ReadFileBytes(f.AVolume());
  int up_status = 0;
  std::thread writer([&] {
    httplib::SSLClient w("127.0.0.1", f.server->port());
    w.enable_server_certificate_verification(false);
    w.set_bearer_token_auth(kWrite);
    httplib::MultipartFormDataItems items = {{"volume", vol, "x.nii.gz", ""}, {"metadata", R"({"key":"inflight"})", "", ""}};
    auto res = w.Post("/v1/studies", items);
    up_status = res ? res->status : 0;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  f.server->Stop();
  writer.join();
  if (up_status == 201) {
    CHECK(f.db->GetRecord("inflight").ok());
  } else {
    CHECK(f.db->GetRecord("inflight").status().IsNotFound());
  }
  auto after = c.Get("/healthz");
  CHECK(!after);  // nothing listens any more
}

TEST_CASE("server: classify JSON lists a disease's detections with their positions, only where there are some") {
  DiseaseProbability nodule, effusion;
  nodule.disease = "Lung nodule";
  nodule.probability = 0.4f;
  nodule.detections = {{"Lung nodule", 0.9f, {-35.5f, 10.f, -140.f}}, {"Lung nodule", 0.2f, {50.f, 0.f, -90.f}}};
  effusion.disease = "Pleural effusion";
  const json j = json::parse(server::ClassifyJson("k1", {nodule, effusion}));
  REQUIRE(j["diseases"].size() == 2);
  const json& d = j["diseases"][0]["detections"];
  REQUIRE(d.size() == 2);
  CHECK(d[0]["score"].get<double>() == doctest::Approx(0.9));
  CHECK(d[0]["position_mm"] == json::array({-35.5, 10.0, -140.0}));
  CHECK(!j["diseases"][1].contains("detections"));
  CHECK(j["score_meaning"].get<std::string>().find("position_mm") != std::string::npos);
}

}  // namespace
}  // namespace ctdb
