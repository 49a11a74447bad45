#include <doctest/doctest.h>

#include <cmath>
#include <fstream>

#include <png.h>

#include "embed/preview.h"

namespace ctdb::embed {
namespace {

// RAS-stored phantom: air, a body ellipse (40 HU), a lung on the patient's
// right (-850 HU) and a bone block on the patient's left (700 HU).
Volume Phantom() {
  Volume v;
  v.shape = {256, 200, 40};
  v.spacing_mm = {0.75, 0.75, 2.5};
  v.ijk_to_ras = IdentityAffine();
  for (int a = 0; a < 3; ++a) {
    v.ijk_to_ras[a][a] = v.spacing_mm[a];
    v.ijk_to_ras[a][3] = -v.spacing_mm[a] * (v.shape[a] - 1) / 2.0;
  }
  v.ijk_to_ras[2][3] = -300;  // first slice at z = -300 mm
  v.hu.resize(static_cast<size_t>(v.voxels()));
  for (int64_t k = 0; k < v.shape[2]; ++k) {
    for (int64_t j = 0; j < v.shape[1]; ++j) {
      for (int64_t i = 0; i < v.shape[0]; ++i) {
        const double x = v.ijk_to_ras[0][0] * i + v.ijk_to_ras[0][3], y = v.ijk_to_ras[1][1] * j + v.ijk_to_ras[1][3];
        float hu = -1000;
        if (x * x / (85.0 * 85) + y * y / (60.0 * 60) <= 1) hu = 40;
        if ((x - 40) * (x - 40) + y * y < 25 * 25) hu = -850;  // +x = patient's right
        if (x < -40 && x > -70 && std::fabs(y) < 15) hu = 700;  // patient's left
        v.at(i, j, k) = hu;
      }
    }
  }
  return v;
}

std::vector<uint8_t> DecodePng(const std::string& bytes, int* w, int* h) {
  png_image img{};
  img.version = PNG_IMAGE_VERSION;
  REQUIRE(png_image_begin_read_from_memory(&img, bytes.data(), bytes.size()));
  img.format = PNG_FORMAT_GRAY;
  std::vector<uint8_t> px(PNG_IMAGE_SIZE(img));
  REQUIRE(png_image_finish_read(&img, nullptr, px.data(), 0, nullptr));
  *w = static_cast<int>(img.width);
  *h = static_cast<int>(img.height);
  return px;
}

TEST_CASE("preview keeps the field of view at <= 128 voxels in-plane, in LPS") {
  auto p = MakePreview(Phantom());
  REQUIRE(p.ok());
  CHECK(p->shape[0] == 128);
  CHECK(p->shape[1] == 100);
  CHECK(p->shape[2] == 20);  // 100 mm at 5 mm
  CHECK(p->spacing_mm[0] == doctest::Approx(1.5));
  // LPS: i = 0 is the patient's right, where the lung is; voxel (32, 50) sits in it.
  const size_t mid = static_cast<size_t>((10 * 100 + 50) * 128);
  CHECK(p->voxels[mid + 37] == -850);
  CHECK(p->voxels[mid + 100] == 700);   // bone on the patient's left
  CHECK(p->voxels[mid + 64] == 40);     // body
  CHECK(p->voxels[mid + 0] == -1000);   // air
  CHECK(p->z0_mm == doctest::Approx(-300 - 1.25 + 2.5).epsilon(0.02));
}

TEST_CASE("axial PNG at a z in mm, with named windows, in radiological display") {
  auto p = MakePreview(Phantom());
  REQUIRE(p.ok());
  auto lung = NamedWindow("lung");
  REQUIRE(lung.ok());
  auto png = AxialSlicePng(*p, -250, *lung);
  REQUIRE_MESSAGE(png.ok(), png.status().ToString());
  std::ofstream("/tmp/ctdb-preview-test.png", std::ios::binary) << *png;
  int w = 0, h = 0;
  const auto px = DecodePng(*png, &w, &h);
  CHECK(w == 128);
  CHECK(h == 100);
  // Lung (-850 HU) on the image's left (patient's right), darker than body; bone bright.
  CHECK(px[50 * 128 + 37] < px[50 * 128 + 64]);
  CHECK(px[50 * 128 + 100] > 200);
  CHECK(px[50 * 128 + 0] == 60);  // air: (-1000 - (-1350)) / 1500 * 255
  auto bone = NamedWindow("bone");
  REQUIRE(bone.ok());
  auto png2 = AxialSlicePng(*p, -250, *bone);
  REQUIRE(png2.ok());
  const auto px2 = DecodePng(*png2, &w, &h);
  CHECK(px2[50 * 128 + 37] < 20);  // lung black in the bone window

  CHECK(AxialSlicePng(*p, 500, *lung).status().IsInvalidArgument());
  CHECK(NamedWindow("brain").status().IsInvalidArgument());
  CHECK(AxialSlicePng(Preview{}, 0, *lung).status().IsInvalidArgument());
}

}  // namespace
}  // namespace ctdb::embed
