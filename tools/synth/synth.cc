#include "tools/synth/synth.h"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

#include "embed/ctrate.h"
#include "embed/nifti_io.h"

namespace ctdb::synth {
namespace {

using Rng = std::mt19937_64;

double U(Rng& r, double lo, double hi) { return std::uniform_real_distribution<double>(lo, hi)(r); }
int I(Rng& r, int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(r); }
bool P(Rng& r, double p) { return U(r, 0, 1) < p; }
template <typename T>
const T& Pick(Rng& r, const std::vector<T>& v) { return v[static_cast<size_t>(I(r, 0, static_cast<int>(v.size()) - 1))]; }

// Deterministic per-cell noise for textures (emphysema, mosaic): no RNG state.
double Hash01(int64_t a, int64_t b, int64_t c, uint64_t salt) {
  uint64_t h = salt ^ 0x9E3779B97F4A7C15ull;
  for (int64_t v : {a, b, c}) {
    h ^= static_cast<uint64_t>(v) + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 31;
  }
  return static_cast<double>(h >> 11) / 9007199254740992.0;
}

struct Vec3 {
  double x, y, z;
};
double Dist2(const Vec3& a, const Vec3& b) {
  return (a.x - b.x) * (a.x - b.x) + (a.y - b.y) * (a.y - b.y) + (a.z - b.z) * (a.z - b.z);
}
// Squared distance from p to segment ab.
double SegDist2(const Vec3& p, const Vec3& a, const Vec3& b) {
  const Vec3 ab{b.x - a.x, b.y - a.y, b.z - a.z}, ap{p.x - a.x, p.y - a.y, p.z - a.z};
  const double len2 = ab.x * ab.x + ab.y * ab.y + ab.z * ab.z;
  const double t = len2 > 0 ? std::clamp((ap.x * ab.x + ap.y * ab.y + ap.z * ab.z) / len2, 0.0, 1.0) : 0;
  return Dist2(p, {a.x + t * ab.x, a.y + t * ab.y, a.z + t * ab.z});
}

enum Mask : uint8_t { kNone = 0, kRightLung = 1, kLeftLung = 2, kHeart = 3, kAorta = 4, kMediastinum = 5 };

// Lobe of a point in a lung (LPS mm; w = normalized height, +1 apex).
std::string Lobe(bool right, double w) {
  if (w > 0.35) return right ? "right upper lobe" : "left upper lobe";
  if (right && w > -0.1) return "right middle lobe";
  if (!right && w > -0.1) return "lingula";
  return right ? "right lower lobe" : "left lower lobe";
}

std::string Capital(std::string s) {
  if (!s.empty()) s[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[0])));
  return s;
}

struct Lesion {
  Vec3 c;
  double r;
};

}  // namespace

uint8_t LesionCode(const std::string& label) { return static_cast<uint8_t>(embed::CtRateLabelColumn(label) + 1); }

SynthStudy MakeStudy(uint64_t seed, int index, int n_total, const SynthOptions& o) {
  Rng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<uint64_t>(index) * 0xD1B54A32D192ED03ull + 1);
  SynthStudy s;
  const int n_valid = static_cast<int>(std::ceil(n_total * o.valid_fraction));
  const bool valid = index >= n_total - n_valid;
  const int pid = valid ? index - (n_total - n_valid) + 1 : index + 1;
  s.split = valid ? "valid" : "train";
  s.patient = s.split + "_" + std::to_string(pid);
  s.scan = s.patient + "_a";
  s.name = s.scan + "_1";

  // Acquisition.
  const double sxy = U(rng, 0.6, 0.9);
  const std::vector<double> z_choices = {1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 5.0};
  const double sz = Pick(rng, z_choices);
  const int64_t n = o.inplane;
  const double fov = static_cast<double>(n) * sxy;
  const double length = U(rng, 0.9, 1.3) * fov;  // chest length, scaled to the field of view
  const int64_t nz = std::clamp<int64_t>(static_cast<int64_t>(std::lround(length / sz)), 16, 200);
  embed::Volume& v = s.volume;
  v.shape = {n, n, nz};
  v.spacing_mm = {sxy, sxy, sz};
  const double x0 = -(static_cast<double>(n) - 1) / 2 * sxy, y0 = x0, z0 = U(rng, -400, -200);
  v.ijk_to_ras = embed::IdentityAffine();
  v.ijk_to_ras[0][0] = -sxy;  // i toward the patient's Left
  v.ijk_to_ras[1][1] = -sxy;  // j toward Posterior
  v.ijk_to_ras[2][2] = sz;    // k toward Superior
  v.ijk_to_ras[0][3] = -x0;
  v.ijk_to_ras[1][3] = -y0;
  v.ijk_to_ras[2][3] = z0;
  v.hu.assign(static_cast<size_t>(v.voxels()), -1000.0f);
  s.mask.assign(v.hu.size(), kNone);
  s.lesions.assign(v.hu.size(), 0);
  const double zmid = z0 + (static_cast<double>(nz) - 1) / 2 * sz, half_len = (static_cast<double>(nz) - 1) / 2 * sz;

  // Patient: size and position in the field of view.
  const double a = fov * U(rng, 0.36, 0.44), b = a * U(rng, 0.65, 0.8);
  const double cx = U(rng, -0.05, 0.05) * fov, cy = U(rng, -0.05, 0.05) * fov;
  const double noise_sigma = U(rng, 8, 20);
  // Lesions and small structures keep adult proportions: sizes are given for
  // an adult chest (half-width ~130 mm) and scaled to this body.
  const double sc = a / 130.0;
  s.sex = P(rng, 0.5) ? 'F' : 'M';
  s.age = I(rng, 25, 90);
  s.study_date = I(rng, 2018, 2024) * 10000 + I(rng, 1, 12) * 100 + I(rng, 1, 28);
  s.manufacturer = Pick(rng, std::vector<std::string>{"SIEMENS", "GE MEDICAL SYSTEMS", "PHILIPS", "TOSHIBA"});

  // Which abnormalities this study has.
  auto has = [&](double p) { return P(rng, p); };
  const bool nodule = has(0.25), effusion = has(0.2), cardiomegaly = has(0.2), peri = has(0.12),
             emphysema = has(0.2), consolidation = has(0.15), atelectasis = has(0.2), lymph = has(0.15),
             arterial = has(0.25), coronary = has(0.2), hernia = has(0.12), opacity = has(0.2),
             bronchiectasis = has(0.12), mosaic = has(0.12), material = has(0.12);
  const int effusion_side = I(rng, 0, 2);  // 0 right, 1 left, 2 bilateral
  const int effusion_amount = I(rng, 0, 2);  // small, moderate, large
  const double heart_scale = cardiomegaly ? U(rng, 1.25, 1.4) : U(rng, 0.9, 1.05);

  // Geometry helpers: normalized body coordinates.
  auto un = [&](double x) { return (x - cx) / a; };
  auto vn = [&](double y) { return (y - cy) / b; };
  auto wn = [&](double z) { return (z - zmid) / half_len; };  // -1 bottom .. +1 top
  const Vec3 heart_c{cx + 0.12 * a, cy - 0.2 * b, zmid - 0.35 * half_len};
  const double heart_r = 0.3 * a * heart_scale;
  const double aorta_r = 0.075 * a;
  const Vec3 desc_top{cx + 0.2 * a, cy + 0.42 * b, zmid + 0.55 * half_len};
  const Vec3 desc_bot{cx + 0.2 * a, cy + 0.42 * b, zmid - 0.95 * half_len};
  const Vec3 asc_bot{cx + 0.02 * a, cy - 0.2 * b, zmid - 0.2 * half_len};
  const Vec3 asc_top{cx + 0.02 * a, cy - 0.2 * b, zmid + 0.55 * half_len};
  const double trachea_r = 0.06 * a;
  const Vec3 trachea_top{cx, cy + 0.02 * b, zmid + 1.2 * half_len}, carina{cx, cy + 0.02 * b, zmid + 0.25 * half_len};
  const Vec3 right_bronchus{cx - 0.32 * a, cy + 0.02 * b, zmid + 0.05 * half_len};
  const Vec3 left_bronchus{cx + 0.32 * a, cy + 0.02 * b, zmid + 0.0 * half_len};
  auto in_lung = [&](double u, double vv, double w, bool right) {
    const double lu = right ? u + 0.45 : u - 0.45;
    const double wl = (w - 0.1) / 0.9;
    return (lu / 0.34) * (lu / 0.34) + ((vv + 0.02) / 0.66) * ((vv + 0.02) / 0.66) + wl * wl <= 1.0;
  };

  // Vessels: segments from each hilum to random points in its lung.
  std::vector<std::pair<Vec3, Vec3>> vessels;
  for (int side = 0; side < 2; ++side) {
    const Vec3 hilum{cx + (side ? 0.22 : -0.22) * a, cy, zmid + 0.05 * half_len};
    for (int t = 0; t < 7; ++t) {
      const Vec3 end{cx + (side ? 1 : -1) * U(rng, 0.3, 0.7) * a, cy + U(rng, -0.5, 0.55) * b,
                     zmid + U(rng, -0.7, 0.8) * half_len};
      vessels.push_back({hilum, end});
    }
  }

  // Lesions placed inside a chosen lobe.
  auto place_in_lung = [&](bool right, double w_lo, double w_hi) {
    for (int tries = 0; tries < 200; ++tries) {
      const double u = (right ? -0.45 : 0.45) + U(rng, -0.22, 0.22), vv = U(rng, -0.45, 0.45), w = U(rng, w_lo, w_hi);
      if (in_lung(u, vv, w, right)) return Vec3{cx + u * a, cy + vv * b, zmid + w * half_len};
    }
    return Vec3{cx + (right ? -0.45 : 0.45) * a, cy, zmid + (w_lo + w_hi) / 2 * half_len};
  };
  const bool nodule_right = P(rng, 0.5);
  const double nodule_w = U(rng, -0.6, 0.75);
  const Lesion nod{place_in_lung(nodule_right, nodule_w - 0.05, nodule_w + 0.05), U(rng, 3, 10) * sc};
  const bool cons_right = P(rng, 0.6);
  const Lesion cons{place_in_lung(cons_right, -0.6, 0.6), U(rng, 15, 28) * sc};
  const bool opac_right = P(rng, 0.5);
  const Lesion opac{place_in_lung(opac_right, -0.5, 0.7), U(rng, 18, 32) * sc};
  std::vector<Lesion> nodes;
  for (int t = 0, m = I(rng, 2, 3); t < m; ++t) {
    nodes.push_back({{cx + U(rng, -0.15, 0.15) * a, cy + U(rng, -0.15, 0.05) * b, zmid + U(rng, 0.05, 0.4) * half_len},
                     U(rng, 8, 14) * sc});
  }
  std::vector<Lesion> coronary_spots;
  for (int t = 0, m = I(rng, 2, 5); t < m; ++t) {
    const double th = U(rng, -1.2, 0.4), ph = U(rng, -0.6, 0.6);
    coronary_spots.push_back({{heart_c.x + heart_r * std::cos(th) * std::cos(ph), heart_c.y - heart_r * std::fabs(std::sin(th)) * 0.9,
                               heart_c.z + heart_r * std::sin(ph)}, std::max(1.0, U(rng, 2, 4) * sc)});
  }
  const Lesion hernia_l{{cx + 0.05 * a, cy + 0.25 * b, zmid - 0.8 * half_len}, U(rng, 20, 32) * sc};
  std::vector<std::pair<Vec3, Vec3>> bronchi;
  for (int t = 0, m = I(rng, 3, 4); t < m; ++t) {
    const bool right = P(rng, 0.5);
    const Vec3 start = place_in_lung(right, -0.55, -0.2), end = place_in_lung(right, -0.6, -0.15);
    bronchi.push_back({start, end});
  }
  const Vec3 line_a{cx - 0.3 * a, cy - 0.3 * b, zmid + 1.1 * half_len}, line_b{heart_c.x - 0.25 * heart_r, heart_c.y, heart_c.z + 0.8 * heart_r};
  const uint64_t salt = seed * 31 + static_cast<uint64_t>(index);
  const double vessel_r = std::max(0.8, 3.0 * sc), bronchus_r = std::max(1.5, 7.0 * sc),
               lumen_r = bronchus_r * 0.65, peri_mm = std::max(1.5, 8.0 * sc), line_r = std::max(0.7, 2.0 * sc);
  const double cell = std::max(1.5, 6.0 * sc);  // emphysema texture cell (mm)
  const double eff_depth = 0.15 + 0.12 * effusion_amount;  // fraction of AP extent

  // Lesion codes (LesionCode), looked up once.
  const uint8_t l_material = LesionCode("Medical material"), l_arterial = LesionCode("Arterial wall calcification"),
                l_peri = LesionCode("Pericardial effusion"), l_coronary = LesionCode("Coronary artery wall calcification"),
                l_hernia = LesionCode("Hiatal hernia"), l_lymph = LesionCode("Lymphadenopathy"),
                l_emphysema = LesionCode("Emphysema"), l_atelectasis = LesionCode("Atelectasis"),
                l_nodule = LesionCode("Lung nodule"), l_opacity = LesionCode("Lung opacity"),
                l_effusion = LesionCode("Pleural effusion"), l_consolidation = LesionCode("Consolidation"),
                l_bronchiectasis = LesionCode("Bronchiectasis");

  std::normal_distribution<float> noise(0, static_cast<float>(noise_sigma));
  size_t o_idx = 0;
  for (int64_t k = 0; k < nz; ++k) {
    const double z = z0 + static_cast<double>(k) * sz, w = wn(z);
    for (int64_t j = 0; j < n; ++j) {
      const double y = y0 + static_cast<double>(j) * sxy, vv = vn(y);
      for (int64_t i = 0; i < n; ++i, ++o_idx) {
        const double x = x0 + static_cast<double>(i) * sxy, u = un(x);
        const Vec3 p{x, y, z};
        float hu = -1000;
        uint8_t m = kNone;
        uint8_t les = 0;  // the lesion that drew hu last; whatever draws over it clears it
        const double r2 = u * u + vv * vv;
        if (r2 <= 1.0) {
          hu = r2 > std::pow(1.0 - 7.0 / a, 2) ? -100.0f : 40.0f;  // subcutaneous fat, then muscle
          // Ribs: posterior-lateral arcs every 22 mm.
          const double band = std::fmod(z - z0 + 1000 * 22, 22.0);
          if (r2 > 0.74 && r2 < 0.84 && band < 7 && vv > -0.6) hu = 700;
          // Spine: vertebral body with cortex.
          const double sd = std::sqrt((u * u) + ((vv - 0.72) / 0.9) * ((vv - 0.72) / 0.9) * (b * b) / (a * a));
          if (sd < 0.13) hu = sd > 0.105 ? 800.0f : 300.0f;
          const bool right_lung = in_lung(u, vv, w, true), left_lung = in_lung(u, vv, w, false);
          const bool in_heart = Dist2(p, heart_c) < heart_r * heart_r * (1.0 + 0.0);
          if ((right_lung || left_lung) && !in_heart) {
            const bool right = right_lung;
            m = right ? kRightLung : kLeftLung;
            hu = -850;
            if (mosaic) hu = Hash01(static_cast<int64_t>(x / (3 * cell)), static_cast<int64_t>(y / (3 * cell)), static_cast<int64_t>(z / (3 * cell)), salt) < 0.5 ? -920.0f : -760.0f;
            if (emphysema && w > -0.1 && Hash01(static_cast<int64_t>(x / cell), static_cast<int64_t>(y / cell), static_cast<int64_t>(z / cell), salt + 1) < 0.3) {
              hu = -975;
              les = l_emphysema;
            }
            for (const auto& [va, vb] : vessels) {
              if (SegDist2(p, va, vb) < vessel_r * vessel_r) {
                hu = 40;
                les = 0;
                break;
              }
            }
            if (nodule && right == nodule_right && Dist2(p, nod.c) < nod.r * nod.r) {
              hu = 45;
              les = l_nodule;
            }
            if (consolidation && right == cons_right && Dist2(p, cons.c) < cons.r * cons.r) {
              hu = 35;
              les = l_consolidation;
            }
            if (opacity && right == opac_right && Dist2(p, opac.c) < opac.r * opac.r && hu < -600) {
              hu = -550;
              les = l_opacity;
            }
            if (atelectasis && w < -0.45 && vv > 0.3) {
              hu = 25;
              les = l_atelectasis;
            }
            if (bronchiectasis) {
              for (const auto& [ba, bb] : bronchi) {
                const double d2 = SegDist2(p, ba, bb);
                if (d2 < bronchus_r * bronchus_r) {
                  hu = d2 < lumen_r * lumen_r ? -960.0f : 60.0f;
                  les = l_bronchiectasis;
                }
              }
            }
            const bool eff_here = effusion && (effusion_side == 2 || (effusion_side == 0) == right);
            if (eff_here && vv > 0.64 - eff_depth * 1.3 && w < 0.5) {
              hu = 12;
              les = l_effusion;
            }
          }
          if (in_heart) {
            hu = 40;
            m = kHeart;
            les = 0;  // an enlarged heart is an organ, not a lesion: the organ mask has it
          } else if (peri && Dist2(p, heart_c) < (heart_r + peri_mm) * (heart_r + peri_mm)) {
            hu = 10;
            m = kHeart;
            les = l_peri;
          }
          if (coronary) {
            for (const auto& c : coronary_spots) {
              if (Dist2(p, c.c) < c.r * c.r) {
                hu = 750;
                les = l_coronary;
              }
            }
          }
          // Aorta (descending, ascending and the arch joining them).
          const double da = std::min(SegDist2(p, desc_top, desc_bot), SegDist2(p, asc_bot, asc_top));
          const double arch = SegDist2(p, asc_top, desc_top);
          if (std::min(da, arch) < aorta_r * aorta_r) {
            hu = 45;
            m = kAorta;
            les = 0;
            if (arterial && std::min(da, arch) > (aorta_r - 1.5) * (aorta_r - 1.5) &&
                Hash01(static_cast<int64_t>(x / 2), static_cast<int64_t>(y / 2), static_cast<int64_t>(z / 2), salt + 2) < 0.35) {
              hu = 650;
              les = l_arterial;
            }
          }
          // Airways: trachea, then the main bronchi.
          const double tr = std::min({SegDist2(p, trachea_top, carina), SegDist2(p, carina, right_bronchus),
                                      SegDist2(p, carina, left_bronchus)});
          if (tr < trachea_r * trachea_r) {
            hu = tr < (trachea_r - 1.5) * (trachea_r - 1.5) ? -1000.0f : 50.0f;
            les = 0;
          }
          if (m == kNone && std::fabs(u) < 0.25 && vv > -0.6 && vv < 0.5 && w > -0.85 && w < 0.8 && hu > -200 && hu < 200) {
            m = kMediastinum;
            // Mediastinal fat around the vessels and airways: lymph nodes
            // (and a real radiologist) need that contrast to be seen at all.
            if (hu > 0 && hu < 100) {
              hu = -90;
              les = 0;
            }
          }
          if (lymph) {
            for (const auto& nd : nodes) {
              if (Dist2(p, nd.c) < nd.r * nd.r) {
                hu = 38;
                les = l_lymph;
              }
            }
          }
          if (hernia && Dist2(p, hernia_l.c) < hernia_l.r * hernia_l.r) {
            hu = z > hernia_l.c.z ? -900.0f : 20.0f;
            les = l_hernia;
          }
          if (material && SegDist2(p, line_a, line_b) < line_r * line_r) {
            hu = 2500;
            les = l_material;
          }
        }
        v.hu[o_idx] = hu + (hu > -1000 || r2 <= 1.0 ? noise(rng) : noise(rng) * 0.3f);
        s.mask[o_idx] = m;
        s.lesions[o_idx] = les;
      }
    }
  }

  // Report.
  auto k_of = [&](double z) { return std::clamp<int>(static_cast<int>(std::lround((z - z0) / sz)), 0, static_cast<int>(nz) - 1); };
  std::vector<std::string> fs, imp;
  auto pos = [&](const char* label) { s.labels.push_back(label); };
  auto neg = [&](double p, const std::vector<std::string>& phrases) {
    if (P(rng, p)) fs.push_back(Pick(rng, phrases));
  };
  fs.push_back(Pick(rng, std::vector<std::string>{"Trachea and both main bronchi are patent.",
                                                   "The trachea and main bronchi are open.",
                                                   "Central airways are patent."}));
  if (material) {
    pos("Medical material");
    fs.push_back(Pick(rng, std::vector<std::string>{"A right-sided central venous catheter terminates near the cavoatrial junction.",
                                                     "Central venous catheter in place."}));
  }
  const char* sizes[] = {"small", "moderate", "large"};
  if (effusion) {
    pos("Pleural effusion");
    const std::string side = effusion_side == 2 ? "bilateral" : effusion_side == 0 ? "right" : "left";
    const std::string size_word = sizes[effusion_amount];
    fs.push_back(Pick(rng, std::vector<std::string>{Capital(size_word) + " " + side + " pleural effusion.",
                                                     "There is a " + size_word + " " + side + " pleural effusion."}));
    imp.push_back(Pick(rng, std::vector<std::string>{Capital(side) + " pleural effusion",
                                                      Capital(size_word) + " " + side + " pleural effusion"}));
  } else {
    neg(0.6, {"No pleural effusion.", "No pleural effusion or pneumothorax.", "There is no pleural effusion."});
  }
  if (cardiomegaly) {
    pos("Cardiomegaly");
    fs.push_back(Pick(rng, std::vector<std::string>{"Cardiomegaly.", "The heart is enlarged.", "Cardiac enlargement is noted."}));
    imp.push_back(Pick(rng, std::vector<std::string>{"Cardiomegaly", "Enlarged heart"}));
  } else {
    neg(0.6, {"Heart size is normal.", "The heart is not enlarged.", "Normal heart size."});
  }
  if (peri) {
    pos("Pericardial effusion");
    fs.push_back(Pick(rng, std::vector<std::string>{"Small pericardial effusion.", "Pericardial effusion is present."}));
    imp.push_back(Pick(rng, std::vector<std::string>{"Pericardial effusion", "Small pericardial effusion"}));
  } else {
    neg(0.4, {"No pericardial effusion.", "There is no pericardial effusion."});
  }
  if (nodule) {
    pos("Lung nodule");
    const int k = k_of(nod.c.z);
    const std::string lobe = Lobe(nodule_right, wn(nod.c.z));
    const int mm = static_cast<int>(std::lround(2 * nod.r));
    const std::string ref = "(series 2, image " + std::to_string(k + 1) + ")";
    fs.push_back(Pick(rng, std::vector<std::string>{"A " + std::to_string(mm) + " mm nodule in the " + lobe + " " + ref + ".",
                                                     "There is a " + std::to_string(mm) + " mm solid nodule in the " + lobe + " " + ref + ".",
                                                     "Nodule measuring " + std::to_string(mm) + " mm in the " + lobe + " " + ref + "."}));
    s.referenced_slices.push_back({"Lung nodule", k});
    imp.push_back(Pick(rng, std::vector<std::string>{std::to_string(mm) + " mm " + lobe + " nodule",
                                                      std::to_string(mm) + " mm nodule in the " + lobe + ", follow-up recommended"}));
  } else {
    neg(0.5, {"No pulmonary nodule.", "No suspicious pulmonary nodules.", "There is no nodule."});
  }
  if (emphysema) {
    pos("Emphysema");
    fs.push_back(Pick(rng, std::vector<std::string>{"Centrilobular emphysema in both upper lobes.", "Emphysematous changes in the upper lungs."}));
    imp.push_back(Pick(rng, std::vector<std::string>{"Emphysema", "Centrilobular emphysema"}));
  } else {
    neg(0.3, {"No emphysema."});
  }
  if (consolidation) {
    pos("Consolidation");
    const int k = k_of(cons.c.z);
    const std::string lobe = Lobe(cons_right, wn(cons.c.z));
    fs.push_back("Consolidation in the " + lobe + " (series 2, image " + std::to_string(k + 1) + ").");
    s.referenced_slices.push_back({"Consolidation", k});
    imp.push_back(Pick(rng, std::vector<std::string>{"Consolidation in the " + lobe, Capital(lobe) + " consolidation"}));
  } else {
    neg(0.4, {"No consolidation.", "No focal consolidation."});
  }
  if (opacity) {
    pos("Lung opacity");
    const std::string lobe = Lobe(opac_right, wn(opac.c.z));
    fs.push_back("Ground-glass opacity in the " + lobe + ".");
    imp.push_back(Pick(rng, std::vector<std::string>{"Ground-glass opacity in the " + lobe, Capital(lobe) + " ground-glass opacity"}));
  }
  if (atelectasis) {
    pos("Atelectasis");
    fs.push_back(Pick(rng, std::vector<std::string>{"Mild bibasilar atelectasis.", "Dependent atelectasis at both lung bases."}));
    imp.push_back(Pick(rng, std::vector<std::string>{"Bibasilar atelectasis", "Atelectasis at the lung bases"}));
  } else {
    neg(0.3, {"No atelectasis."});
  }
  if (bronchiectasis) {
    pos("Bronchiectasis");
    fs.push_back("Cylindrical bronchiectasis in the lower lobes.");
    imp.push_back(Pick(rng, std::vector<std::string>{"Bronchiectasis", "Lower lobe bronchiectasis"}));
  }
  if (mosaic) {
    pos("Mosaic attenuation pattern");
    fs.push_back("Mosaic attenuation of the lung parenchyma.");
    imp.push_back(Pick(rng, std::vector<std::string>{"Mosaic attenuation pattern", "Mosaic attenuation of the lungs"}));
  }
  if (lymph) {
    pos("Lymphadenopathy");
    fs.push_back(Pick(rng, std::vector<std::string>{"Mediastinal lymphadenopathy, largest node 15 mm.", "Enlarged mediastinal lymph nodes."}));
    imp.push_back(Pick(rng, std::vector<std::string>{"Mediastinal lymphadenopathy", "Enlarged mediastinal lymph nodes"}));
  } else {
    neg(0.5, {"No mediastinal lymphadenopathy.", "No pathologically enlarged lymph nodes."});
  }
  if (arterial) {
    pos("Arterial wall calcification");
    fs.push_back(Pick(rng, std::vector<std::string>{"Atherosclerotic calcification of the aortic wall.", "Aortic calcification."}));
    imp.push_back(Pick(rng, std::vector<std::string>{"Aortic atherosclerosis", "Atherosclerotic calcification of the aorta"}));
  }
  if (coronary) {
    pos("Coronary artery wall calcification");
    fs.push_back("Coronary artery calcification.");
    imp.push_back(Pick(rng, std::vector<std::string>{"Coronary artery calcification", "Coronary calcification"}));
  }
  if (hernia) {
    pos("Hiatal hernia");
    fs.push_back(Pick(rng, std::vector<std::string>{"Small hiatal hernia.", "Hiatal hernia is present."}));
    imp.push_back("Hiatal hernia");
  } else {
    neg(0.3, {"No hiatal hernia."});
  }
  // Support devices close the impression, as radiologists list them.
  if (material) imp.push_back(Pick(rng, std::vector<std::string>{"Central venous catheter in place", "Central venous catheter"}));
  fs.push_back(Pick(rng, std::vector<std::string>{"Thoracic vertebrae are intact.", "Osseous structures are unremarkable."}));
  // Order the findings sentences by a light shuffle, keeping airways first.
  std::shuffle(fs.begin() + 1, fs.end() - 1, rng);
  for (const auto& f : fs) s.findings += (s.findings.empty() ? "" : " ") + f;
  if (imp.empty()) {
    s.impression = Pick(rng, std::vector<std::string>{"No acute cardiopulmonary abnormality.", "Normal chest CT."});
  } else {
    for (size_t t = 0; t < imp.size(); ++t) s.impression += std::to_string(t + 1) + ". " + imp[t] + ". ";
    s.impression.pop_back();
  }
  s.clinical_information = Pick(rng, std::vector<std::string>{"Cough.", "Dyspnea, evaluate for effusion.", "Follow-up.",
                                                               "Chest pain.", "Fever, rule out pneumonia."});
  char tech[96];
  std::snprintf(tech, sizeof(tech), "Non-contrast chest CT, axial images reconstructed at %.2g mm.", sz);
  s.technique = tech;
  std::sort(s.labels.begin(), s.labels.end(), [](const std::string& x, const std::string& y) {
    auto idx = [](const std::string& l) {
      const int c = embed::CtRateLabelColumn(l);
      return c < 0 ? 99 : c;
    };
    return idx(x) < idx(y);
  });
  return s;
}

namespace {

std::string CsvField(const std::string& f) {
  if (f.find_first_of(",\"\n\r") == std::string::npos) return f;
  std::string out = "\"";
  for (char c : f) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct Rows {
  std::string reports, metadata, labels;
};

}  // namespace

Status Synthesize(const SynthOptions& o, const std::function<void(int, int)>& progress) {
  namespace fs = std::filesystem;
  if (o.out.empty()) return Status::InvalidArgument("synth needs an output folder");
  if (o.n < 1 || o.n > 1000000) return Status::InvalidArgument("synth --n must be in [1, 1000000]");
  if (o.inplane < 32 || o.inplane > 512) return Status::InvalidArgument("synth in-plane size must be in [32, 512]");
  if (!(o.valid_fraction >= 0 && o.valid_fraction < 1)) return Status::InvalidArgument("valid fraction must be in [0, 1)");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return Status::IOError("cannot create " + o.out + ": " + ec.message());
  std::vector<Rows> rows(static_cast<size_t>(o.n));
  std::vector<std::string> splits(static_cast<size_t>(o.n));
  std::atomic<int> next{0}, done{0};
  std::mutex mu;
  Status first_error;
  const int threads = o.threads > 0 ? o.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  auto work = [&] {
    for (int idx; (idx = next++) < o.n;) {
      SynthStudy st = MakeStudy(o.seed, idx, o.n, o);
      const fs::path dir = fs::path(o.out) / st.split / st.patient / st.scan;
      fs::create_directories(dir, ec);
      // Stored values = HU + 1024, no scaling in the header (as CT-RATE ships them).
      embed::Volume stored = st.volume;
      for (float& x : stored.hu) x += 1024;
      Status s = embed::WriteNifti((dir / (st.name + ".nii.gz")).string(), stored, embed::NiftiType::kInt16);
      embed::Volume mask = st.volume;
      for (size_t t = 0; t < mask.hu.size(); ++t) mask.hu[t] = st.mask[t];
      if (s.ok()) s = embed::WriteNifti((dir / (st.name + "_mask.nii.gz")).string(), mask, embed::NiftiType::kUint8);
      for (size_t t = 0; t < mask.hu.size(); ++t) mask.hu[t] = st.lesions[t];
      if (s.ok()) s = embed::WriteNifti((dir / (st.name + "_lesion_mask.nii.gz")).string(), mask, embed::NiftiType::kUint8);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        if (first_error.ok()) first_error = s;
        return;
      }
      const std::string vol = st.name + ".nii.gz";
      Rows& r = rows[static_cast<size_t>(idx)];
      splits[static_cast<size_t>(idx)] = st.split;
      r.reports = vol + "," + CsvField(st.clinical_information) + "," + CsvField(st.technique) + "," +
                  CsvField(st.findings) + "," + CsvField(st.impression) + "\n";
      char age[8], xy[64], zs[32];
      std::snprintf(age, sizeof(age), "%03dY", st.age);
      std::snprintf(xy, sizeof(xy), "[%.4f, %.4f]", st.volume.spacing_mm[0], st.volume.spacing_mm[1]);
      std::snprintf(zs, sizeof(zs), "%.4g", st.volume.spacing_mm[2]);
      r.metadata = vol + "," + CsvField(st.manufacturer) + "," + std::string(1, st.sex) + "," + age + "," +
                   std::to_string(st.study_date) + "," + CsvField(xy) + "," + zs + ",1,-1024," +
                   std::to_string(st.volume.shape[1]) + "," + std::to_string(st.volume.shape[0]) + "," +
                   std::to_string(st.volume.shape[2]) + "\n";
      r.labels = vol;
      for (int t = 0; t < embed::kNumCtRateLabels; ++t) {
        r.labels += std::find(st.labels.begin(), st.labels.end(), embed::kCtRateLabels[t]) != st.labels.end() ? ",1" : ",0";
      }
      r.labels += "\n";
      const int d = ++done;
      if (progress) {
        std::lock_guard<std::mutex> lock(mu);
        progress(d, o.n);
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(work);
  for (auto& th : pool) th.join();
  if (!first_error.ok()) return first_error;
  for (const char* split : {"train", "valid"}) {
    std::string reports = "VolumeName,ClinicalInformation_EN,Technique_EN,Findings_EN,Impressions_EN\n";
    std::string metadata =
        "VolumeName,Manufacturer,PatientSex,PatientAge,StudyDate,XYSpacing,ZSpacing,RescaleSlope,RescaleIntercept,"
        "Rows,Columns,NumberofSlices\n";
    std::string labels = "VolumeName";
    for (const char* l : embed::kCtRateLabels) labels += std::string(",") + l;
    labels += "\n";
    for (int idx = 0; idx < o.n; ++idx) {
      if (splits[static_cast<size_t>(idx)] != split) continue;
      reports += rows[static_cast<size_t>(idx)].reports;
      metadata += rows[static_cast<size_t>(idx)].metadata;
      labels += rows[static_cast<size_t>(idx)].labels;
    }
    for (const auto& [file, text] : {std::pair{std::string(split) + "_reports.csv", reports},
                                     std::pair{std::string(split) + "_metadata.csv", metadata},
                                     std::pair{std::string(split) + "_predicted_labels.csv", labels}}) {
      std::ofstream f(fs::path(o.out) / file, std::ios::binary | std::ios::trunc);
      f << text;
      if (!f) return Status::IOError("writing " + (fs::path(o.out) / file).string());
    }
  }
  return Status::Ok();
}

}  // namespace ctdb::synth
