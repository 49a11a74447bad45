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

}  // namespace ctdb::embed
