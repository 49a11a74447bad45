// ctdb inspect: what a CT file or folder holds, before ingesting it.
#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "embed/ctrate.h"
#include "embed/dicom_io.h"
#include "embed/nifti_io.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"

namespace ctdb::cli {
namespace {

const char kHelp[] =
    "usage: ctdb inspect PATH [--series UID] [--json]\n"
    "PATH is a NIfTI file (.nii, .nii.gz), a DICOM file, a folder of DICOM files,\n"
    "or a CT-RATE root ({train,valid}/... with its CSVs). Prints shape, spacing (mm),\n"
    "orientation, HU range, rescale slope/intercept and the DICOM series found.\n"
    "  --series UID   the DICOM series to read when the folder holds several\n"
    "  --json         machine-readable output\n";

void PrintVolume(const embed::Volume& v, const char* format, const std::vector<embed::DicomSeriesInfo>& series,
                 bool json) {
  float lo = 0, hi = 0;
  double sum = 0;
  if (!v.hu.empty()) {
    const auto [mn, mx] = std::minmax_element(v.hu.begin(), v.hu.end());
    lo = *mn;
    hi = *mx;
    for (float x : v.hu) sum += x;
  }
  const double mean = v.hu.empty() ? 0 : sum / static_cast<double>(v.hu.size());
  const std::string orient = embed::OrientationCode(v.ijk_to_ras);
  if (json) {
    std::printf("{\"source\":%s,\"format\":\"%s\",\"shape\":[%lld,%lld,%lld],\"spacing_mm\":[%g,%g,%g],"
                "\"orientation\":\"%s\",\"hu\":{\"min\":%g,\"max\":%g,\"mean\":%.2f},\"rescale\":{\"slope\":%g,"
                "\"intercept\":%g},\"stored_type\":%s,\"series\":[",
                JsonEscape(v.source).c_str(), format, (long long)v.shape[0], (long long)v.shape[1],
                (long long)v.shape[2], v.spacing_mm[0], v.spacing_mm[1], v.spacing_mm[2], orient.c_str(), lo, hi,
                mean, v.rescale_slope, v.rescale_intercept, JsonEscape(v.stored_type).c_str());
    for (size_t i = 0; i < series.size(); ++i) {
      std::printf("%s{\"uid\":%s,\"modality\":%s,\"files\":%zu}", i ? "," : "", JsonEscape(series[i].uid).c_str(),
                  JsonEscape(series[i].modality).c_str(), series[i].files.size());
    }
    std::printf("]}\n");
    return;
  }
  std::printf("source:        %s (%s)\nshape:         %lld x %lld x %lld voxels\n"
              "spacing:       %.4g x %.4g x %.4g mm\norientation:   %s (voxel axes i, j, k)\n"
              "HU:            min %.0f, max %.0f, mean %.1f\nrescale:       HU = %g * stored + %g (%s)\n",
              v.source.c_str(), format, (long long)v.shape[0], (long long)v.shape[1], (long long)v.shape[2],
              v.spacing_mm[0], v.spacing_mm[1], v.spacing_mm[2], orient.c_str(), lo, hi, mean, v.rescale_slope,
              v.rescale_intercept, v.stored_type.c_str());
  if (v.rescale_slope == 1 && v.rescale_intercept == 0 && lo > -200 && hi > 1000) {
    std::printf("note:          no air (nothing near -1000) and no rescale in the header: these look like raw stored\n"
                "               values (HU + 1024?). CT-RATE keeps RescaleIntercept in its metadata CSV;\n"
                "               inspect the dataset root, or ingest it as CT-RATE, to apply it.\n");
  }
  for (const auto& s : series) {
    std::printf("series:        %s  %s, %zu files%s%s\n", s.uid.c_str(), s.modality.c_str(), s.files.size(),
                s.description.empty() ? "" : ", ", s.description.c_str());
  }
}

int InspectCtRate(const std::string& root, bool json) {
  auto studies = embed::ScanCtRate(root);
  if (!studies.ok()) return Fail(studies.status());
  size_t reports = 0, labels = 0, problems = 0;
  for (const auto& s : *studies) {
    reports += s.has_report;
    labels += s.has_labels;
    problems += !s.problem.empty();
  }
  if (json) {
    std::printf("{\"source\":%s,\"format\":\"ct-rate\",\"volumes\":%zu,\"with_report\":%zu,\"with_labels\":%zu,"
                "\"problems\":[",
                JsonEscape(root).c_str(), studies->size(), reports, labels);
    bool first = true;
    for (const auto& s : *studies) {
      if (s.problem.empty()) continue;
      std::printf("%s{\"key\":%s,\"problem\":%s}", first ? "" : ",", JsonEscape(s.key).c_str(),
                  JsonEscape(s.problem).c_str());
      first = false;
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("CT-RATE layout at %s\nvolumes:       %zu (%zu with a report, %zu with labels)\n", root.c_str(),
              studies->size(), reports, labels);
  for (const auto& s : *studies) {
    if (!s.problem.empty()) std::printf("problem:       %s: %s\n", s.key.c_str(), s.problem.c_str());
  }
  if (problems == 0) std::printf("problems:      none\n");
  return 0;
}

}  // namespace

int CmdInspect(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"series", "json", "help"}, kHelp, &exit)) return exit;
  if (args.positional().size() != 1) return UsageError("inspect takes exactly one PATH", kHelp);
  const std::string path = args.positional()[0];
  const bool json = args.Has("json");
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Fail(Status::NotFound("no such file or folder " + path));
  if (fs::is_regular_file(path, ec) && embed::IsNiftiPath(path)) {
    auto v = embed::ReadNifti(path);
    if (!v.ok()) return Fail(v.status());
    PrintVolume(*v, "nifti", {}, json);
    return 0;
  }
  if (fs::is_directory(path, ec) && (fs::is_directory(fs::path(path) / "train", ec) ||
                                     fs::is_directory(fs::path(path) / "valid", ec))) {
    return InspectCtRate(path, json);
  }
  auto series = embed::ScanDicom(path);
  if (!series.ok()) return Fail(series.status());
  embed::DicomReadOptions opt;
  opt.series_uid = args.Get("series");
  auto v = fs::is_regular_file(path, ec) ? embed::ReadDicomFile(path, opt) : embed::ReadDicomSeries(path, opt);
  if (!v.ok()) return Fail(v.status());
  PrintVolume(*v, "dicom", *series, json);
  return 0;
}

}  // namespace ctdb::cli
