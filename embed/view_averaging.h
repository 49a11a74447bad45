// Test-time augmentation: a decorator Encoder that encodes each volume as
// several views (the volume and copies shifted in-plane by a few voxels of
// the model grid) and averages their features. Training shifted volumes by
// up to 4 voxels (embed/trainer.cc, AugmentVolume), so each view is one the
// model learned to read; averaging them evens out what depends on where the
// patient happens to lie on the token grid. Costs `views` forward passes.
// Internal to embed/.
//
// Thread contract: as the wrapped Encoder's (the decorator keeps no state
// beyond its construction).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "embed/encoder.h"

namespace ctdb::embed {

// At most this many views: the volume plus the four diagonal shifts.
inline constexpr int kMaxViews = 5;
// How far the shifted views move (model-grid voxels along y and x).
inline constexpr int64_t kViewShiftVoxels = 3;

// The in-plane shift (dy, dx) of view `v` (0 = the volume itself).
std::array<int64_t, 2> ViewShift(int v);

// `t` with every voxel moved by (dy, dx) along (j, i); what moves in from
// outside is `pad`. Slice positions and spacing are kept.
Tensor3 ShiftInPlane(const Tensor3& t, int64_t dy, int64_t dx, float pad);

// Wraps `inner` so that EncodeVolumes averages `views` views (1..kMaxViews;
// 1 returns `inner` itself): the global, slab and disease features are the
// views' means, re-normalized to unit length; detections are the unshifted
// view's (their positions are where they are in the scan). Texts, id and
// manifest are the inner encoder's: the embeddings stay in one space.
// InvalidArgument for `views` out of range.
Result<std::unique_ptr<Encoder>> AverageViews(std::unique_ptr<Encoder> inner, int views);

}  // namespace ctdb::embed
