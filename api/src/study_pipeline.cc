#include "api/src/study_pipeline.h"

#include <cstdio>
#include <filesystem>

#include "embed/dicom_io.h"
#include "embed/nifti_io.h"
#include "embed/preview.h"
#include "embed/report_parser.h"

namespace ctdb {

std::string StripVolumeExtension(std::string name) {
  const std::string dcm = ".dcm";
  if (name.size() > dcm.size() && name.compare(name.size() - dcm.size(), dcm.size(), dcm) == 0) {
    return name.substr(0, name.size() - dcm.size());
  }
  return embed::StripNiftiExtension(name);
}

Result<embed::Volume> ReadVolumeFile(const std::string& path, const VolumeReadOptions& read) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return Status::NotFound("no such file or folder: " + path);
  Result<embed::Volume> v = Status::Internal("unread");
  if (embed::IsNiftiPath(path)) {
    v = embed::ReadNifti(path);
  } else {
    embed::DicomReadOptions o;
    o.series_uid = read.series_uid;
    v = std::filesystem::is_directory(path, ec) ? embed::ReadDicomSeries(path, o) : embed::ReadDicomFile(path, o);
  }
  if (!v.ok()) return v;
  if (read.override_rescale) {
    if (read.rescale_slope == 0) return Status::InvalidArgument("rescale slope override must not be 0");
    embed::OverrideRescale(&*v, read.rescale_slope, read.rescale_intercept);
  }
  for (double s : read.spacing_mm) {
    if (s < 0) return Status::InvalidArgument("spacing overrides must be > 0 (or 0 to keep the file's)");
  }
  embed::OverrideSpacing(&*v, read.spacing_mm);
  return v;
}

embed::Volume VolumeFromPreview(const Preview& p) {
  embed::Volume v;
  v.shape = p.shape;
  v.spacing_mm = p.spacing_mm;
  // LPS voxel axes in NIfTI's RAS world: i -> -x, j -> -y, k -> +z. The
  // in-plane origin does not matter to the encoder (centre crop); z does.
  v.ijk_to_ras = embed::IdentityAffine();
  v.ijk_to_ras[0][0] = -p.spacing_mm[0];
  v.ijk_to_ras[1][1] = -p.spacing_mm[1];
  v.ijk_to_ras[2][2] = p.spacing_mm[2];
  v.ijk_to_ras[2][3] = p.z0_mm;
  v.hu.assign(p.voxels.begin(), p.voxels.end());
  v.stored_type = "int16";
  v.source = "preview";
  return v;
}

Result<PreparedStudy> PrepareStudy(const embed::Volume& volume, StudyRecord record,
                                   const embed::ModelManifest& manifest, bool preview) {
  PreparedStudy p;
  CTDB_ASSIGN_OR_RETURN(p.input, embed::Preprocess(volume, manifest.preprocess));
  if (preview) {
    CTDB_ASSIGN_OR_RETURN(p.study.preview, embed::MakePreview(volume));
  }
  if (record.key.empty()) record.key = StripVolumeExtension(std::filesystem::path(volume.source).filename().string());
  if (preview) {  // a fresh read: the volume's own geometry
    record.shape = volume.shape;
    record.spacing_mm = volume.spacing_mm;
    if (record.source_uri.empty()) record.source_uri = volume.source;
    // Where each stored slice k sits along z, so "(series 2, image N)" in the
    // report maps to millimetres (localization targets and evaluation).
    const auto& m = volume.ijk_to_ras;
    const double ci = (static_cast<double>(volume.shape[0]) - 1) / 2, cj = (static_cast<double>(volume.shape[1]) - 1) / 2;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.6g %.6g", m[2][0] * ci + m[2][1] * cj + m[2][3], m[2][2]);
    record.extra[kExtraSliceZ] = buf;
  }
  if (!record.findings.empty() || !record.impression.empty()) {
    p.sentences = embed::ParseReport(record.findings + "\n" + record.impression).sentences;
  }
  p.study.record = std::move(record);
  return p;
}

Status EncodePrepared(embed::Encoder& encoder, PreparedStudy* p) {
  CTDB_ASSIGN_OR_RETURN(std::vector<embed::VolumeEncoding> enc, encoder.EncodeVolumes({&p->input}));
  StudyVectors& v = p->study.vectors;
  v = StudyVectors{};
  v.image = std::move(enc[0].global);
  for (auto& s : enc[0].slabs) v.slabs.push_back({s.z_mm, std::move(s.vector)});
  const auto& names = encoder.manifest().diseases;
  for (size_t k = 0; k < enc[0].diseases.size() && k < names.size(); ++k) {
    v.diseases.push_back({names[k], std::move(enc[0].diseases[k])});
  }
  v.detections = std::move(enc[0].detections);
  const StudyRecord& r = p->study.record;
  if (!r.findings.empty() || !r.impression.empty()) {
    std::vector<std::string> texts = {r.findings + "\n" + r.impression};
    texts.insert(texts.end(), p->sentences.begin(), p->sentences.end());
    CTDB_ASSIGN_OR_RETURN(std::vector<std::vector<float>> e, encoder.EncodeTexts(texts));
    v.report = std::move(e[0]);
    for (size_t i = 0; i < p->sentences.size(); ++i) v.sentences.push_back({p->sentences[i], std::move(e[i + 1])});
  }
  p->study.record.model_id = encoder.id();
  return Status::Ok();
}

}  // namespace ctdb
