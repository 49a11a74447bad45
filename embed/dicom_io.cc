#include "embed/dicom_io.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <gdcmImage.h>
#include <gdcmImageReader.h>
#include <gdcmScanner.h>

namespace ctdb::embed {
namespace {

const gdcm::Tag kSeriesUid(0x0020, 0x000e), kModality(0x0008, 0x0060), kSeriesDescription(0x0008, 0x103e);

std::string Trim(const char* s) {
  std::string out = s ? s : "";
  while (!out.empty() && (std::isspace(static_cast<unsigned char>(out.back())) || out.back() == '\0')) out.pop_back();
  size_t b = 0;
  while (b < out.size() && std::isspace(static_cast<unsigned char>(out[b]))) ++b;
  return out.substr(b);
}

constexpr char kMediaStorageDirectory[] = "1.2.840.10008.1.3.10";

// MediaStorageSOPClassUID from a Part 10 file's meta header, read without
// GDCM ("" when absent). DICOMDIR indexes are recognised here and never
// reach GDCM, whose reader aborts on some of them (an assert in
// FileMetaInformation::ReadCompat, seen with pydicom's DICOMDIR-nooffset).
std::string MediaStorageClass(const std::string& file) {
  std::ifstream f(file, std::ios::binary);
  char head[132];
  if (!f.read(head, 132) || std::memcmp(head + 128, "DICM", 4) != 0) return "";
  for (int guard = 0; guard < 64; ++guard) {
    uint8_t tag[8];
    if (!f.read(reinterpret_cast<char*>(tag), 8)) return "";
    const uint16_t group = static_cast<uint16_t>(tag[0] | tag[1] << 8);
    const uint16_t element = static_cast<uint16_t>(tag[2] | tag[3] << 8);
    if (group != 0x0002) return "";
    const std::string vr(reinterpret_cast<char*>(tag + 4), 2);
    uint32_t len = static_cast<uint32_t>(tag[6] | tag[7] << 8);
    if (vr == "OB" || vr == "OW" || vr == "OF" || vr == "SQ" || vr == "UT" || vr == "UN") {
      uint8_t l4[4];
      if (!f.read(reinterpret_cast<char*>(l4), 4)) return "";
      len = static_cast<uint32_t>(l4[0] | l4[1] << 8 | l4[2] << 16 | static_cast<uint32_t>(l4[3]) << 24);
    }
    if (len > 1024) return "";
    std::string value(len, '\0');
    if (!f.read(value.data(), len)) return "";
    if (element == 0x0002) return Trim(value.c_str());
  }
  return "";
}

// Bytes of uncompressed pixel data actually present in the file: from the
// last PixelData tag (7FE0,0010) to the end of the file, capped by its
// declared length. -1 when the tag is not found. `needed` is what the image
// requires: a complete file ends with exactly that much data, which 12 bytes
// read at the tag's expected place confirm without re-reading the pixels.
int64_t UncompressedPixelBytes(const std::string& file, uint64_t needed) {
  std::ifstream f(file, std::ios::binary | std::ios::ate);
  const int64_t size = static_cast<int64_t>(f.tellg());
  auto declared_at = [](const char* p, bool explicit_long) {
    uint32_t v;
    std::memcpy(&v, p + (explicit_long ? 8 : 4), 4);
    return v;
  };
  for (const bool explicit_long : {true, false}) {  // tag + VR + reserved + length, or tag + length
    const int64_t at = size - static_cast<int64_t>(needed) - (explicit_long ? 12 : 8);
    char head[12];
    if (at < 0 || !f.seekg(at) || !f.read(head, 12)) {
      f.clear();
      continue;
    }
    const bool vr_long = (head[4] == 'O' && (head[5] == 'W' || head[5] == 'B'));
    if (std::memcmp(head, "\xe0\x7f\x10\x00", 4) == 0 && vr_long == explicit_long &&
        declared_at(head, explicit_long) == needed) {
      return static_cast<int64_t>(needed);
    }
  }
  // Anything else (truncated, trailing elements): find the tag the slow way.
  f.clear();
  f.seekg(0);
  const std::string bytes((std::istreambuf_iterator<char>(f)), {});
  const size_t at = bytes.rfind(std::string("\xe0\x7f\x10\x00", 4));
  if (at == std::string::npos || at + 8 > bytes.size()) return -1;
  const std::string vr = bytes.substr(at + 4, 2);
  const bool explicit_long = vr == "OW" || vr == "OB";
  const size_t data_at = at + (explicit_long ? 12 : 8);
  if (data_at > bytes.size()) return 0;
  const uint32_t declared = declared_at(bytes.data() + at, explicit_long);
  const int64_t present = static_cast<int64_t>(bytes.size() - data_at);
  return declared == 0xFFFFFFFFu ? present : std::min<int64_t>(present, declared);
}

// A decoded image: geometry plus HU values (cols x rows x frames).
struct Slice {
  std::string file;
  std::array<int64_t, 3> dims{0, 0, 0};
  double spacing[3] = {1, 1, 1};
  double origin[3] = {0, 0, 0};  // LPS mm (ImagePositionPatient)
  double row_dir[3] = {1, 0, 0}, col_dir[3] = {0, 1, 0};
  std::string modality;
  double slope = 1, intercept = 0;
  std::string stored_type;
  std::vector<float> hu;
};

template <typename T>
void Convert(const std::vector<char>& buf, double slope, double inter, std::vector<float>* out) {
  const size_t n = buf.size() / sizeof(T);
  out->resize(n);
  const T* p = reinterpret_cast<const T*>(buf.data());
  for (size_t i = 0; i < n; ++i) (*out)[i] = static_cast<float>(slope * static_cast<double>(p[i]) + inter);
}

Result<Slice> DecodeFile(const std::string& file, const DicomReadOptions& options) {
  const std::string who = "DICOM " + file + ": ";
  if (MediaStorageClass(file) == kMediaStorageDirectory) {
    return Status::InvalidArgument(who + "is a DICOMDIR index, not an image; give the folder instead");
  }
  gdcm::ImageReader reader;
  reader.SetFileName(file.c_str());
  if (!reader.Read()) return Status::Corruption(who + "not a readable DICOM image");
  const gdcm::Image& image = reader.GetImage();
  Slice s;
  s.file = file;
  const unsigned* d = image.GetDimensions();
  s.dims = {d[0], d[1], image.GetNumberOfDimensions() > 2 ? d[2] : 1};
  for (int64_t n : s.dims) {
    if (n < 1 || n > options.max_axis_voxels) {
      return Status::InvalidArgument(who + "image size " + std::to_string(n) + " outside 1.." +
                                     std::to_string(options.max_axis_voxels));
    }
  }
  const gdcm::PixelFormat pf = image.GetPixelFormat();
  if (pf.GetSamplesPerPixel() != 1) {
    return Status::InvalidArgument(who + "colour image (" + std::to_string(pf.GetSamplesPerPixel()) +
                                   " samples per pixel); CT is greyscale");
  }
  const double* sp = image.GetSpacing();
  const double* org = image.GetOrigin();
  const double* dc = image.GetDirectionCosines();
  for (int a = 0; a < 3; ++a) {
    s.spacing[a] = sp[a];
    s.origin[a] = org[a];
    s.row_dir[a] = dc[a];
    s.col_dir[a] = dc[3 + a];
  }
  if (!(s.spacing[0] > 0 && s.spacing[1] > 0 && std::isfinite(s.spacing[0]) && std::isfinite(s.spacing[1]))) {
    return Status::InvalidArgument(who + "pixel spacing must be > 0 mm");
  }
  s.slope = image.GetSlope();
  s.intercept = image.GetIntercept();
  if (!std::isfinite(s.slope) || s.slope == 0) s.slope = 1;
  // GDCM accepts a file whose pixel data stops early ("use file at own
  // risk") and pads it: for uncompressed data, check the length ourselves.
  const gdcm::DataSet& meta_ds = reader.GetFile().GetDataSet();
  if (!image.GetTransferSyntax().IsEncapsulated()) {
    const int64_t have = UncompressedPixelBytes(file, image.GetBufferLength());
    if (have >= 0 && have < static_cast<int64_t>(image.GetBufferLength())) {
      return Status::Corruption(who + "pixel data holds " + std::to_string(have) + " bytes, the image needs " +
                                std::to_string(image.GetBufferLength()) + " (truncated file)");
    }
  }
  std::vector<char> buf(image.GetBufferLength());
  if (buf.empty() || !image.GetBuffer(buf.data())) {
    return Status::Corruption(who + "pixel data could not be decoded (transfer syntax " +
                              std::string(gdcm::TransferSyntax::GetTSString(image.GetTransferSyntax())) + ")");
  }
  switch (pf.GetScalarType()) {
    case gdcm::PixelFormat::UINT8: s.stored_type = "uint8"; Convert<uint8_t>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::INT8: s.stored_type = "int8"; Convert<int8_t>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::UINT16: s.stored_type = "uint16"; Convert<uint16_t>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::INT16: s.stored_type = "int16"; Convert<int16_t>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::UINT32: s.stored_type = "uint32"; Convert<uint32_t>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::INT32: s.stored_type = "int32"; Convert<int32_t>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::FLOAT32: s.stored_type = "float32"; Convert<float>(buf, s.slope, s.intercept, &s.hu); break;
    case gdcm::PixelFormat::FLOAT64: s.stored_type = "float64"; Convert<double>(buf, s.slope, s.intercept, &s.hu); break;
    default: return Status::InvalidArgument(who + "unsupported pixel format");
  }
  if (static_cast<int64_t>(s.hu.size()) != s.dims[0] * s.dims[1] * s.dims[2]) {
    return Status::Corruption(who + "pixel data length disagrees with the image size");
  }
  const gdcm::DataSet& ds = meta_ds;
  if (ds.FindDataElement(kModality) && !ds.GetDataElement(kModality).IsEmpty()) {
    const gdcm::ByteValue* bv = ds.GetDataElement(kModality).GetByteValue();
    if (bv) s.modality = Trim(std::string(bv->GetPointer(), bv->GetLength()).c_str());
  }
  if (!options.allow_non_ct && !s.modality.empty() && s.modality != "CT") {
    return Status::InvalidArgument(who + "modality is " + s.modality + ", not CT");
  }
  return s;
}

void Cross(const double a[3], const double b[3], double out[3]) {
  out[0] = a[1] * b[2] - a[2] * b[1];
  out[1] = a[2] * b[0] - a[0] * b[2];
  out[2] = a[0] * b[1] - a[1] * b[0];
}

// Volume from slices sorted along the normal, `dz` apart (mm).
Volume Assemble(const std::vector<Slice>& slices, double dz, const double normal[3]) {
  const Slice& first = slices.front();
  Volume v;
  v.shape = {first.dims[0], first.dims[1], 0};
  for (const Slice& s : slices) v.shape[2] += s.dims[2];
  v.spacing_mm = {first.spacing[0], first.spacing[1], dz};
  v.rescale_slope = first.slope;
  v.rescale_intercept = first.intercept;
  v.stored_type = first.stored_type;
  // LPS affine, then RAS = diag(-1, -1, 1) * LPS.
  v.ijk_to_ras = IdentityAffine();
  for (int r = 0; r < 3; ++r) {
    const double sign = r < 2 ? -1 : 1;
    v.ijk_to_ras[r][0] = sign * first.row_dir[r] * first.spacing[0];
    v.ijk_to_ras[r][1] = sign * first.col_dir[r] * first.spacing[1];
    v.ijk_to_ras[r][2] = sign * normal[r] * dz;
    v.ijk_to_ras[r][3] = sign * first.origin[r];
  }
  v.hu.reserve(static_cast<size_t>(v.voxels()));
  for (const Slice& s : slices) v.hu.insert(v.hu.end(), s.hu.begin(), s.hu.end());
  return v;
}

}  // namespace

Result<std::vector<DicomSeriesInfo>> ScanDicom(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(path, ec)) return Status::NotFound("no such file or folder " + path);
  std::vector<std::string> files;
  if (fs::is_directory(path, ec)) {
    for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
         it.increment(ec)) {
      if (!it->is_regular_file(ec)) continue;
      if (MediaStorageClass(it->path().string()) == kMediaStorageDirectory) continue;
      files.push_back(it->path().string());
    }
    if (ec) return Status::IOError("listing " + path + ": " + ec.message());
  } else {
    files.push_back(path);
  }
  std::sort(files.begin(), files.end());
  gdcm::Scanner scanner;
  scanner.AddTag(kSeriesUid);
  scanner.AddTag(kModality);
  scanner.AddTag(kSeriesDescription);
  gdcm::Directory::FilenamesType names(files.begin(), files.end());
  if (!scanner.Scan(names)) return Status::IOError("scanning DICOM files under " + path + " failed");
  std::map<std::string, DicomSeriesInfo> by_uid;
  for (const std::string& f : files) {
    if (!scanner.IsKey(f.c_str())) continue;  // not DICOM
    const std::string uid = Trim(scanner.GetValue(f.c_str(), kSeriesUid));
    if (uid.empty()) continue;  // no series: an index or a non-image object
    DicomSeriesInfo& info = by_uid[uid];
    info.uid = uid;
    if (info.modality.empty()) info.modality = Trim(scanner.GetValue(f.c_str(), kModality));
    if (info.description.empty()) info.description = Trim(scanner.GetValue(f.c_str(), kSeriesDescription));
    info.files.push_back(f);
  }
  if (by_uid.empty()) return Status::InvalidArgument("no DICOM image series found under " + path);
  std::vector<DicomSeriesInfo> out;
  for (auto& [uid, info] : by_uid) out.push_back(std::move(info));
  return out;
}

Result<Volume> ReadDicomFile(const std::string& file, const DicomReadOptions& options) {
  CTDB_ASSIGN_OR_RETURN(Slice s, DecodeFile(file, options));
  double normal[3];
  Cross(s.row_dir, s.col_dir, normal);
  std::vector<Slice> one;
  const double dz = s.dims[2] > 1 && s.spacing[2] > 0 ? s.spacing[2] : 1.0;
  one.push_back(std::move(s));
  Volume v = Assemble(one, dz, normal);
  v.source = file;
  return v;
}

Result<Volume> ReadDicomSeries(const std::string& path, const DicomReadOptions& options) {
  CTDB_ASSIGN_OR_RETURN(std::vector<DicomSeriesInfo> all, ScanDicom(path));
  const DicomSeriesInfo* series = nullptr;
  if (!options.series_uid.empty()) {
    for (const auto& s : all) {
      if (s.uid == options.series_uid) series = &s;
    }
    if (!series) return Status::NotFound("no series " + options.series_uid + " under " + path);
  } else if (all.size() > 1) {
    std::string list;
    for (const auto& s : all) {
      list += "\n  " + s.uid + " (" + s.modality + ", " + std::to_string(s.files.size()) + " files" +
              (s.description.empty() ? "" : ", " + s.description) + ")";
    }
    return Status::InvalidArgument(path + " holds " + std::to_string(all.size()) +
                                   " DICOM series; choose one with --series UID:" + list);
  } else {
    series = &all.front();
  }
  std::vector<Slice> slices;
  for (const std::string& f : series->files) {
    CTDB_ASSIGN_OR_RETURN(Slice s, DecodeFile(f, options));
    slices.push_back(std::move(s));
  }
  const Slice& ref = slices.front();
  if (slices.size() == 1 && ref.dims[2] == 1) {
    return Status::InvalidArgument("DICOM series " + series->uid + " under " + path +
                                   " is a single 2D slice; a volume needs at least 2");
  }
  double normal[3];
  Cross(ref.row_dir, ref.col_dir, normal);
  if (slices.size() == 1) {  // one multi-frame file
    Volume v = Assemble(slices, ref.spacing[2] > 0 ? ref.spacing[2] : 1.0, normal);
    v.source = path;
    return v;
  }
  for (const Slice& s : slices) {
    bool same = s.dims == ref.dims && std::fabs(s.spacing[0] - ref.spacing[0]) < 1e-4 &&
                std::fabs(s.spacing[1] - ref.spacing[1]) < 1e-4;
    for (int a = 0; a < 3; ++a) {
      same = same && std::fabs(s.row_dir[a] - ref.row_dir[a]) < 1e-3 && std::fabs(s.col_dir[a] - ref.col_dir[a]) < 1e-3;
    }
    if (!same) {
      return Status::InvalidArgument("DICOM series " + series->uid + ": slice " + s.file +
                                     " differs in size, pixel spacing or orientation from " + ref.file);
    }
    if (s.dims[2] != 1) return Status::InvalidArgument("DICOM series " + series->uid + " mixes multi-frame files");
  }
  auto depth = [&](const Slice& s) { return s.origin[0] * normal[0] + s.origin[1] * normal[1] + s.origin[2] * normal[2]; };
  std::sort(slices.begin(), slices.end(), [&](const Slice& a, const Slice& b) { return depth(a) < depth(b); });
  std::vector<double> gaps;
  for (size_t i = 1; i < slices.size(); ++i) gaps.push_back(depth(slices[i]) - depth(slices[i - 1]));
  std::vector<double> sorted = gaps;
  std::sort(sorted.begin(), sorted.end());
  const double dz = sorted[sorted.size() / 2];
  if (!(dz > 1e-3)) {
    return Status::InvalidArgument("DICOM series " + series->uid + " has slices at the same position");
  }
  if (sorted.front() < dz * 0.9 || sorted.back() > dz * 1.1) {
    return Status::InvalidArgument("DICOM series " + series->uid + " has irregular slice spacing (gaps from " +
                                   std::to_string(sorted.front()) + " to " + std::to_string(sorted.back()) +
                                   " mm): missing slices or mixed stacks");
  }
  Volume v = Assemble(slices, dz, normal);
  v.source = path;
  return v;
}

}  // namespace ctdb::embed
