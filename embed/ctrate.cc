#include "embed/ctrate.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "embed/csv.h"

namespace ctdb::embed {

const char* const kCtRateLabels[kNumCtRateLabels] = {
    "Medical material", "Arterial wall calcification", "Cardiomegaly", "Pericardial effusion",
    "Coronary artery wall calcification", "Hiatal hernia", "Lymphadenopathy", "Emphysema", "Atelectasis",
    "Lung nodule", "Lung opacity", "Pulmonary fibrotic sequela", "Pleural effusion", "Mosaic attenuation pattern",
    "Peribronchial thickening", "Consolidation", "Bronchiectasis", "Interlobular septal thickening"};

int CtRateLabelColumn(std::string_view name) {
  for (int c = 0; c < kNumCtRateLabels; ++c) {
    if (name == kCtRateLabels[c]) return c;
  }
  return -1;
}

namespace {

namespace fs = std::filesystem;

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool ParseNumber(const std::string& s, double* out) {
  const char* b = s.c_str();
  char* e = nullptr;
  const double v = std::strtod(b, &e);
  while (e && *e && std::isspace(static_cast<unsigned char>(*e))) ++e;
  if (e == b || (e && *e) || !std::isfinite(v)) return false;
  *out = v;
  return true;
}

// "[0.34, 0.34]", "[0.34 0.34]" or "0.34,0.34" -> two numbers.
bool ParsePair(const std::string& s, std::array<double, 2>* out) {
  std::string t;
  for (char c : s) t += (c == '[' || c == ']' || c == ',') ? ' ' : c;
  const char* p = t.c_str();
  for (int i = 0; i < 2; ++i) {
    char* e = nullptr;
    (*out)[i] = std::strtod(p, &e);
    if (e == p || !std::isfinite((*out)[i])) return false;
    p = e;
  }
  while (*p && std::isspace(static_cast<unsigned char>(*p))) ++p;
  return *p == '\0';
}

// Rows of one CSV kind keyed by VolumeName.
using RowsByVolume = std::map<std::string, std::map<std::string, std::string>>;

Status LoadCsvs(const std::string& root, const std::string& suffix, RowsByVolume* out) {
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const std::string path = it->path().string();
    if (!it->is_regular_file(ec) || !EndsWith(path, suffix)) continue;
    CTDB_ASSIGN_OR_RETURN(CsvTable t, CsvTable::ReadFile(path));
    const int vol = t.Column("VolumeName");
    if (vol < 0) return Status::InvalidArgument("CSV " + path + " has no VolumeName column");
    for (const auto& row : t.rows()) {
      auto& fields = (*out)[row[static_cast<size_t>(vol)]];
      for (size_t c = 0; c < t.header().size(); ++c) fields[t.header()[c]] = row[c];
    }
  }
  if (ec) return Status::IOError("listing " + root + ": " + ec.message());
  return Status::Ok();
}

std::string Get(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? "" : it->second;
}

void ApplyMetadata(const std::map<std::string, std::string>& m, CtRateStudy* s) {
  s->metadata = m;
  auto problem = [&](const std::string& field, const std::string& value) {
    if (s->problem.empty()) s->problem = "metadata " + field + " = '" + value + "' is not valid";
  };
  double v;
  if (const std::string x = Get(m, "RescaleSlope"); !x.empty()) {
    if (ParseNumber(x, &v) && v != 0) s->rescale_slope = v;
    else problem("RescaleSlope", x);
  }
  if (const std::string x = Get(m, "RescaleIntercept"); !x.empty()) {
    if (ParseNumber(x, &v)) s->rescale_intercept = v;
    else problem("RescaleIntercept", x);
  }
  if (const std::string x = Get(m, "ZSpacing"); !x.empty()) {
    if (ParseNumber(x, &v) && v > 0) s->z_spacing_mm = v;
    else problem("ZSpacing", x);
  }
  if (const std::string x = Get(m, "XYSpacing"); !x.empty()) {
    std::array<double, 2> xy;
    if (ParsePair(x, &xy) && xy[0] > 0 && xy[1] > 0) s->xy_spacing_mm = xy;
    else problem("XYSpacing", x);
  }
  const std::string sex = Get(m, "PatientSex");
  if (!sex.empty()) s->sex = (sex[0] == 'F' || sex[0] == 'f') ? Sex::kFemale : (sex[0] == 'M' || sex[0] == 'm') ? Sex::kMale : Sex::kUnknown;
  const std::string age = Get(m, "PatientAge");  // "063Y"
  if (!age.empty()) {
    const int a = std::atoi(age.c_str());
    if (a > 0 && a <= 150) s->age_years = a;
  }
  std::string date;
  for (char c : Get(m, "StudyDate")) {
    if (std::isdigit(static_cast<unsigned char>(c))) date += c;
  }
  if (date.size() == 8) s->study_date = std::atoi(date.c_str());
  s->manufacturer = Get(m, "Manufacturer");
}

}  // namespace

bool IsOrganMaskName(const std::string& name) {
  return IsNiftiPath(name) && EndsWith(StripNiftiExtension(name), "_mask");
}

Result<std::vector<CtRateStudy>> ScanCtRate(const std::string& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return Status::NotFound("no CT-RATE folder " + root);
  RowsByVolume reports, metadata, labels;
  CTDB_RETURN_IF_ERROR(LoadCsvs(root, "_reports.csv", &reports));
  CTDB_RETURN_IF_ERROR(LoadCsvs(root, "_metadata.csv", &metadata));
  CTDB_RETURN_IF_ERROR(LoadCsvs(root, "_predicted_labels.csv", &labels));
  std::vector<CtRateStudy> out;
  for (const char* split : {"train", "valid"}) {
    const fs::path dir = fs::path(root) / split;
    if (!fs::is_directory(dir, ec)) continue;
    for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (!it->is_regular_file(ec) || !IsNiftiPath(name)) continue;
      if (IsOrganMaskName(name)) continue;
      CtRateStudy s;
      s.volume_name = name;
      s.key = StripNiftiExtension(name);
      s.path = it->path().string();
      const fs::path mask = it->path().parent_path() / (s.key + "_mask.nii.gz");
      if (fs::is_regular_file(mask, ec)) s.mask_path = mask.string();
      const fs::path lesions = it->path().parent_path() / (s.key + "_lesion_mask.nii.gz");
      if (fs::is_regular_file(lesions, ec)) s.lesion_mask_path = lesions.string();
      s.split = split;
      // <patient>/<scan>/<file>: the patient folder is two levels up.
      const fs::path rel = fs::relative(it->path(), dir, ec);
      s.patient_id = std::distance(rel.begin(), rel.end()) >= 3 ? rel.begin()->string() : "";
      if (auto r = reports.find(name); r != reports.end()) {
        s.has_report = true;
        s.clinical_information = Get(r->second, "ClinicalInformation_EN");
        s.technique = Get(r->second, "Technique_EN");
        s.findings = Get(r->second, "Findings_EN");
        s.impression = Get(r->second, "Impressions_EN");
      }
      if (auto l = labels.find(name); l != labels.end()) {
        s.has_labels = true;
        for (const char* label : kCtRateLabels) {
          const std::string v = Get(l->second, label);
          double x;
          if (v.empty()) continue;
          if (!ParseNumber(v, &x) || (x != 0 && x != 1)) {
            if (s.problem.empty()) s.problem = "label '" + std::string(label) + "' = '" + v + "' is not 0 or 1";
            continue;
          }
          if (x == 1) s.labels.push_back(label);
        }
      }
      if (auto m = metadata.find(name); m != metadata.end()) ApplyMetadata(m->second, &s);
      out.push_back(std::move(s));
    }
    if (ec) return Status::IOError("listing " + dir.string() + ": " + ec.message());
  }
  if (out.empty()) return Status::NotFound("no volumes under " + root + "/train or " + root + "/valid");
  std::sort(out.begin(), out.end(), [](const CtRateStudy& a, const CtRateStudy& b) { return a.key < b.key; });
  return out;
}

Result<Volume> ReadCtRateVolume(const CtRateStudy& s, const NiftiReadOptions& options) {
  if (!s.problem.empty()) return Status::InvalidArgument("CT-RATE study " + s.key + ": " + s.problem);
  CTDB_ASSIGN_OR_RETURN(Volume v, ReadNifti(s.path, options));
  if (s.rescale_slope || s.rescale_intercept) {
    OverrideRescale(&v, s.rescale_slope.value_or(1), s.rescale_intercept.value_or(0));
  }
  std::array<double, 3> spacing{0, 0, 0};
  if (s.xy_spacing_mm) {
    spacing[0] = (*s.xy_spacing_mm)[0];
    spacing[1] = (*s.xy_spacing_mm)[1];
  }
  if (s.z_spacing_mm) spacing[2] = *s.z_spacing_mm;
  OverrideSpacing(&v, spacing);
  return v;
}

}  // namespace ctdb::embed
