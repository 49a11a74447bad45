// The stages that turn a CT volume and its report into a Study, split so
// that ingest can overlap them: read -> prepare (preview, preprocess,
// sentences) on reader threads, then encode on the encoder's thread.
//
// Thread contract: stateless functions; EncodePrepared inherits the
// encoder's (safe for concurrent use).
#pragma once

#include <string>
#include <vector>

#include "ctdb/model.h"
#include "ctdb/result.h"
#include "ctdb/study.h"
#include "embed/encoder.h"
#include "embed/volume.h"

namespace ctdb {

// A study ready for the encoder.
struct PreparedStudy {
  Study study;            // record (shape, spacing, source_uri), preview; vectors empty
  embed::Tensor3 input;   // the model's input grid
  std::vector<std::string> sentences;  // of findings + impression, in ParseStatements' order
};

// Record extra "z0 dz": patient z (mm) of stored slice k is z0 + k * dz.
inline constexpr char kExtraSliceZ[] = "ctdb.slice_z_mm";

// "a/b.nii.gz" -> "a/b" (also .nii and .dcm): study keys from file names.
std::string StripVolumeExtension(std::string name);

// NIfTI file, DICOM file or DICOM series folder, with overrides applied.
Result<embed::Volume> ReadVolumeFile(const std::string& path, const VolumeReadOptions& read);

// The preview as a volume (LPS, its spacing and z origin).
embed::Volume VolumeFromPreview(const Preview& preview);

// `preview` false keeps study.preview empty (re-embedding from a preview).
Result<PreparedStudy> PrepareStudy(const embed::Volume& volume, StudyRecord record,
                                   const embed::ModelManifest& manifest, bool preview = true);

// Fills study.vectors (image, slabs, diseases, report, sentences) and model_id.
Status EncodePrepared(embed::Encoder& encoder, PreparedStudy* prepared);

// The embed-level encoder of a Model opened by Model::Open.
embed::Encoder& EncoderOf(Model& model);

}  // namespace ctdb
