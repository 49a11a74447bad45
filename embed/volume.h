// Volume: one CT reconstruction in memory, in Hounsfield units, with the
// geometry that places every voxel in the patient.
//
// Thread contract: plain value type.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace ctdb::embed {

// 4x4 affine, row-major: world = M * (i, j, k, 1).
using Affine = std::array<std::array<double, 4>, 4>;

Affine IdentityAffine();

struct Volume {
  std::array<int64_t, 3> shape{0, 0, 0};      // voxels along i, j, k; i varies fastest in `hu`
  std::array<double, 3> spacing_mm{0, 0, 0};  // voxel size along i, j, k in mm
  // Voxel index (i, j, k) -> patient coordinates in mm in NIfTI's RAS+
  // world: +x toward the patient's Right, +y Anterior, +z Superior. (DICOM's
  // LPS+ world is the same with x and y negated.)
  Affine ijk_to_ras = IdentityAffine();
  std::vector<float> hu;                      // shape[0]*shape[1]*shape[2] values (HU)
  double rescale_slope = 1;                   // how stored values became HU
  double rescale_intercept = 0;
  std::string stored_type;                    // e.g. "int16"
  std::string source;                         // file or folder read

  int64_t voxels() const { return shape[0] * shape[1] * shape[2]; }
  float& at(int64_t i, int64_t j, int64_t k) { return hu[static_cast<size_t>((k * shape[1] + j) * shape[0] + i)]; }
  float at(int64_t i, int64_t j, int64_t k) const {
    return hu[static_cast<size_t>((k * shape[1] + j) * shape[0] + i)];
  }
};

// Three letters naming where each voxel axis points, e.g. "LPS": i toward
// the patient's Left, j toward Posterior, k toward Superior (nearest world
// axis of each voxel axis).
std::string OrientationCode(const Affine& ijk_to_ras);

// Re-derives HU as if the stored values had been rescaled with this slope
// and intercept instead (CT-RATE keeps the true ones in its metadata CSV).
void OverrideRescale(Volume* volume, double slope, double intercept);

// Sets the voxel spacing along each axis (0 = keep), keeping each axis's
// direction in the affine.
void OverrideSpacing(Volume* volume, const std::array<double, 3>& spacing_mm);

}  // namespace ctdb::embed
