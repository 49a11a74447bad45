// Helpers shared by the LibTorch-backed encoders and training: thread
// set-up, tensors to and from ctdb's plain vectors, tokenized batches, and
// weight-file identity. Internal to embed/.
#pragma once

#include <torch/types.h>

#include <string>
#include <vector>

#include "ctdb/result.h"
#include "embed/encoder.h"
#include "embed/tokenizer.h"

namespace ctdb::embed {

// (B, 1, Z, Y, X) from preprocessed volumes of one shape (copies).
torch::Tensor VolumesToTensor(const std::vector<const Tensor3*>& volumes);

// One row of a 1-D float tensor as a vector.
std::vector<float> ToVector(const torch::Tensor& row);

// L2-normalizes the last dimension.
torch::Tensor Normalize(const torch::Tensor& t);

struct TokenBatch {
  torch::Tensor ids;   // (B, L) int64, padded with [PAD]
  torch::Tensor mask;  // (B, L) int64, 1 for real tokens
  std::vector<int64_t> lengths;
};
TokenBatch TokenizeBatch(const WordPiece& tokenizer, const std::vector<std::string>& texts, int max_tokens);

// Texts tokenized in groups of similar length, each padded only to its own
// longest (a training batch pads ~8-token catalog phrases to ~100-token
// reports otherwise). Row r of the groups taken in turn is texts[order[r]].
// The grouping minimizes padded tokens plus `group_cost` tokens per group
// (one more forward call costs about that much).
struct TokenGroups {
  std::vector<TokenBatch> batches;
  std::vector<int64_t> order;
};
TokenGroups TokenizeByLength(const WordPiece& tokenizer, const std::vector<std::string>& texts, int max_tokens,
                             int64_t group_cost = 256);

// Slab features (S, d) of one volume: slab s spans model slices
// [s*n, (s+1)*n) with n = Z / S; its z is their mean, and slabs wholly in
// the padding outside the scan are dropped.
std::vector<SlabEncoding> SlabsOf(const torch::Tensor& slabs, const Tensor3& volume);

// The manifest fields that decide what vectors a model produces (input grid
// and scaling, tokenizer, slabs, diseases, architecture incl. HU windows), as
// text; name, version, description and file names are left out.
std::string ManifestFingerprint(const ModelManifest& manifest);

// "<name>@<version>#<16 hex digits>" hashing the manifest's fingerprint and
// the files' bytes (FNV-1a 64): the same weights read on another grid or
// through other HU windows give other vectors, so another id.
Result<std::string> ModelId(const ModelManifest& manifest, const std::vector<std::string>& files);

// Runs fn, turning LibTorch's exceptions (c10::Error) into a Status with
// `what` as context.
Status CatchTorch(const std::string& what, const std::function<Status()>& fn);

}  // namespace ctdb::embed
