// Growing a trained native model: onto a finer input grid (progressive
// resizing): the voxel spacing is divided by a factor per axis, the size
// multiplied by it, and one stem stage is put in front whose stride is the
// factor, so the token grid, the slabs and every later weight stay as they
// were. The new stage starts as a box average of each window channel (plus
// extra channels the next stage ignores at first): the grown model then
// computes what its base did on the same scan, and fine-tuning teaches the
// extra channels what the coarser grid averaged away (1-2 mm calcified
// coronaries and small nodules vanish at 1.5 x 1.5 x 3 mm). Or by a head
// (the detector head, architecture.detect.stage) that starts out adding
// nothing: CopyShared.
//
// Thread contract: pure functions of their arguments; GrowFromCoarser
// writes only into `grown`.
#pragma once

#include <array>

#include "ctdb/result.h"
#include "embed/model_manifest.h"
#include "embed/native_model.h"

namespace ctdb::embed {

// `base`'s layout at `factor` (z, y, x; each 1-4, not all 1) times finer
// input, the new first stem stage having `channels` outputs (at least one
// per input channel: the base model's view travels through those). Only
// native models with batch or no stem normalization can grow (a group
// norm mixes the channels the base's view must keep apart).
Result<ModelManifest> FinerInput(const ModelManifest& base, const std::array<int64_t, 3>& factor, int64_t channels);

// Copies `base`'s weights into `grown` (built from FinerInput(base's
// manifest)): every tensor of the same name and shape as is, the old first
// stage's kernel into the input channels the window channels arrive on.
// `sample` (B >= 2, 1, Z, Y, X) volumes at the fine grid set the new
// stage's normalization so that it passes its input through in training
// and in inference alike.
Status GrowFromCoarser(ClipModel& base, ClipModel& grown, const ModelManifest& fine, const torch::Tensor& sample);

// Copies every tensor of `from` into the same-named, same-shaped tensor of
// `to`, whose layout may add to `from`'s (a detector head): what `from`
// lacks keeps its initialization. A tensor of `from` with no such home is
// an error naming it.
Status CopyShared(ClipModel& from, ClipModel& to);

}  // namespace ctdb::embed
