// NIfTI-1 and NIfTI-2 (.nii, .nii.gz) reading and writing through nifti_clib.
// The only place nifti_clib is used.
//
// Thread contract: functions are thread-safe for distinct files.
#pragma once

#include <string>

#include "ctdb/result.h"
#include "embed/volume.h"

namespace ctdb::embed {

struct NiftiReadOptions {
  // Largest accepted size along any axis, in voxels. Default: 4096.
  int64_t max_axis_voxels = 4096;
  // Largest accepted volume, in voxels (a guard against lying headers).
  // Default: 2^30.
  int64_t max_voxels = int64_t{1} << 30;
};

// Reads a 3D volume. Values become HU as scl_slope * stored + scl_inter
// (slope 0 means 1, per the standard). Geometry from the sform when its code
// is set, else the qform, else pixdim alone. Supported stored types: uint8,
// int16, uint16, int32, float32, float64. Errors name the file: NotFound,
// InvalidArgument (2D or 4D image, zero/negative spacing, absurd or
// unsupported header), Corruption (truncated data, data size disagreeing
// with the header, unreadable gzip).
// Where ReadNifti spent its time (seconds), for benchmarks.
struct NiftiReadTimings {
  double load_s = 0;     // header + reading and gunzipping the voxel data (nifti_clib)
  double convert_s = 0;  // stored type -> float HU
};
Result<Volume> ReadNifti(const std::string& path, const NiftiReadOptions& options = {},
                         NiftiReadTimings* timings = nullptr);

// True for names ending in .nii or .nii.gz.
bool IsNiftiPath(const std::string& path);

// The name without its .nii.gz or .nii ending ("a/b.nii.gz" -> "a/b").
std::string StripNiftiExtension(const std::string& name);

// Stored types for writing. Values stored = round((HU - intercept) / slope),
// clamped to the type's range.
enum class NiftiType { kUint8, kInt16, kUint16, kInt32, kFloat32, kFloat64 };
const char* NiftiTypeName(NiftiType type);

// Writes `volume` (NIfTI-1, or NIfTI-2 when nifti2; gzip when the path ends
// in .gz) with its geometry as both sform and qform.
Status WriteNifti(const std::string& path, const Volume& volume, NiftiType type, double slope = 1,
                  double intercept = 0, bool nifti2 = false);

}  // namespace ctdb::embed
