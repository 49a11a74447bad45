#include "api/src/normalize.h"

#include <cmath>

namespace ctdb {

Status NormalizeL2(const float* in, size_t d, const std::string& what, float* out) {
  double norm2 = 0;
  for (size_t i = 0; i < d; ++i) {
    if (!std::isfinite(in[i])) return Status::InvalidArgument(what + " contains a non-finite value");
    norm2 += double(in[i]) * double(in[i]);
  }
  if (!(norm2 > 0)) return Status::InvalidArgument(what + " is all zeros");
  const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
  for (size_t i = 0; i < d; ++i) out[i] = in[i] * inv;
  return Status::Ok();
}

}  // namespace ctdb
