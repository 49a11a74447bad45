// DICOM on real files no one here wrote (fetched by tools/fetch-test-data.sh).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "embed/dicom_io.h"
#include "tests/test_util.h"

namespace ctdb::embed {
namespace {

std::string Data(const std::string& name) {
  const std::string dir = CTDB_TEST_DATA;
  REQUIRE_MESSAGE(std::filesystem::exists(dir), "test data missing: run tools/fetch-test-data.sh build/test-data");
  return dir + "/" + name;
}


// The stored 16-bit values of an uncompressed little-endian file, found by
// locating the PixelData element (7FE0,0010) by hand, without GDCM, to check
// its decoding independently.
std::vector<int16_t> StoredInt16(const std::string& path, size_t count) {
  const std::string bytes = test::ReadFileBytes(path);
  const size_t at = bytes.rfind(std::string("\xe0\x7f\x10\x00", 4));
  REQUIRE(at != std::string::npos);
  const std::string vr = bytes.substr(at + 4, 2);
  const size_t data = at + ((vr == "OW" || vr == "OB") ? 12 : 8);  // explicit : implicit VR
  REQUIRE(bytes.size() >= data + count * 2);
  std::vector<int16_t> v(count);
  std::memcpy(v.data(), bytes.data() + data, count * 2);
  return v;
}

TEST_CASE("CT_small.dcm: HU = stored value x slope + intercept") {
  auto v = ReadDicomFile(Data("CT_small.dcm"));
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  CHECK(v->shape == std::array<int64_t, 3>{128, 128, 1});
  CHECK(v->spacing_mm[0] == doctest::Approx(0.661468));
  CHECK(v->rescale_slope == doctest::Approx(1));
  CHECK(v->rescale_intercept == doctest::Approx(-1024));
  const auto stored = StoredInt16(Data("CT_small.dcm"), 128 * 128);
  for (size_t i : {size_t{0}, size_t{1000}, size_t{64 * 128 + 64}, size_t{128 * 128 - 1}}) {
    CHECK(v->hu[i] == doctest::Approx(stored[i] * 1.0 - 1024));
  }
  // Position: ImagePositionPatient (-158.135803, -179.035797, -75.699997) LPS -> RAS.
  CHECK(v->ijk_to_ras[0][3] == doctest::Approx(158.135803));
  CHECK(v->ijk_to_ras[1][3] == doctest::Approx(179.035797));
  CHECK(v->ijk_to_ras[2][3] == doctest::Approx(-75.699997));
  CHECK(OrientationCode(v->ijk_to_ras).substr(0, 2) == "LP");
}

TEST_CASE("octave-dicom's CT-MONO2-16-ankle.dcm decodes with its rescale") {
  auto v = ReadDicomFile(Data("CT-MONO2-16-ankle.dcm"));
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  CHECK(v->shape == std::array<int64_t, 3>{512, 512, 1});
  const auto stored = StoredInt16(Data("CT-MONO2-16-ankle.dcm"), 512 * 512);
  for (size_t i : {size_t{0}, size_t{256 * 512 + 256}, size_t{300 * 512 + 100}}) {
    CHECK(v->hu[i] == doctest::Approx(stored[i] * v->rescale_slope + v->rescale_intercept));
  }
}

TEST_CASE("compressed transfer syntaxes: JPEG lossless, RLE, JPEG 2000") {
  for (const char* f : {"jpeg_lossless_sel1.dcm", "rle.dcm", "jpeg_2000.dcm"}) {
    CAPTURE(f);
    auto v = ReadDicomFile(Data(f));
    REQUIRE_MESSAGE(v.ok(), v.status().ToString());
    CHECK(v->shape[0] == 512);
    double sum = 0;
    float lo = 1e9f, hi = -1e9f;
    for (float x : v->hu) {
      sum += x;
      lo = std::min(lo, x);
      hi = std::max(hi, x);
    }
    // Real CT: values in the HU range, bone or contrast above 300 HU, mean in the body range.
    CHECK(lo >= -4100);  // pixel padding outside the field of view can be -3024 HU or so
    CHECK(hi >= 300);
    CHECK(hi <= 4100);
    CHECK(sum / v->hu.size() > -1100);
    CHECK(sum / v->hu.size() < 500);
  }
}

TEST_CASE("a multi-slice CT series is sorted by position, spacing from the deltas") {
  const std::string dir = Data("dicomdirtests/98892001/CT5N");
  auto v = ReadDicomSeries(dir);
  REQUIRE_MESSAGE(v.ok(), v.status().ToString());
  CHECK(v->shape == std::array<int64_t, 3>{16, 16, 5});
  CHECK(v->spacing_mm[2] == doctest::Approx(2.5));
  // Sorted from inferior to superior: first slice at z = -1.2375 mm.
  CHECK(v->ijk_to_ras[2][3] == doctest::Approx(-1.2375));
  CHECK(v->ijk_to_ras[2][2] == doctest::Approx(2.5));
  // Slice k equals the file whose position is z = -1.2375 + 2.5 k.
  const char* by_z[5] = {"3353", "3023", "2693", "2392", "2062"};
  for (int k = 0; k < 5; ++k) {
    auto s = ReadDicomFile(dir + "/" + by_z[k]);
    REQUIRE(s.ok());
    for (size_t i = 0; i < 256; ++i) CHECK(v->hu[k * 256 + i] == s->hu[i]);
  }
}

TEST_CASE("several series need a choice -- errors name the problem") {
  const std::string root = Data("dicomdirtests");
  auto all = ReadDicomSeries(root);
  REQUIRE_FALSE(all.ok());
  CHECK(all.status().IsInvalidArgument());
  CHECK(all.status().message().find("choose one with --series") != std::string::npos);
  auto series = ScanDicom(root);
  REQUIRE(series.ok());
  CHECK(series->size() > 2);
  std::string ct5n, mr;
  for (const auto& s : *series) {
    if (s.files.front().find("CT5N") != std::string::npos) ct5n = s.uid;
    if (s.modality == "MR") mr = s.uid;
  }
  REQUIRE_FALSE(ct5n.empty());
  DicomReadOptions opt;
  opt.series_uid = ct5n;
  auto chosen = ReadDicomSeries(root, opt);
  CHECK_MESSAGE(chosen.ok(), chosen.status().ToString());
  if (!mr.empty()) {
    opt.series_uid = mr;
    auto r = ReadDicomSeries(root, opt);
    CHECK(r.status().IsInvalidArgument());
    CHECK(r.status().message().find("not CT") != std::string::npos);
  }
  opt.series_uid = "1.2.3.4";
  CHECK(ReadDicomSeries(root, opt).status().IsNotFound());
  // Irregular spacing (a slice far from the others).
  auto irregular = ReadDicomSeries(Data("dicomdirtests/77654033/CT2"));
  CHECK(irregular.status().IsInvalidArgument());
  // One slice is not a volume.
  auto single = ReadDicomSeries(Data("CT_small.dcm"));
  CHECK(single.status().IsInvalidArgument());
  CHECK(single.status().message().find("single 2D slice") != std::string::npos);
}

TEST_CASE("unreadable DICOM is Corruption naming the file") {
  test::TempDir dir;
  const std::string bytes = test::ReadFileBytes(Data("CT_small.dcm"));
  const std::string cut = dir.Sub("cut.dcm");
  std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  auto r = ReadDicomFile(cut);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().IsCorruption());
  CHECK(r.status().message().find(cut) != std::string::npos);
  const std::string junk = dir.Sub("junk.dcm");
  std::ofstream(junk, std::ios::binary) << std::string(1000, 'j');
  CHECK(ReadDicomFile(junk).status().IsCorruption());
  // A DICOMDIR that makes GDCM's own reader abort is refused before GDCM sees it.
  auto index = ReadDicomFile(Data("dicomdirtests/DICOMDIR-nooffset"));
  CHECK(index.status().IsInvalidArgument());
  CHECK(index.status().message().find("DICOMDIR") != std::string::npos);
  std::filesystem::create_directory(dir.Sub("empty"));
  std::ofstream(dir.Sub("empty/readme.txt")) << "not dicom";
  auto none = ReadDicomSeries(dir.Sub("empty"));
  CHECK(none.status().IsInvalidArgument());
  CHECK(none.status().message().find("no DICOM") != std::string::npos);
  CHECK(ReadDicomSeries(dir.Sub("nowhere")).status().IsNotFound());
}

}  // namespace
}  // namespace ctdb::embed
