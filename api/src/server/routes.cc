// The /v1 API: queries, studies (get, delete, upload, thumbnails), diseases.
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "api/src/ascii.h"
#include "api/src/server/json_codec.h"
#include "api/src/server/server_impl.h"
#include "api/src/server/upload.h"
#include "embed/preview.h"

namespace ctdb::server {
namespace {

// JSON field readers: a wrong type is InvalidArgument naming the field.
Result<std::string> Str(const json& j, const char* field, bool required, const std::string& fallback = "") {
  if (!j.contains(field) || j[field].is_null()) {
    if (required) return Status::InvalidArgument(std::string("missing field '") + field + "'");
    return fallback;
  }
  if (!j[field].is_string()) return JsonError(field, "a string");
  return j[field].get<std::string>();
}

Result<size_t> Size(const json& j, const char* field, size_t fallback, size_t lo, size_t hi) {
  if (!j.contains(field) || j[field].is_null()) return fallback;
  if (!j[field].is_number_integer()) return JsonError(field, "an integer");
  const int64_t v = j[field].get<int64_t>();
  if (v < static_cast<int64_t>(lo) || v > static_cast<int64_t>(hi)) {
    return Status::InvalidArgument(std::string("field '") + field + "' must be in [" + std::to_string(lo) + ", " +
                                   std::to_string(hi) + "]");
  }
  return static_cast<size_t>(v);
}

Result<std::vector<std::string>> StrList(const json& j, const char* field, bool required) {
  std::vector<std::string> out;
  if (!j.contains(field) || j[field].is_null()) {
    if (required) return Status::InvalidArgument(std::string("missing field '") + field + "'");
    return out;
  }
  if (!j[field].is_array()) return JsonError(field, "an array of strings");
  for (const auto& x : j[field]) {
    if (!x.is_string()) return JsonError(field, "an array of strings");
    out.push_back(x.get<std::string>());
  }
  return out;
}

Result<QueryOptions> ListOptionsOf(const json& j) {
  QueryOptions o;
  CTDB_ASSIGN_OR_RETURN(o.k, Size(j, "k", 10, 1, 1000));
  CTDB_ASSIGN_OR_RETURN(o.offset, Size(j, "offset", 0, 0, 10000));
  CTDB_ASSIGN_OR_RETURN(std::string filter, Str(j, "filter", false));
  CTDB_ASSIGN_OR_RETURN(o.filter, ParseFilter(filter));
  if (j.contains("exact")) {
    if (!j["exact"].is_boolean()) return JsonError("exact", "a boolean");
    o.exact = j["exact"].get<bool>();
  }
  return o;
}

// The study fields a client may send with an upload.
Result<StudyRecord> RecordOf(const json& m) {
  StudyRecord r;
  CTDB_ASSIGN_OR_RETURN(r.key, Str(m, "key", false));
  CTDB_ASSIGN_OR_RETURN(r.patient_id, Str(m, "patient_id", false));
  CTDB_ASSIGN_OR_RETURN(std::string sex, Str(m, "sex", false));
  if (sex == "F" || sex == "f") r.sex = Sex::kFemale;
  else if (sex == "M" || sex == "m") r.sex = Sex::kMale;
  else if (!sex.empty()) return Status::InvalidArgument("field 'sex' must be F or M");
  CTDB_ASSIGN_OR_RETURN(size_t age, Size(m, "age_years", 0, 0, 150));
  r.age_years = m.contains("age_years") ? static_cast<int>(age) : -1;
  CTDB_ASSIGN_OR_RETURN(size_t date, Size(m, "study_date", 0, 0, 99991231));
  r.study_date = static_cast<int>(date);
  CTDB_ASSIGN_OR_RETURN(r.manufacturer, Str(m, "manufacturer", false));
  CTDB_ASSIGN_OR_RETURN(r.findings, Str(m, "findings", false));
  CTDB_ASSIGN_OR_RETURN(r.impression, Str(m, "impression", false));
  CTDB_ASSIGN_OR_RETURN(r.labels, StrList(m, "labels", false));
  return r;
}

// File name for an uploaded volume, from its name and first bytes.
Result<std::string> UploadName(const std::string& filename, const std::string& content) {
  const std::string f = AsciiLower(filename);
  auto ends = [&](const char* s) { return f.size() >= std::strlen(s) && f.compare(f.size() - std::strlen(s), std::string::npos, s) == 0; };
  const bool gz = content.size() > 2 && static_cast<unsigned char>(content[0]) == 0x1f && static_cast<unsigned char>(content[1]) == 0x8b;
  const bool zip = content.size() > 4 && content.compare(0, 4, "PK\x03\x04") == 0;
  if (zip || ends(".zip")) return std::string("series.zip");
  if (gz || ends(".nii.gz")) return std::string("volume.nii.gz");
  if (ends(".nii")) return std::string("volume.nii");
  if (content.size() > 132 && content.compare(128, 4, "DICM") == 0) return std::string("image.dcm");
  if (content.size() >= 348) return std::string("volume.nii");  // NIfTI-1 header size; the reader checks
  return Status::InvalidArgument("upload is not a NIfTI file, a DICOM file or a zip of a DICOM series");
}

}  // namespace

Result<std::string> ServerImpl::SaveUpload(const httplib::MultipartFormData& file, const ScratchDir& dir) const {
  CTDB_ASSIGN_OR_RETURN(std::string name, UploadName(file.filename, file.content));
  if (name == "series.zip") {
    const std::string path = dir.path() + "/series";
    std::filesystem::create_directory(path);
    CTDB_RETURN_IF_ERROR(ExtractZip(file.content, path, 4 * options_.max_body_bytes).status());
    return path;
  }
  const std::string path = dir.path() + "/" + name;
  std::ofstream out(path, std::ios::binary);
  out << file.content;
  if (!out.flush()) return Status::IOError("cannot write the upload to " + dir.path());
  return path;
}

Result<json> ParseJsonBody(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded()) return Status::InvalidArgument("request body is not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument("request body must be a JSON object");
  return j;
}

Status JsonError(const std::string& field, const std::string& want) {
  return Status::InvalidArgument("field '" + field + "' must be " + want);
}

void ServerImpl::AddQueryRoutes() {
  Route("POST", "/v1/search/text", "/v1/search/text", Scope::kRead, [this](const httplib::Request& req, Reply* r) {
    CTDB_ASSIGN_OR_RETURN(json j, ParseJsonBody(req));
    CTDB_ASSIGN_OR_RETURN(std::string text, Str(j, "text", true));
    CTDB_ASSIGN_OR_RETURN(QueryOptions o, ListOptionsOf(j));
    CTDB_ASSIGN_OR_RETURN(QueryResult res, engine_->SearchText(text, o));
    r->body = QueryResultJson(res, o.offset);
    return Status::Ok();
  });
  Route("POST", "/v1/search/reports", "/v1/search/reports", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(json j, ParseJsonBody(req));
          CTDB_ASSIGN_OR_RETURN(std::string text, Str(j, "text", true));
          CTDB_ASSIGN_OR_RETURN(QueryOptions o, ListOptionsOf(j));
          CTDB_ASSIGN_OR_RETURN(QueryResult res, engine_->SearchReports(text, o));
          r->body = QueryResultJson(res, o.offset);
          return Status::Ok();
        });
  Route("POST", "/v1/search/disease", "/v1/search/disease", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(json j, ParseJsonBody(req));
          CTDB_ASSIGN_OR_RETURN(std::string disease, Str(j, "disease", true));
          CTDB_ASSIGN_OR_RETURN(QueryOptions o, ListOptionsOf(j));
          double w = 0;
          if (j.contains("exemplar_weight")) {
            if (!j["exemplar_weight"].is_number()) return JsonError("exemplar_weight", "a number in [0, 1]");
            w = j["exemplar_weight"].get<double>();
          }
          CTDB_ASSIGN_OR_RETURN(QueryResult res, engine_->SearchDisease(disease, o, w));
          r->body = QueryResultJson(res, o.offset);
          return Status::Ok();
        });
  // By stored key or confined server path (JSON), or by an uploaded volume
  // (multipart: "volume" file, optional "options" JSON part).
  Route("POST", "/v1/search/image", "/v1/search/image", Scope::kRead, [this](const httplib::Request& req, Reply* r) {
    json j = json::object();
    if (req.is_multipart_form_data()) {
      if (req.has_file("options")) {
        j = json::parse(req.get_file_value("options").content, nullptr, false);
        if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument("part 'options' must be a JSON object");
      }
      if (!req.has_file("volume")) return Status::InvalidArgument("multipart search needs a 'volume' file part");
    } else {
      CTDB_ASSIGN_OR_RETURN(j, ParseJsonBody(req));
    }
    CTDB_ASSIGN_OR_RETURN(QueryOptions o, ListOptionsOf(j));
    CTDB_ASSIGN_OR_RETURN(std::string disease, Str(j, "disease", false));
    Result<QueryResult> res = Status::Internal("no query");
    if (req.is_multipart_form_data()) {
      CTDB_ASSIGN_OR_RETURN(ScratchDir dir, ScratchDir::Create(options_.temp_dir));
      CTDB_ASSIGN_OR_RETURN(std::string path, SaveUpload(req.get_file_value("volume"), dir));
      res = engine_->SearchImageByFile(path, o, disease);
    } else {
      CTDB_ASSIGN_OR_RETURN(std::string key, Str(j, "key", false));
      CTDB_ASSIGN_OR_RETURN(std::string rel, Str(j, "path", false));
      if (key.empty() == rel.empty()) return Status::InvalidArgument("give exactly one of 'key' and 'path'");
      if (!key.empty()) {
        res = engine_->SearchImageByKey(key, o, disease);
      } else {
        CTDB_ASSIGN_OR_RETURN(std::string path, ConfinePath(options_.files_root, rel));
        res = engine_->SearchImageByFile(path, o, disease);
      }
    }
    CTDB_RETURN_IF_ERROR(res.status());
    r->body = QueryResultJson(*res, o.offset);
    return Status::Ok();
  });
  Route("GET", R"(/v1/studies/([^/]+)/classify)", "/v1/studies/{key}/classify", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          const std::string key = req.matches[1];
          CTDB_ASSIGN_OR_RETURN(auto ps, engine_->Classify(key));
          r->body = ClassifyJson(key, ps);
          return Status::Ok();
        });
  Route("POST", R"(/v1/studies/([^/]+)/localize)", "/v1/studies/{key}/localize", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(json j, ParseJsonBody(req));
          CTDB_ASSIGN_OR_RETURN(std::string text, Str(j, "text", true));
          CTDB_ASSIGN_OR_RETURN(Localization l, engine_->Localize(req.matches[1], text));
          r->body = LocalizationJson(l);
          return Status::Ok();
        });
  Route("GET", R"(/v1/studies/([^/]+)/report-draft)", "/v1/studies/{key}/report-draft", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          const std::string key = req.matches[1];
          CTDB_ASSIGN_OR_RETURN(ReportDraft d, engine_->DraftReport(key));
          r->body = ReportDraftJson(key, d);
          return Status::Ok();
        });
  Route("GET", "/v1/diseases", "/v1/diseases", Scope::kRead, [this](const httplib::Request&, Reply* r) {
    CTDB_ASSIGN_OR_RETURN(auto c, engine_->Diseases());
    r->body = DiseasesJson(c);
    return Status::Ok();
  });
  Route("PUT", R"(/v1/diseases/([^/]+))", "/v1/diseases/{name}", Scope::kWrite,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(json j, ParseJsonBody(req));
          CTDB_ASSIGN_OR_RETURN(auto pos, StrList(j, "positive", true));
          CTDB_ASSIGN_OR_RETURN(auto neg, StrList(j, "negative", false));
          CTDB_ASSIGN_OR_RETURN(DiseaseEntry e, engine_->SetDisease(req.matches[1], pos, neg));
          r->body = DiseaseJson(e);
          return Status::Ok();
        });
  Route("DELETE", R"(/v1/diseases/([^/]+))", "/v1/diseases/{name}", Scope::kWrite,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_RETURN_IF_ERROR(engine_->DeleteDisease(req.matches[1].str()));
          r->body = json{{"deleted", req.matches[1].str()}}.dump();
          return Status::Ok();
        });
  Route("POST", "/v1/diseases/calibration", "/v1/diseases/calibration", Scope::kWrite,
        [this](const httplib::Request&, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(auto c, engine_->CalibrateDiseases());
          r->body = DiseasesJson(c);
          return Status::Ok();
        });
  Route("POST", "/v1/diseases/exemplars", "/v1/diseases/exemplars", Scope::kWrite,
        [this](const httplib::Request&, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(uint64_t n, engine_->ComputeExemplars());
          r->body = json{{"studies", n}}.dump();
          return Status::Ok();
        });
}

void ServerImpl::AddStudyRoutes() {
  Route("GET", "/v1/studies", "/v1/studies", Scope::kRead, [this](const httplib::Request& req, Reply* r) {
    ListOptions lo;
    lo.prefix = req.get_param_value("prefix");
    lo.start_after = req.get_param_value("after");
    lo.limit = 100;
    if (req.has_param("limit")) {
      const std::string v = req.get_param_value("limit");
      char* end = nullptr;
      const long n = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || n < 1 || n > 10000) {
        return Status::InvalidArgument("query parameter 'limit' must be an integer in [1, 10000]");
      }
      lo.limit = static_cast<size_t>(n);
    }
    CTDB_ASSIGN_OR_RETURN(auto keys, db_->ListKeys(lo));
    r->body = json{{"keys", keys}, {"next_after", keys.size() == lo.limit ? keys.back() : ""}}.dump();
    return Status::Ok();
  });
  Route("GET", R"(/v1/studies/([^/]+))", "/v1/studies/{key}", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(StudyRecord rec, db_->GetRecord(req.matches[1].str()));
          r->body = RecordJson(rec);
          return Status::Ok();
        });
  Route("DELETE", R"(/v1/studies/([^/]+))", "/v1/studies/{key}", Scope::kWrite,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_RETURN_IF_ERROR(db_->Delete(req.matches[1].str()));
          r->body = json{{"deleted", req.matches[1].str()}}.dump();
          return Status::Ok();
        });
  Route("GET", R"(/v1/studies/([^/]+)/slice.png)", "/v1/studies/{key}/slice.png", Scope::kRead,
        [this](const httplib::Request& req, Reply* r) {
          CTDB_ASSIGN_OR_RETURN(Preview p, db_->GetPreview(req.matches[1].str()));
          double z = p.z0_mm + p.spacing_mm[2] * static_cast<double>(p.shape[2] - 1) / 2;  // middle by default
          if (req.has_param("z")) {
            const std::string v = req.get_param_value("z");
            char* end = nullptr;
            z = std::strtod(v.c_str(), &end);
            if (v.empty() || *end != '\0' || !std::isfinite(z)) {
              return Status::InvalidArgument("query parameter 'z' must be a number (mm)");
            }
          }
          const std::string wname = req.has_param("window") ? req.get_param_value("window") : "lung";
          CTDB_ASSIGN_OR_RETURN(embed::Window w, embed::NamedWindow(wname));
          CTDB_ASSIGN_OR_RETURN(r->body, embed::AxialSlicePng(p, z, w));
          r->content_type = "image/png";
          return Status::Ok();
        });
  // Ingest one study: multipart ("volume" file: NIfTI, DICOM file or zip of
  // a DICOM series; "metadata" JSON part) or JSON {"path", "metadata"} with
  // the path confined to the files root.
  Route("POST", "/v1/studies", "/v1/studies", Scope::kWrite, [this](const httplib::Request& req, Reply* r) {
    if (!model_) return Status::FailedPrecondition("this server has no model: it cannot embed uploads");
    json meta = json::object();
    std::string path;
    std::optional<ScratchDir> dir;
    bool replace = false;
    if (req.is_multipart_form_data()) {
      if (!req.has_file("volume")) return Status::InvalidArgument("multipart upload needs a 'volume' file part");
      if (req.has_file("metadata")) {
        meta = json::parse(req.get_file_value("metadata").content, nullptr, false);
        if (meta.is_discarded() || !meta.is_object()) {
          return Status::InvalidArgument("part 'metadata' must be a JSON object");
        }
      }
      replace = req.has_file("replace") && req.get_file_value("replace").content == "true";
      const auto file = req.get_file_value("volume");
      CTDB_ASSIGN_OR_RETURN(ScratchDir d, ScratchDir::Create(options_.temp_dir));
      dir.emplace(std::move(d));
      CTDB_ASSIGN_OR_RETURN(path, SaveUpload(file, *dir));
      if (!meta.contains("key") && !file.filename.empty()) {
        std::string stem = std::filesystem::path(file.filename).filename().string();
        for (const char* ext : {".nii.gz", ".nii", ".zip", ".dcm"}) {
          if (stem.size() > std::strlen(ext) && AsciiLower(stem).compare(stem.size() - std::strlen(ext), std::string::npos, ext) == 0) {
            stem.resize(stem.size() - std::strlen(ext));
            break;
          }
        }
        meta["key"] = stem;
      }
    } else {
      CTDB_ASSIGN_OR_RETURN(json j, ParseJsonBody(req));
      CTDB_ASSIGN_OR_RETURN(std::string rel, Str(j, "path", true));
      CTDB_ASSIGN_OR_RETURN(path, ConfinePath(options_.files_root, rel));
      if (j.contains("metadata")) {
        if (!j["metadata"].is_object()) return JsonError("metadata", "an object");
        meta = j["metadata"];
      }
      if (j.contains("replace")) {
        if (!j["replace"].is_boolean()) return JsonError("replace", "a boolean");
        replace = j["replace"].get<bool>();
      }
    }
    CTDB_ASSIGN_OR_RETURN(StudyRecord rec, RecordOf(meta));
    if (rec.key.empty()) return Status::InvalidArgument("the study needs a 'key' (metadata.key)");
    if (!replace && db_->GetRecord(rec.key).ok()) {
      return Status::AlreadyExists("study " + rec.key + " exists; send replace=true to overwrite it");
    }
    CTDB_ASSIGN_OR_RETURN(Study study, model_->EmbedStudyFile(path, rec));
    study.record.source_uri = "upload:" + rec.key;  // never a scratch path
    CTDB_RETURN_IF_ERROR(db_->Put(study));
    r->status = 201;
    r->body = RecordJson(study.record);
    return Status::Ok();
  });
}

}  // namespace ctdb::server
