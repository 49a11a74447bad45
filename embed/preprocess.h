// Preprocessing of a CT volume into the fixed-size tensor an encoder takes,
// driven by the model manifest: reorient to the canonical orientation, clip
// to an HU window, scale, resample to the target spacing (mm), and centre
// crop/pad to the target size.
//
// Canonical orientation is LPS, as DICOM displays axial slices: voxel axis i
// runs toward the patient's Left, j toward Posterior, k toward Superior.
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ctdb/result.h"
#include "embed/volume.h"

namespace ctdb::embed {

// How the target grid is sampled from the scan.
enum class Resample {
  // Trilinear interpolation at each output voxel centre (CT-CLIP's). Going
  // to a coarser grid it samples, not averages: a 1 mm calcification between
  // two 3 mm output slices is not seen at all.
  kLinear,
  // The same tent filter widened to the output spacing along each axis that
  // gets coarser (no wider than linear elsewhere): every source voxel counts,
  // as in a thick-slice reconstruction, and noise averages down.
  kAntialias,
};

// The manifest's and the command line's names: "linear", "antialias".
const char* ResampleName(Resample r);
// nullopt for any other name.
std::optional<Resample> ParseResample(const std::string& name);

struct PreprocessSpec {
  // Output voxel size along i, j, k (L, P, S) in mm. Default: 2.5, 2.5, 5.
  std::array<double, 3> spacing_mm{2.5, 2.5, 5.0};
  // Output size in voxels along i, j, k. Default: 128 x 128 x 64.
  std::array<int64_t, 3> size{128, 128, 64};
  // HU window applied before scaling. Default: [-1000, 1000] (CT-CLIP).
  float hu_min = -1000, hu_max = 1000;
  // Output value = (clipped HU - offset) / divisor. Default: 0 and 1000,
  // i.e. [-1, 1] (CT-CLIP). Merlin's [0, 1] is offset -1000, divisor 2000.
  float offset = 0, divisor = 1000;
  // Output value where the output grid lies outside the scan. Default: -1
  // (air after CT-CLIP scaling).
  float pad_value = -1;
  // Default: kLinear (models whose manifest predates the choice).
  Resample resample = Resample::kLinear;
};

// A preprocessed volume: size[0]*size[1]*size[2] floats, i fastest.
struct Tensor3 {
  std::array<int64_t, 3> shape{0, 0, 0};
  std::array<double, 3> spacing_mm{0, 0, 0};
  std::vector<float> data;
  // Patient z (RAS/LPS superior coordinate, mm) at the centre of each k slice.
  std::vector<float> slice_z_mm;
  // Whether each k slice lies inside the scan (false: padding).
  std::vector<uint8_t> slice_inside;
};

// The same voxels with axes permuted and flipped so OrientationCode is "LPS".
// Oblique scans go to the nearest axes (no rotation resampling).
Volume ReorientToLps(const Volume& volume);

// InvalidArgument for a bad spec (non-positive spacing or size, empty window,
// zero divisor, output over 2^28 voxels) or an empty volume.
Result<Tensor3> Preprocess(const Volume& volume, const PreprocessSpec& spec);

}  // namespace ctdb::embed
