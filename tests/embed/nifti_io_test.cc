#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "embed/nifti_io.h"
#include "tests/test_util.h"

namespace ctdb::embed {
namespace {

// A small phantom in LPS voxel order with HU from -1000 to ~1500.
Volume Phantom(int64_t nx = 12, int64_t ny = 10, int64_t nz = 7) {
  Volume v;
  v.shape = {nx, ny, nz};
  v.spacing_mm = {0.7, 0.8, 2.5};
  v.ijk_to_ras = IdentityAffine();
  v.ijk_to_ras[0][0] = -0.7;  // i toward Left
  v.ijk_to_ras[1][1] = -0.8;  // j toward Posterior
  v.ijk_to_ras[2][2] = 2.5;   // k toward Superior
  v.ijk_to_ras[0][3] = 100;
  v.ijk_to_ras[1][3] = 50;
  v.ijk_to_ras[2][3] = -300;
  v.hu.resize(static_cast<size_t>(v.voxels()));
  for (int64_t k = 0; k < nz; ++k) {
    for (int64_t j = 0; j < ny; ++j) {
      for (int64_t i = 0; i < nx; ++i) v.at(i, j, k) = static_cast<float>(-1000 + 17 * i + 23 * j + 31 * k * 10);
    }
  }
  return v;
}



TEST_CASE("NIfTI round trip in every supported datatype, plain and gzipped") {
  test::TempDir dir;
  const Volume v = Phantom();
  struct Case {
    NiftiType type;
    double slope, inter;
  };
  // uint8 cannot hold HU directly: store (HU + 1024) / 10.
  const Case cases[] = {{NiftiType::kInt16, 1, 0},      {NiftiType::kInt16, 0.5, -1024},
                        {NiftiType::kUint16, 1, -1024}, {NiftiType::kInt32, 1, 0},
                        {NiftiType::kUint8, 10, -1024}, {NiftiType::kFloat32, 1, 0},
                        {NiftiType::kFloat64, 1, 0}};
  for (const Case& c : cases) {
    for (const char* ext : {".nii", ".nii.gz", "-2.nii.gz"}) {
      CAPTURE(NiftiTypeName(c.type));
      CAPTURE(ext);
      const bool nifti2 = ext[0] == '-';  // "-2": NIfTI-2
      const std::string path = dir.Sub(std::string("v_") + NiftiTypeName(c.type) + ext);
      REQUIRE(WriteNifti(path, v, c.type, c.slope, c.inter, nifti2).ok());
      if (nifti2) {
        const std::string head = test::ReadFileBytes(path.substr(0, path.size() - 3) + ".gz").substr(0, 2);
        CHECK(head == "\x1f\x8b");  // gzipped
      }
      auto back = ReadNifti(path);
      REQUIRE_MESSAGE(back.ok(), back.status().ToString());
      CHECK(back->stored_type == NiftiTypeName(c.type));
      CHECK(back->shape == v.shape);
      for (int a = 0; a < 3; ++a) CHECK(back->spacing_mm[a] == doctest::Approx(v.spacing_mm[a]).epsilon(1e-5));
      for (int r = 0; r < 3; ++r) {
        for (int col = 0; col < 4; ++col) CHECK(back->ijk_to_ras[r][col] == doctest::Approx(v.ijk_to_ras[r][col]).epsilon(1e-5));
      }
      CHECK(OrientationCode(back->ijk_to_ras) == "LPS");
      CHECK(back->rescale_slope == doctest::Approx(c.slope));
      double worst = 0;
      for (size_t i = 0; i < v.hu.size(); ++i) worst = std::max(worst, std::fabs(double(back->hu[i]) - v.hu[i]));
      CHECK(worst <= c.slope / 2 + 1e-3);  // exact up to the quantum of the stored type
    }
  }
}

TEST_CASE("geometry comes from the sform, else the qform") {
  test::TempDir dir;
  const Volume v = Phantom();
  const std::string nii = dir.Sub("q.nii");
  REQUIRE(WriteNifti(nii, v, NiftiType::kInt16).ok());
  std::string bytes = test::ReadFileBytes(nii);
  // sform_code (int16 at byte 254 of a NIfTI-1 header) = 0, and garbage in
  // the sform rows (srow_x at byte 280): the qform must be used.
  const int16_t zero = 0;
  std::memcpy(&bytes[254], &zero, 2);
  const float junk[4] = {9, 9, 9, 9};
  std::memcpy(&bytes[280], junk, sizeof(junk));
  test::WriteFileBytes(nii, bytes);
  auto back = ReadNifti(nii);
  REQUIRE(back.ok());
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 4; ++c) CHECK(back->ijk_to_ras[r][c] == doctest::Approx(v.ijk_to_ras[r][c]).epsilon(1e-4));
  }
}

TEST_CASE("bad NIfTI input gives a clear error, never a crash or huge allocation") {
  test::TempDir dir;
  const Volume v = Phantom();
  const std::string nii = dir.Sub("ok.nii"), gz = dir.Sub("ok.nii.gz");
  REQUIRE(WriteNifti(nii, v, NiftiType::kInt16).ok());
  REQUIRE(WriteNifti(gz, v, NiftiType::kInt16).ok());
  const std::string bytes = test::ReadFileBytes(nii), gzbytes = test::ReadFileBytes(gz);
  auto expect = [&](const std::string& name, const std::string& content, Status::Code code, const char* needle) {
    CAPTURE(name);
    const std::string path = dir.Sub(name);
    test::WriteFileBytes(path, content);
    auto r = ReadNifti(path);
    REQUIRE_FALSE(r.ok());
    CHECK(r.status().code() == code);
    CHECK_MESSAGE(r.status().message().find(needle) != std::string::npos, r.status().message());
    CHECK(r.status().message().find(path) != std::string::npos);  // names the file
  };
  // Header that lies about the data size: the data stops early.
  expect("short.nii", bytes.substr(0, bytes.size() - 100), Status::Code::kCorruption, "promises");
  // Truncated gzip: cut in the middle of the stream.
  expect("trunc.nii.gz", gzbytes.substr(0, gzbytes.size() / 2), Status::Code::kCorruption, "");
  // Zero spacing: pixdim[1] (float at byte 80 of a NIfTI-1 header).
  std::string zero = bytes;
  const float zf = 0, neg = -1;
  std::memcpy(&zero[80], &zf, 4);
  expect("zero.nii", zero, Status::Code::kInvalidArgument, "spacing must be > 0");
  std::string negative = bytes;
  std::memcpy(&negative[84], &neg, 4);
  expect("neg.nii", negative, Status::Code::kInvalidArgument, "spacing must be > 0");
  // Absurd dimensions: dim[1] (int16 at byte 42) = 30000.
  std::string huge = bytes;
  const int16_t big = 30000;
  std::memcpy(&huge[42], &big, 2);
  expect("huge.nii", huge, Status::Code::kInvalidArgument, "exceeds the limit");
  // NIfTI-2 allows 64-bit dimensions: 100000 per axis is refused before allocation.
  const std::string n2 = dir.Sub("ok2.nii");
  REQUIRE(WriteNifti(n2, v, NiftiType::kInt16, 1, 0, /*nifti2=*/true).ok());
  std::string huge2 = test::ReadFileBytes(n2);
  REQUIRE(huge2.size() > 544);
  const int32_t sizeof_hdr = 540;
  CHECK(std::memcmp(huge2.data(), &sizeof_hdr, 4) == 0);  // really NIfTI-2
  const int64_t dims[3] = {100000, 100000, 100000};
  std::memcpy(&huge2[16 + 8], dims, sizeof(dims));  // dim[1..3] (int64 at byte 16)
  expect("huge2.nii", huge2, Status::Code::kInvalidArgument, "exceeds the limit");
  // Not NIfTI at all.
  expect("garbage.nii", std::string(400, 'x'), Status::Code::kCorruption, "not a readable");
  CHECK(ReadNifti(dir.Sub("missing.nii")).status().IsNotFound());

  // A 2D image.
  Volume flat = Phantom(12, 10, 1);
  REQUIRE(WriteNifti(dir.Sub("flat.nii"), flat, NiftiType::kInt16).ok());
  auto r = ReadNifti(dir.Sub("flat.nii"));
  CHECK(r.status().IsInvalidArgument());
  CHECK(r.status().message().find("2D image") != std::string::npos);
  // Voxel budget guard.
  NiftiReadOptions small;
  small.max_voxels = 100;
  CHECK(ReadNifti(nii, small).status().IsInvalidArgument());
}

}  // namespace
}  // namespace ctdb::embed
