// Study previews: a small int16 HU volume kept with each study (thumbnails,
// re-embedding without the source files), and axial slices of it rendered
// as PNG with a named display window. The only place libpng is used.
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <string>

#include "ctdb/result.h"
#include "ctdb/study.h"
#include "embed/volume.h"

namespace ctdb::embed {

struct PreviewOptions {
  // Largest in-plane size in voxels; the field of view is kept. Default: 128.
  int64_t max_inplane = 128;
  // Slice spacing of the preview in mm. Default: 5.
  double slice_spacing_mm = 5;
};

// Downsampled (trilinear) LPS preview of the whole scan, HU clamped to int16.
Result<Preview> MakePreview(const Volume& volume, const PreviewOptions& options = {});

// Display windows by name: "lung" (level -600, width 1500), "mediastinum"
// (50, 350), "bone" (400, 1800). InvalidArgument for another name.
struct Window {
  double level = 0, width = 0;  // HU
};
Result<Window> NamedWindow(const std::string& name);

// An 8-bit greyscale PNG of the axial slice nearest to patient z (mm), in
// radiological display: the patient's right on the image's left, anterior
// at the top. InvalidArgument when z lies outside the scan or the preview
// is empty.
Result<std::string> AxialSlicePng(const Preview& preview, double z_mm, const Window& window);

}  // namespace ctdb::embed
