#include "embed/nifti_io.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <mutex>

#include <nifti2_io.h>
#include <zlib.h>

namespace ctdb::embed {
namespace {

struct NiftiFree {
  void operator()(nifti_image* nim) const { nifti_image_free(nim); }
};
using NiftiPtr = std::unique_ptr<nifti_image, NiftiFree>;

void QuietLibrary() {
  static std::once_flag once;
  std::call_once(once, [] { nifti_set_debug_level(0); });
}

bool EndsWith(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

// The gzip trailer's ISIZE: uncompressed size modulo 2^32.
bool GzipUncompressedSize(const std::string& path, uint32_t* size) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  bool ok = std::fseek(f, -4, SEEK_END) == 0 && std::fread(size, 4, 1, f) == 1;
  std::fclose(f);
  return ok;
}

template <typename T>
void ConvertToHu(const void* data, int64_t n, double slope, double inter, float* out) {
  const T* p = static_cast<const T*>(data);
  for (int64_t i = 0; i < n; ++i) out[i] = static_cast<float>(slope * static_cast<double>(p[i]) + inter);
}

template <typename T>
void StoreFromHu(const std::vector<float>& hu, double slope, double inter, void* out) {
  T* p = static_cast<T*>(out);
  for (size_t i = 0; i < hu.size(); ++i) {
    const double v = (static_cast<double>(hu[i]) - inter) / slope;
    if constexpr (std::is_floating_point_v<T>) {
      p[i] = static_cast<T>(v);
    } else {
      const double lo = static_cast<double>(std::numeric_limits<T>::lowest());
      const double hi = static_cast<double>(std::numeric_limits<T>::max());
      p[i] = static_cast<T>(std::clamp(std::nearbyint(v), lo, hi));
    }
  }
}

}  // namespace

bool IsNiftiPath(const std::string& path) { return EndsWith(path, ".nii") || EndsWith(path, ".nii.gz"); }

std::string StripNiftiExtension(const std::string& name) {
  for (const char* ext : {".nii.gz", ".nii"}) {
    if (EndsWith(name, ext)) return name.substr(0, name.size() - std::strlen(ext));
  }
  return name;
}

const char* NiftiTypeName(NiftiType type) {
  switch (type) {
    case NiftiType::kUint8: return "uint8";
    case NiftiType::kInt16: return "int16";
    case NiftiType::kUint16: return "uint16";
    case NiftiType::kInt32: return "int32";
    case NiftiType::kFloat32: return "float32";
    case NiftiType::kFloat64: return "float64";
  }
  return "unknown";
}

Result<Volume> ReadNifti(const std::string& path, const NiftiReadOptions& options, NiftiReadTimings* timings) {
  QuietLibrary();
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return Status::NotFound("no NIfTI file " + path);
  const std::string who = "NIfTI " + path + ": ";
  NiftiPtr nim(nifti_image_read(path.c_str(), /*read_data=*/0));
  if (!nim) return Status::Corruption(who + "not a readable NIfTI-1/NIfTI-2 header");
  for (int d = 4; d <= 7; ++d) {
    if (nim->dim[0] >= d && nim->dim[d] > 1) {
      return Status::InvalidArgument(who + "has " + std::to_string(nim->dim[0]) +
                                     " dimensions (dim[" + std::to_string(d) + "] = " + std::to_string(nim->dim[d]) +
                                     "); a single 3D volume is needed");
    }
  }
  const int64_t nx = nim->nx, ny = nim->ny, nz = nim->dim[0] >= 3 ? nim->nz : 1;
  if (nx < 1 || ny < 1 || nz < 1) return Status::InvalidArgument(who + "non-positive dimensions in header");
  if (nz == 1 || nx == 1 || ny == 1) {
    return Status::InvalidArgument(who + "is a 2D image (" + std::to_string(nx) + "x" + std::to_string(ny) + "x" +
                                   std::to_string(nz) + "); a 3D volume is needed");
  }
  for (int64_t n : {nx, ny, nz}) {
    if (n > options.max_axis_voxels) {
      return Status::InvalidArgument(who + "axis of " + std::to_string(n) + " voxels exceeds the limit of " +
                                     std::to_string(options.max_axis_voxels));
    }
  }
  const int64_t nvox = nx * ny * nz;
  if (nvox > options.max_voxels) {
    return Status::InvalidArgument(who + std::to_string(nvox) + " voxels exceed the limit of " +
                                   std::to_string(options.max_voxels));
  }
  Volume v;
  switch (nim->datatype) {
    case DT_UINT8: v.stored_type = "uint8"; break;
    case DT_INT16: v.stored_type = "int16"; break;
    case DT_UINT16: v.stored_type = "uint16"; break;
    case DT_INT32: v.stored_type = "int32"; break;
    case DT_FLOAT32: v.stored_type = "float32"; break;
    case DT_FLOAT64: v.stored_type = "float64"; break;
    default:
      return Status::InvalidArgument(who + "unsupported datatype code " + std::to_string(nim->datatype) +
                                     " (supported: uint8, int16, uint16, int32, float32, float64)");
  }
  // nifti_clib replaces a zero pixdim with 1 mm; judge the stored header.
  double pixdim[4] = {0, nim->pixdim[1], nim->pixdim[2], nim->pixdim[3]};
  int nver = 0;
  if (void* raw = nifti_read_header(path.c_str(), &nver, /*check=*/0)) {
    for (int a = 1; a <= 3; ++a) {
      pixdim[a] = nver == 2 ? static_cast<nifti_2_header*>(raw)->pixdim[a] : static_cast<nifti_1_header*>(raw)->pixdim[a];
    }
    free(raw);
  }
  for (int a = 1; a <= 3; ++a) {
    if (!(std::isfinite(pixdim[a]) && pixdim[a] > 0)) {
      return Status::InvalidArgument(who + "voxel spacing pixdim[" + std::to_string(a) + "] = " +
                                     std::to_string(pixdim[a]) + " mm; spacing must be > 0");
    }
  }
  // The data must be there before we allocate for it.
  const int64_t data_bytes = nvox * nim->nbyper;
  const int64_t needed = nim->iname_offset + data_bytes;
  if (EndsWith(path, ".gz")) {
    uint32_t isize = 0;
    if (!GzipUncompressedSize(path, &isize)) return Status::Corruption(who + "cannot read the gzip trailer");
    if (needed < (int64_t{1} << 32) && static_cast<int64_t>(isize) < needed) {
      return Status::Corruption(who + "header promises " + std::to_string(data_bytes) + " bytes of voxel data but " +
                                "the gzip stream holds only " + std::to_string(isize) + " bytes in all");
    }
  } else {
    const int64_t size = nifti_get_filesize(nim->iname);
    if (size < needed) {
      return Status::Corruption(who + "header promises " + std::to_string(data_bytes) + " bytes of voxel data from " +
                                "offset " + std::to_string(nim->iname_offset) + " but the file has " +
                                std::to_string(size) + " bytes");
    }
  }
  if (nifti_image_load(nim.get()) != 0 || nim->data == nullptr) {
    return Status::Corruption(who + "voxel data could not be read (truncated or damaged file)");
  }
  const auto t1 = Clock::now();
  double slope = nim->scl_slope, inter = nim->scl_inter;
  if (!std::isfinite(slope) || slope == 0) slope = 1;
  if (!std::isfinite(inter)) inter = 0;
  v.rescale_slope = slope;
  v.rescale_intercept = inter;
  v.shape = {nx, ny, nz};
  v.spacing_mm = {nim->pixdim[1], nim->pixdim[2], nim->pixdim[3]};
  v.source = path;
  v.hu.resize(static_cast<size_t>(nvox));
  switch (nim->datatype) {
    case DT_UINT8: ConvertToHu<uint8_t>(nim->data, nvox, slope, inter, v.hu.data()); break;
    case DT_INT16: ConvertToHu<int16_t>(nim->data, nvox, slope, inter, v.hu.data()); break;
    case DT_UINT16: ConvertToHu<uint16_t>(nim->data, nvox, slope, inter, v.hu.data()); break;
    case DT_INT32: ConvertToHu<int32_t>(nim->data, nvox, slope, inter, v.hu.data()); break;
    case DT_FLOAT32: ConvertToHu<float>(nim->data, nvox, slope, inter, v.hu.data()); break;
    case DT_FLOAT64: ConvertToHu<double>(nim->data, nvox, slope, inter, v.hu.data()); break;
  }
  if (timings) {
    timings->load_s = std::chrono::duration<double>(t1 - t0).count();
    timings->convert_s = std::chrono::duration<double>(Clock::now() - t1).count();
  }
  const nifti_dmat44* m = nim->sform_code > 0 ? &nim->sto_xyz : nim->qform_code > 0 ? &nim->qto_xyz : nullptr;
  if (m) {
    for (int r = 0; r < 4; ++r) {
      for (int c = 0; c < 4; ++c) v.ijk_to_ras[r][c] = m->m[r][c];
    }
  } else {
    v.ijk_to_ras = IdentityAffine();  // ANALYZE-style: axes as stored, scaled by pixdim
    for (int a = 0; a < 3; ++a) v.ijk_to_ras[a][a] = v.spacing_mm[a];
  }
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) {
      if (!std::isfinite(v.ijk_to_ras[r][c])) return Status::InvalidArgument(who + "non-finite orientation matrix");
    }
  }
  return v;
}

Status WriteNifti(const std::string& path, const Volume& v, NiftiType type, double slope, double intercept,
                  bool nifti2) {
  QuietLibrary();
  if (v.voxels() <= 0 || static_cast<int64_t>(v.hu.size()) != v.voxels()) {
    return Status::InvalidArgument("volume to write has inconsistent shape and data");
  }
  if (!(slope != 0 && std::isfinite(slope) && std::isfinite(intercept))) {
    return Status::InvalidArgument("slope must be finite and non-zero");
  }
  static const int kCodes[] = {DT_UINT8, DT_INT16, DT_UINT16, DT_INT32, DT_FLOAT32, DT_FLOAT64};
  const int64_t dims[8] = {3, v.shape[0], v.shape[1], v.shape[2], 1, 1, 1, 1};
  NiftiPtr nim(nifti_make_new_nim(dims, kCodes[static_cast<int>(type)], /*data_fill=*/1));
  if (!nim) return Status::Internal("nifti_clib could not allocate an image");
  switch (type) {
    case NiftiType::kUint8: StoreFromHu<uint8_t>(v.hu, slope, intercept, nim->data); break;
    case NiftiType::kInt16: StoreFromHu<int16_t>(v.hu, slope, intercept, nim->data); break;
    case NiftiType::kUint16: StoreFromHu<uint16_t>(v.hu, slope, intercept, nim->data); break;
    case NiftiType::kInt32: StoreFromHu<int32_t>(v.hu, slope, intercept, nim->data); break;
    case NiftiType::kFloat32: StoreFromHu<float>(v.hu, slope, intercept, nim->data); break;
    case NiftiType::kFloat64: StoreFromHu<double>(v.hu, slope, intercept, nim->data); break;
  }
  nim->scl_slope = slope;
  nim->scl_inter = intercept;
  nim->dx = nim->pixdim[1] = v.spacing_mm[0];
  nim->dy = nim->pixdim[2] = v.spacing_mm[1];
  nim->dz = nim->pixdim[3] = v.spacing_mm[2];
  nim->xyz_units = NIFTI_UNITS_MM;
  nifti_dmat44 m;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) m.m[r][c] = v.ijk_to_ras[r][c];
  }
  nim->sform_code = NIFTI_XFORM_SCANNER_ANAT;
  nim->sto_xyz = m;
  nim->sto_ijk = nifti_dmat44_inverse(m);
  nim->qform_code = NIFTI_XFORM_SCANNER_ANAT;
  double dx, dy, dz;
  nifti_dmat44_to_quatern(m, &nim->quatern_b, &nim->quatern_c, &nim->quatern_d, &nim->qoffset_x, &nim->qoffset_y,
                          &nim->qoffset_z, &dx, &dy, &dz, &nim->qfac);
  nim->pixdim[0] = nim->qfac;
  nim->qto_xyz = nifti_quatern_to_dmat44(nim->quatern_b, nim->quatern_c, nim->quatern_d, nim->qoffset_x,
                                         nim->qoffset_y, nim->qoffset_z, nim->dx, nim->dy, nim->dz, nim->qfac);
  nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
  if (nifti_set_filenames(nim.get(), path.c_str(), /*check=*/0, /*set_byte_order=*/1) != 0) {
    return Status::InvalidArgument("cannot write NIfTI to " + path + " (name must end in .nii or .nii.gz)");
  }
  std::error_code ec;
  std::filesystem::remove(path, ec);
  if (nifti2) {
    // nifti_image_write picks the header version from the file name (always
    // NIfTI-1 for .nii): write the NIfTI-2 header and data ourselves.
    nifti_2_header hdr;
    if (nifti_convert_nim2n2hdr(nim.get(), &hdr) != 0) return Status::Internal("cannot build a NIfTI-2 header");
    std::memcpy(hdr.magic, "n+2\0\r\n\032\n", 8);
    hdr.vox_offset = 544;
    const char extension[4] = {0, 0, 0, 0};
    const size_t bytes = static_cast<size_t>(nim->nvox) * static_cast<size_t>(nim->nbyper);
    gzFile f = gzopen(path.c_str(), EndsWith(path, ".gz") ? "wb6" : "wbT");  // T: no compression
    if (!f) return Status::IOError("cannot write NIfTI " + path);
    const bool ok = gzwrite(f, &hdr, sizeof(hdr)) == static_cast<int>(sizeof(hdr)) &&
                    gzwrite(f, extension, 4) == 4 && gzwrite(f, nim->data, static_cast<unsigned>(bytes)) ==
                                                          static_cast<int>(bytes);
    if (gzclose(f) != Z_OK || !ok) return Status::IOError("writing NIfTI " + path + " failed");
    return Status::Ok();
  }
  nifti_image_write(nim.get());
  if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) == 0) {
    return Status::IOError("writing NIfTI " + path + " failed");
  }
  return Status::Ok();
}

}  // namespace ctdb::embed
