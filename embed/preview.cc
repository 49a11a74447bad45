#include "embed/preview.h"

#include <algorithm>
#include <cmath>

#include <png.h>

#include "embed/preprocess.h"

namespace ctdb::embed {

Result<Preview> MakePreview(const Volume& volume, const PreviewOptions& options) {
  if (options.max_inplane < 8 || !(options.slice_spacing_mm > 0)) {
    return Status::InvalidArgument("preview needs max_inplane >= 8 and slice spacing > 0");
  }
  const Volume v = ReorientToLps(volume);
  const double fov_i = v.shape[0] * v.spacing_mm[0], fov_j = v.shape[1] * v.spacing_mm[1];
  const double fov_k = v.shape[2] * v.spacing_mm[2];
  const double step = std::max(fov_i, fov_j) / static_cast<double>(options.max_inplane);
  const double inplane = std::max(step, std::min(v.spacing_mm[0], v.spacing_mm[1]));
  PreprocessSpec spec;
  spec.spacing_mm = {inplane, inplane, options.slice_spacing_mm};
  spec.size = {std::max<int64_t>(1, static_cast<int64_t>(std::ceil(fov_i / inplane))),
               std::max<int64_t>(1, static_cast<int64_t>(std::ceil(fov_j / inplane))),
               std::max<int64_t>(1, static_cast<int64_t>(std::ceil(fov_k / options.slice_spacing_mm)))};
  spec.hu_min = -32768;
  spec.hu_max = 32767;
  spec.offset = 0;
  spec.divisor = 1;
  spec.pad_value = -1024;
  CTDB_ASSIGN_OR_RETURN(Tensor3 t, Preprocess(v, spec));
  Preview p;
  p.shape = t.shape;
  p.spacing_mm = t.spacing_mm;
  p.z0_mm = t.slice_z_mm.empty() ? 0 : t.slice_z_mm.front();
  p.voxels.resize(t.data.size());
  for (size_t i = 0; i < t.data.size(); ++i) {
    p.voxels[i] = static_cast<int16_t>(std::clamp(std::lround(t.data[i]), -32768L, 32767L));
  }
  return p;
}

Result<Window> NamedWindow(const std::string& name) {
  if (name == "lung") return Window{-600, 1500};
  if (name == "mediastinum") return Window{50, 350};
  if (name == "bone") return Window{400, 1800};
  return Status::InvalidArgument("unknown window '" + name + "' (lung, mediastinum, bone)");
}

namespace {

void AppendToString(png_structp png, png_bytep data, png_size_t n) {
  static_cast<std::string*>(png_get_io_ptr(png))->append(reinterpret_cast<const char*>(data), n);
}

}  // namespace

Result<std::string> AxialSlicePng(const Preview& p, double z_mm, const Window& window) {
  const int64_t nx = p.shape[0], ny = p.shape[1], nz = p.shape[2];
  if (nx <= 0 || ny <= 0 || nz <= 0 || static_cast<int64_t>(p.voxels.size()) != nx * ny * nz) {
    return Status::InvalidArgument("the study has no preview to render");
  }
  if (!(window.width > 0)) return Status::InvalidArgument("window width must be > 0 HU");
  const double k_real = (z_mm - p.z0_mm) / p.spacing_mm[2];
  if (!std::isfinite(k_real) || k_real < -0.5 || k_real > static_cast<double>(nz) - 0.5) {
    return Status::InvalidArgument("z = " + std::to_string(z_mm) + " mm is outside the scan (" +
                                   std::to_string(p.z0_mm) + " to " +
                                   std::to_string(p.z0_mm + (nz - 1) * p.spacing_mm[2]) + " mm)");
  }
  const int64_t k = std::clamp<int64_t>(std::lround(k_real), 0, nz - 1);
  // LPS voxels: i runs toward the patient's left = image left to right in
  // radiological display, j toward posterior = top to bottom. Rows as stored.
  std::vector<uint8_t> pixels(static_cast<size_t>(nx * ny));
  const double lo = window.level - window.width / 2;
  for (int64_t j = 0; j < ny; ++j) {
    for (int64_t i = 0; i < nx; ++i) {
      const double hu = p.voxels[static_cast<size_t>((k * ny + j) * nx + i)];
      pixels[static_cast<size_t>(j * nx + i)] =
          static_cast<uint8_t>(std::clamp((hu - lo) / window.width * 255.0 + 0.5, 0.0, 255.0));
    }
  }
  std::string out;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, nullptr, nullptr, nullptr);
  png_infop info = png ? png_create_info_struct(png) : nullptr;
  if (!png || !info) {
    png_destroy_write_struct(&png, &info);
    return Status::Internal("libpng could not start");
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    return Status::Internal("libpng failed to encode the slice");
  }
  png_set_write_fn(png, &out, AppendToString, nullptr);
  png_set_IHDR(png, info, static_cast<png_uint_32>(nx), static_cast<png_uint_32>(ny), 8, PNG_COLOR_TYPE_GRAY,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int64_t j = 0; j < ny; ++j) png_write_row(png, &pixels[static_cast<size_t>(j * nx)]);
  png_write_end(png, nullptr);
  png_destroy_write_struct(&png, &info);
  return out;
}

}  // namespace ctdb::embed
