// L2 normalization of embeddings at the API boundary: every stored vector and
// every query is unit length, so inner products are cosine similarities.
#pragma once

#include <cstddef>
#include <string>

#include "ctdb/status.h"

namespace ctdb {

// Writes in[0..d) scaled to unit L2 norm into out[0..d) (may alias in).
// InvalidArgument naming `what` for a non-finite value or an all-zero vector.
Status NormalizeL2(const float* in, size_t d, const std::string& what, float* out);

}  // namespace ctdb
