#include "api/src/ingest_sources.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "api/src/study_pipeline.h"
#include "embed/ctrate.h"
#include "embed/dicom_io.h"
#include "embed/nifti_io.h"

namespace fs = std::filesystem;

namespace ctdb {
namespace {

std::string Absolute(const std::string& p) {
  std::error_code ec;
  auto a = fs::absolute(p, ec);
  return ec ? p : a.lexically_normal().string();
}

// Remembers how the volume was read, so a re-embed reads it the same way.
VolumeReadOptions ReadOptionsOf(const StudyRecord& r) {
  VolumeReadOptions o;
  auto it = r.extra.find(kExtraRescale);
  if (it != r.extra.end()) {
    std::istringstream in(it->second);
    o.override_rescale = static_cast<bool>(in >> o.rescale_slope >> o.rescale_intercept);
  }
  it = r.extra.find(kExtraSpacing);
  if (it != r.extra.end()) {
    std::istringstream in(it->second);
    if (!(in >> o.spacing_mm[0] >> o.spacing_mm[1] >> o.spacing_mm[2])) o.spacing_mm = {0, 0, 0};
  }
  it = r.extra.find(kExtraSeries);
  if (it != r.extra.end()) o.series_uid = it->second;
  return o;
}

SourceItem FileItem(const std::string& path, StudyRecord record, VolumeReadOptions read) {
  SourceItem item;
  item.source = path;
  record.source_uri = Absolute(path);
  item.record = std::move(record);
  item.load = [path, read](StudyRecord*, embed::Volume* v, Preview*) -> Status {
    CTDB_ASSIGN_OR_RETURN(*v, ReadVolumeFile(path, read));
    return Status::Ok();
  };
  return item;
}

SourceItem CtRateItem(const embed::CtRateStudy& s) {
  StudyRecord r;
  r.key = s.key;
  r.patient_id = s.patient_id;
  r.sex = s.sex;
  r.age_years = s.age_years;
  r.study_date = s.study_date;
  r.manufacturer = s.manufacturer;
  r.findings = s.findings;
  r.impression = s.impression;
  r.labels = s.labels;
  r.extra = s.metadata;
  r.extra["split"] = s.split;
  if (!s.clinical_information.empty()) r.extra["ClinicalInformation_EN"] = s.clinical_information;
  if (!s.technique.empty()) r.extra["Technique_EN"] = s.technique;
  VolumeReadOptions read;
  char buf[128];
  if (s.rescale_slope || s.rescale_intercept) {
    read.override_rescale = true;
    read.rescale_slope = s.rescale_slope.value_or(1);
    read.rescale_intercept = s.rescale_intercept.value_or(0);
    std::snprintf(buf, sizeof(buf), "%.17g %.17g", read.rescale_slope, read.rescale_intercept);
    r.extra[kExtraRescale] = buf;
  }
  if (s.xy_spacing_mm) read.spacing_mm[0] = (*s.xy_spacing_mm)[0], read.spacing_mm[1] = (*s.xy_spacing_mm)[1];
  if (s.z_spacing_mm) read.spacing_mm[2] = *s.z_spacing_mm;
  if (s.xy_spacing_mm || s.z_spacing_mm) {
    std::snprintf(buf, sizeof(buf), "%.17g %.17g %.17g", read.spacing_mm[0], read.spacing_mm[1], read.spacing_mm[2]);
    r.extra[kExtraSpacing] = buf;
  }
  SourceItem item = FileItem(s.path, std::move(r), read);
  if (!s.problem.empty()) item.problem = Status::InvalidArgument(s.problem);
  return item;
}

bool LooksLikeCtRate(const std::string& dir) {
  std::error_code ec;
  return fs::is_directory(fs::path(dir) / "train", ec) || fs::is_directory(fs::path(dir) / "valid", ec);
}

std::vector<std::string> NiftiFilesUnder(const std::string& dir) {
  std::vector<std::string> files;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string name = it->path().filename().string();
    if (!embed::IsNiftiPath(name) || embed::IsOrganMaskName(name)) continue;
    files.push_back(it->path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Result<std::vector<SourceItem>> DiscoverSources(const std::string& path, const IngestOptions& options,
                                                std::string* format) {
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("no such file or folder: " + path);
  std::vector<SourceItem> items;
  VolumeReadOptions read;
  read.series_uid = options.series_uid;
  if (fs::is_regular_file(path, ec) && embed::IsNiftiPath(path)) {
    *format = "nifti";
    StudyRecord r;
    r.key = StripVolumeExtension(fs::path(path).filename().string());
    items.push_back(FileItem(path, std::move(r), read));
  } else if (fs::is_directory(path, ec) && LooksLikeCtRate(path)) {
    *format = "ct-rate";
    CTDB_ASSIGN_OR_RETURN(std::vector<embed::CtRateStudy> studies, embed::ScanCtRate(path));
    for (const auto& s : studies) {
      if (options.split.empty() || s.split == options.split) items.push_back(CtRateItem(s));
    }
  } else if (fs::is_directory(path, ec) && !NiftiFilesUnder(path).empty()) {
    *format = "nifti";
    for (const std::string& f : NiftiFilesUnder(path)) {
      StudyRecord r;
      // The path below the folder names the study, so equal file names in
      // different folders stay distinct.
      r.key = StripVolumeExtension(fs::path(f).lexically_relative(path).generic_string());
      items.push_back(FileItem(f, std::move(r), read));
    }
  } else {
    *format = "dicom";
    CTDB_ASSIGN_OR_RETURN(std::vector<embed::DicomSeriesInfo> series, embed::ScanDicom(path));
    const std::string base = fs::path(path).lexically_normal().filename().empty()
                                 ? fs::path(path).lexically_normal().parent_path().filename().string()
                                 : fs::path(path).lexically_normal().filename().string();
    std::vector<embed::DicomSeriesInfo> chosen;
    for (const auto& s : series) {
      if (options.series_uid.empty() || s.uid == options.series_uid) chosen.push_back(s);
    }
    if (chosen.empty()) return Status::NotFound("no DICOM series " + options.series_uid + " under " + path);
    for (const auto& s : chosen) {
      StudyRecord r;
      r.key = chosen.size() == 1 ? StripVolumeExtension(base) : base + "_" + s.uid;
      r.extra[kExtraSeries] = s.uid;
      if (!s.description.empty()) r.extra["SeriesDescription"] = s.description;
      VolumeReadOptions one = read;
      one.series_uid = s.uid;
      // A single file is read as itself (it may be multi-frame).
      items.push_back(FileItem(path, std::move(r), one));
      if (s.modality != "CT") {
        items.back().problem = Status::InvalidArgument("series " + s.uid + " is " + s.modality + ", not CT");
      }
    }
  }
  if (items.empty()) return Status::InvalidArgument("no CT volumes found under " + path);
  return items;
}

Result<std::vector<SourceItem>> ReembedSources(const Database& db, const Database& target,
                                               const std::string& model_id, ReembedOptions::From from,
                                               uint64_t* skipped) {
  std::vector<SourceItem> items;
  *skipped = 0;
  ListOptions lo;
  lo.limit = 0;
  CTDB_ASSIGN_OR_RETURN(std::vector<std::string> keys, db.ListKeys(lo));
  for (const std::string& key : keys) {
    auto done = target.GetRecord(key);
    if (done.ok() && done->model_id == model_id) {
      ++*skipped;
      continue;
    }
    SourceItem item;
    item.source = key;
    item.record.key = key;
    item.load = [&db, key, from](StudyRecord* record, embed::Volume* volume, Preview* keep) -> Status {
      CTDB_ASSIGN_OR_RETURN(Study s, db.Get(key));
      *record = std::move(s.record);
      record->model_id.clear();
      std::error_code ec;
      const bool source_ok = !record->source_uri.empty() && fs::exists(record->source_uri, ec);
      if (from == ReembedOptions::From::kSources || (from == ReembedOptions::From::kAuto && source_ok)) {
        if (!source_ok) return Status::NotFound("source " + record->source_uri + " is gone; re-embed from previews");
        CTDB_ASSIGN_OR_RETURN(*volume, ReadVolumeFile(record->source_uri, ReadOptionsOf(*record)));
        return Status::Ok();
      }
      if (s.preview.voxels.empty()) return Status::NotFound("study has neither a readable source nor a preview");
      *volume = VolumeFromPreview(s.preview);
      *keep = std::move(s.preview);
      return Status::Ok();
    };
    items.push_back(std::move(item));
  }
  return items;
}

}  // namespace ctdb
