// DICOM reading through GDCM: single images and CT series from a folder.
// The only place GDCM is used. GDCM decodes the compressed transfer syntaxes
// it was built with (JPEG lossless and baseline, JPEG-LS, RLE, JPEG 2000).
//
// Thread contract: functions are thread-safe for distinct files.
#pragma once

#include <string>
#include <vector>

#include "ctdb/result.h"
#include "embed/volume.h"

namespace ctdb::embed {

struct DicomSeriesInfo {
  std::string uid;          // SeriesInstanceUID
  std::string modality;     // e.g. "CT"
  std::string description;  // SeriesDescription
  std::vector<std::string> files;
};

struct DicomReadOptions {
  // Which series to read when the folder holds several. Default: "" = the
  // only one (several is an error that names them).
  std::string series_uid;
  // Accept modalities other than CT. Default: false.
  bool allow_non_ct = false;
  // Largest accepted size along any axis (voxels). Default: 4096.
  int64_t max_axis_voxels = 4096;
};

// The DICOM series under `path` (a file or a folder, searched recursively),
// in UID order. Files that are not DICOM, and DICOMDIR indexes, are skipped.
// InvalidArgument when there are none.
Result<std::vector<DicomSeriesInfo>> ScanDicom(const std::string& path);

// One DICOM file as a volume (a single slice has shape[2] == 1; a
// multi-frame file holds all its frames). HU = RescaleSlope * stored +
// RescaleIntercept. Corruption for an unreadable file.
Result<Volume> ReadDicomFile(const std::string& file, const DicomReadOptions& options = {});

// A CT volume from a series: slices sorted by ImagePositionPatient projected
// on the slice normal; in-plane spacing from PixelSpacing, slice spacing from
// the position deltas (never SliceThickness). Errors: several series and none
// chosen (the message lists them), a single slice, inconsistent slices
// (size, orientation, irregular spacing, duplicate positions), non-CT.
Result<Volume> ReadDicomSeries(const std::string& path, const DicomReadOptions& options = {});

}  // namespace ctdb::embed
