#include "embed/volume.h"

#include <cmath>

namespace ctdb::embed {

Affine IdentityAffine() {
  Affine a{};
  for (int i = 0; i < 4; ++i) a[i][i] = 1;
  return a;
}

std::string OrientationCode(const Affine& m) {
  static const char kPos[3] = {'R', 'A', 'S'}, kNeg[3] = {'L', 'P', 'I'};
  std::string code;
  for (int axis = 0; axis < 3; ++axis) {
    int best = 0;
    for (int w = 1; w < 3; ++w) {
      if (std::fabs(m[w][axis]) > std::fabs(m[best][axis])) best = w;
    }
    code += m[best][axis] >= 0 ? kPos[best] : kNeg[best];
  }
  return code;
}

void OverrideRescale(Volume* v, double slope, double intercept) {
  for (float& x : v->hu) {
    const double stored = (static_cast<double>(x) - v->rescale_intercept) / v->rescale_slope;
    x = static_cast<float>(slope * stored + intercept);
  }
  v->rescale_slope = slope;
  v->rescale_intercept = intercept;
}

void OverrideSpacing(Volume* v, const std::array<double, 3>& spacing_mm) {
  for (int a = 0; a < 3; ++a) {
    if (!(spacing_mm[a] > 0)) continue;
    const double len = std::sqrt(v->ijk_to_ras[0][a] * v->ijk_to_ras[0][a] + v->ijk_to_ras[1][a] * v->ijk_to_ras[1][a] +
                                 v->ijk_to_ras[2][a] * v->ijk_to_ras[2][a]);
    if (len > 0) {
      for (int r = 0; r < 3; ++r) v->ijk_to_ras[r][a] *= spacing_mm[a] / len;
    }
    v->spacing_mm[a] = spacing_mm[a];
  }
}

}  // namespace ctdb::embed
