#include "api/src/model_manifest_json.h"

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

namespace ctdb {
namespace {

using json = nlohmann::json;

Status WriteAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    if (!out) return Status::IOError("cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return Status::IOError("cannot write " + path + ": " + ec.message());
  return Status::Ok();
}


// Reads optional typed fields of one JSON object, remembering the first
// error with the field's path.
class Fields {
 public:
  Fields(const json& j, std::string path, Status* error) : j_(j), path_(std::move(path)), error_(error) {
    if (!j_.is_object() && error_->ok()) *error_ = Status::InvalidArgument("manifest " + path_ + ": must be an object");
  }

  bool Has(const char* key) const { return j_.is_object() && j_.contains(key); }
  const json& At(const char* key) const { return j_.at(key); }
  std::string Path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  void Str(const char* key, std::string* out, bool required = false) {
    if (!Check(key, required)) return;
    if (!At(key).is_string()) return Fail(key, "must be a string");
    *out = At(key).get<std::string>();
  }
  void Bool(const char* key, bool* out) {
    if (!Check(key, false)) return;
    if (!At(key).is_boolean()) return Fail(key, "must be true or false");
    *out = At(key).get<bool>();
  }
  template <typename T>
  void Num(const char* key, T* out, bool required = false) {
    if (!Check(key, required)) return;
    const json& v = At(key);
    if (!v.is_number()) return Fail(key, "must be a number");
    if (std::is_integral_v<T> && !v.is_number_integer()) return Fail(key, "must be an integer");
    *out = v.get<T>();
  }
  template <typename T, size_t N>
  void Array(const char* key, std::array<T, N>* out) {
    if (!Check(key, false)) return;
    const json& v = At(key);
    if (!v.is_array() || v.size() != N) return Fail(key, "must be an array of " + std::to_string(N) + " numbers");
    for (size_t i = 0; i < N; ++i) {
      if (!v[i].is_number() || (std::is_integral_v<T> && !v[i].is_number_integer())) {
        return Fail(key, std::is_integral_v<T> ? "must hold integers" : "must hold numbers");
      }
      (*out)[i] = v[i].get<T>();
    }
  }
  // An array of any length of numbers (integers for integral T); `what`
  // says what they are when it is not.
  template <typename T>
  void List(const char* key, std::vector<T>* out, const std::string& what) {
    if (!Check(key, false)) return;
    const json& v = At(key);
    out->clear();
    for (size_t i = 0; v.is_array() && i < v.size(); ++i) {
      if (!v[i].is_number() || (std::is_integral_v<T> && !v[i].is_number_integer())) break;
      out->push_back(v[i].get<T>());
    }
    if (!v.is_array() || out->size() != v.size()) Fail(key, "must be an array of " + what);
  }
  void Fail(const char* key, const std::string& why) {
    if (error_->ok()) *error_ = Status::InvalidArgument("manifest " + Path(key) + ": " + why);
  }

 private:
  bool Check(const char* key, bool required) {
    if (!error_->ok() || !j_.is_object()) return false;
    if (Has(key)) return true;
    if (required) Fail(key, "is required");
    return false;
  }
  const json& j_;
  const std::string path_;
  Status* error_;
};

}  // namespace

Result<embed::ModelManifest> ParseManifest(const std::string& text) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(std::string("manifest is not valid JSON: ") + e.what());
  }
  embed::ModelManifest m;
  Status err;
  Fields top(j, "", &err);
  // Absent in manifests written before the field existed: those are version 1.
  int64_t manifest_version = 1;
  top.Num("manifest_version", &manifest_version);
  if (err.ok() && (manifest_version < 1 || manifest_version > kManifestVersion)) {
    top.Fail("manifest_version", std::to_string(manifest_version) + " is not one this ctdb reads (1 to " +
                                     std::to_string(kManifestVersion) + ")" +
                                     (manifest_version > kManifestVersion ? "; a newer ctdb wrote it" : ""));
  }
  top.Str("format", &m.format, true);
  top.Str("name", &m.name, true);
  top.Str("version", &m.version, true);
  top.Str("description", &m.description);
  top.Num("dimension", &m.dimension, true);
  top.Num("slab_mm", &m.slab_mm);
  if (err.ok() && top.Has("input")) {
    Fields in(top.At("input"), "input", &err);
    in.Str("orientation", &m.orientation);
    in.Array("spacing_mm", &m.preprocess.spacing_mm);
    in.Array("size", &m.preprocess.size);
    std::array<float, 2> window{m.preprocess.hu_min, m.preprocess.hu_max};
    in.Array("hu_window", &window);
    m.preprocess.hu_min = window[0];
    m.preprocess.hu_max = window[1];
    in.Num("pad_value", &m.preprocess.pad_value);
    std::string resample = embed::ResampleName(m.preprocess.resample);
    in.Str("resample", &resample);
    if (const auto r = embed::ParseResample(resample)) {
      m.preprocess.resample = *r;
    } else if (err.ok()) {
      in.Fail("resample", "must be \"linear\" or \"antialias\"");
    }
    if (err.ok() && in.Has("scale")) {
      Fields sc(in.At("scale"), "input.scale", &err);
      sc.Num("offset", &m.preprocess.offset);
      sc.Num("divisor", &m.preprocess.divisor);
    }
  }
  if (err.ok() && top.Has("tokenizer")) {
    Fields tk(top.At("tokenizer"), "tokenizer", &err);
    std::string type = "wordpiece";
    tk.Str("type", &type);
    if (err.ok() && type != "wordpiece") tk.Fail("type", "only \"wordpiece\" (BERT vocab.txt) is supported");
    tk.Str("vocab", &m.vocab);
    tk.Bool("lower_case", &m.tokenizer.lower_case);
    m.tokenizer.strip_accents = m.tokenizer.lower_case;  // BERT's default follows lower_case
    tk.Bool("strip_accents", &m.tokenizer.strip_accents);
    tk.Num("max_tokens", &m.max_tokens);
  }
  if (err.ok() && top.Has("diseases")) {
    const json& d = top.At("diseases");
    if (!d.is_array()) {
      top.Fail("diseases", "must be an array of names");
    } else {
      for (const auto& e : d) {
        if (!e.is_string()) {
          top.Fail("diseases", "must be an array of names");
          break;
        }
        m.diseases.push_back(e.get<std::string>());
      }
    }
  }
  if (err.ok() && top.Has("files")) {
    Fields f(top.At("files"), "files", &err);
    f.Str("weights", &m.weights);
    f.Str("image_module", &m.image_module);
    f.Str("text_module", &m.text_module);
  }
  if (err.ok() && top.Has("architecture")) {
    auto& a = m.architecture;
    Fields ar(top.At("architecture"), "architecture", &err);
    if (ar.Has("stem")) {
      const json& st = ar.At("stem");
      if (!st.is_array()) {
        ar.Fail("stem", "must be an array of stages");
      } else {
        a.stem.clear();
        for (size_t i = 0; i < st.size() && err.ok(); ++i) {
          embed::NativeArchitecture::Stage stage;
          Fields sf(st[i], "architecture.stem[" + std::to_string(i) + "]", &err);
          sf.Num("channels", &stage.channels, true);
          sf.Array("kernel", &stage.kernel);
          sf.Array("stride", &stage.stride);
          a.stem.push_back(stage);
        }
      }
    }
    ar.Str("stem_norm", &a.stem_norm);
    ar.Bool("stem_pool", &a.stem_pool);
    if (err.ok() && ar.Has("detect")) {
      Fields dt(ar.At("detect"), "architecture.detect", &err);
      dt.Num("stage", &a.detect.stage, true);
      dt.Num("channels", &a.detect.channels);
      dt.Num("sharpness", &a.detect.sharpness);
    }
    ar.List("peaks", &a.peaks, "stem stage numbers");
    ar.Bool("readout", &a.readout);
    ar.List("blobs", &a.blobs, "scales in mm");
    if (err.ok() && ar.Has("candidates")) {
      Fields cd(ar.At("candidates"), "architecture.candidates", &err);
      cd.Num("count", &a.candidates.count, true);
      cd.Num("channels", &a.candidates.channels);
      cd.Num("patch_mm", &a.candidates.patch_mm);
    }
    if (err.ok() && ar.Has("windows")) {
      const json& w = ar.At("windows");
      a.windows.clear();
      for (size_t i = 0; w.is_array() && i < w.size(); ++i) {
        if (!w[i].is_array() || w[i].size() != 2 || !w[i][0].is_number() || !w[i][1].is_number()) {
          a.windows.clear();
          break;
        }
        a.windows.push_back({w[i][0].get<float>(), w[i][1].get<float>()});
      }
      if (!w.is_array() || a.windows.size() != w.size()) ar.Fail("windows", "must be an array of [lo, hi] HU pairs");
    }
    ar.Num("width", &a.width);
    ar.Num("layers", &a.layers);
    ar.Num("heads", &a.heads);
    ar.Num("ffn", &a.ffn);
    if (err.ok() && ar.Has("text")) {
      Fields tx(ar.At("text"), "architecture.text", &err);
      tx.Num("width", &a.text_width);
      tx.Num("layers", &a.text_layers);
      tx.Num("heads", &a.text_heads);
      tx.Num("ffn", &a.text_ffn);
    }
  }
  if (!err.ok()) return err;
  return m;
}

std::string ManifestToJson(const embed::ModelManifest& m) {
  using ojson = nlohmann::ordered_json;  // keeps the documented field order
  const auto& p = m.preprocess;
  ojson j = {
      {"manifest_version", kManifestVersion},
      {"format", m.format},
      {"name", m.name},
      {"version", m.version},
      {"description", m.description},
      {"dimension", m.dimension},
      {"input",
       {{"orientation", m.orientation},
        {"spacing_mm", p.spacing_mm},
        {"size", p.size},
        {"hu_window", {p.hu_min, p.hu_max}},
        {"scale", {{"offset", p.offset}, {"divisor", p.divisor}}},
        {"pad_value", p.pad_value},
        {"resample", embed::ResampleName(p.resample)}}},
      {"tokenizer",
       {{"type", "wordpiece"},
        {"vocab", m.vocab},
        {"lower_case", m.tokenizer.lower_case},
        {"strip_accents", m.tokenizer.strip_accents},
        {"max_tokens", m.max_tokens}}},
      {"slab_mm", m.slab_mm},
      {"diseases", m.diseases},
  };
  if (m.format == "native") {
    const auto& a = m.architecture;
    ojson stem = ojson::array();
    for (const auto& s : a.stem) stem.push_back({{"channels", s.channels}, {"kernel", s.kernel}, {"stride", s.stride}});
    j["files"] = {{"weights", m.weights}};
    j["architecture"] = {{"stem", stem},
                         {"stem_norm", a.stem_norm},
                         {"stem_pool", a.stem_pool},
                         {"windows", a.windows},
                         {"width", a.width},
                         {"layers", a.layers},
                         {"heads", a.heads},
                         {"ffn", a.ffn},
                         {"text",
                          {{"width", a.text_width},
                           {"layers", a.text_layers},
                           {"heads", a.text_heads},
                           {"ffn", a.text_ffn}}}};
    // Absent = no detection head: manifests of models without one read as before.
    if (a.detect.stage > 0) {
      j["architecture"]["detect"] = {
          {"stage", a.detect.stage}, {"channels", a.detect.channels}, {"sharpness", a.detect.sharpness}};
    }
    if (!a.peaks.empty()) j["architecture"]["peaks"] = a.peaks;  // absent = none, as before
    if (a.readout) j["architecture"]["readout"] = true;            // likewise
    if (!a.blobs.empty()) j["architecture"]["blobs"] = a.blobs;     // likewise
    if (a.candidates.count > 0) {                                    // likewise
      j["architecture"]["candidates"] = {{"count", a.candidates.count},
                                         {"channels", a.candidates.channels},
                                         {"patch_mm", a.candidates.patch_mm}};
    }
  } else {
    j["files"] = {{"image_module", m.image_module}, {"text_module", m.text_module}};
  }
  return j.dump(2) + "\n";
}

Result<embed::ModelManifest> ReadManifest(const std::string& dir) {
  if (!std::filesystem::is_directory(dir)) return Status::NotFound("model directory not found: " + dir);
  const std::string path = (std::filesystem::path(dir) / "manifest.json").string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no manifest.json in model directory " + dir);
  std::stringstream ss;
  ss << in.rdbuf();
  auto m = ParseManifest(ss.str());
  if (!m.ok()) return m.status().WithContext(path);
  return m;
}

Status WriteManifest(const std::string& dir, const embed::ModelManifest& manifest) {
  return WriteAtomically((std::filesystem::path(dir) / "manifest.json").string(), ManifestToJson(manifest));
}

Result<std::vector<embed::DiseasePrompts>> ReadDiseaseCatalog(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "diseases.json").string();
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("no diseases.json in " + dir);
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::parse_error& e) {
    return Status::InvalidArgument(path + " is not valid JSON: " + e.what());
  }
  if (!j.is_array()) return Status::InvalidArgument(path + ": must be an array of diseases");
  std::vector<embed::DiseasePrompts> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const std::string where = path + " entry " + std::to_string(i);
    const json& e = j[i];
    if (!e.is_object() || !e.contains("name") || !e["name"].is_string() || e["name"].get<std::string>().empty()) {
      return Status::InvalidArgument(where + ": needs a non-empty \"name\"");
    }
    embed::DiseasePrompts d;
    d.name = e["name"].get<std::string>();
    for (auto [key, dst] : {std::pair{"positive", &d.positive}, std::pair{"negative", &d.negative}}) {
      if (!e.contains(key) || !e[key].is_array() || e[key].empty()) {
        return Status::InvalidArgument(where + " (" + d.name + "): \"" + key + "\" must be a non-empty array of phrases");
      }
      for (const auto& p : e[key]) {
        if (!p.is_string() || p.get<std::string>().empty()) {
          return Status::InvalidArgument(where + " (" + d.name + "): phrases must be non-empty strings");
        }
        dst->push_back(p.get<std::string>());
      }
    }
    if (e.contains("calibration")) {  // optional: {"scale", "bias", "studies"}
      const json& c = e["calibration"];
      if (!c.is_object() || !c.contains("scale") || !c["scale"].is_number() || !c.contains("bias") ||
          !c["bias"].is_number() || !c.contains("studies") || !c["studies"].is_number_unsigned() ||
          c["studies"].get<uint64_t>() == 0 || !std::isfinite(c["scale"].get<double>()) ||
          !std::isfinite(c["bias"].get<double>())) {
        return Status::InvalidArgument(where + " (" + d.name +
                                       "): \"calibration\" must be {\"scale\": number, \"bias\": number, "
                                       "\"studies\": positive integer}");
      }
      d.calibration_scale = c["scale"].get<double>();
      d.calibration_bias = c["bias"].get<double>();
      d.calibration_studies = c["studies"].get<uint64_t>();
    }
    for (const auto& prev : out) {
      if (prev.name == d.name) return Status::InvalidArgument(where + ": disease \"" + d.name + "\" appears twice");
    }
    out.push_back(std::move(d));
  }
  return out;
}

Status WriteDiseaseCatalog(const std::string& dir, const std::vector<embed::DiseasePrompts>& catalog) {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& d : catalog) {
    nlohmann::ordered_json e = {{"name", d.name}, {"positive", d.positive}, {"negative", d.negative}};
    if (d.calibration_studies > 0) {
      e["calibration"] = {{"scale", d.calibration_scale}, {"bias", d.calibration_bias}, {"studies", d.calibration_studies}};
    }
    j.push_back(std::move(e));
  }
  return WriteAtomically((std::filesystem::path(dir) / "diseases.json").string(), j.dump(2) + "\n");
}

}  // namespace ctdb
