// Encoder: a CT vision-language model behind one interface, whatever runs
// it (native torch::nn weights or TorchScript modules trained elsewhere).
// Volumes go in preprocessed per the manifest (embed/preprocess.h); texts go
// in raw and are tokenized with the model's WordPiece vocabulary.
//
// Thread contract: an Encoder is safe for concurrent use. Each forward pass
// uses LibTorch's intra-op thread pool (EncoderRuntime::threads), which is
// process-wide: with more than one thread, calls serialize on an internal
// mutex (two passes at once would only split the same cores); with one
// thread (the server's default) native passes run concurrently. Modules run in inference mode
// (no autograd state, dropout off), so forward() itself mutates nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ctdb/result.h"
#include "ctdb/study.h"
#include "embed/model_manifest.h"
#include "embed/preprocess.h"

namespace ctdb::embed {

struct EncoderRuntime {
  // LibTorch intra-op threads (it starts with 1 on this platform). 0 = the
  // hardware concurrency. Process-wide: the last encoder loaded wins.
  int threads = 0;
  // Views each volume is encoded as, averaged (embed/view_averaging.h):
  // 1 (default) = the volume alone; up to 5 adds copies shifted in-plane
  // by 3 model-grid voxels. Costs that many forward passes.
  int views = 1;
};

struct SlabEncoding {
  float z_mm = 0;  // patient z (superior, mm) of the slab's centre
  std::vector<float> vector;
};

// Every embedding is L2-normalized and has the manifest's dimension.
struct VolumeEncoding {
  std::vector<float> global;
  std::vector<SlabEncoding> slabs;           // ascending z, only slabs inside the scan
  std::vector<std::vector<float>> diseases;  // one per manifest disease (empty if the model has none)
  // The model's detector output (architecture.candidates), best first;
  // empty for a model without one.
  std::vector<Detection> detections;
};

class Encoder {
 public:
  virtual ~Encoder() = default;
  virtual const ModelManifest& manifest() const = 0;
  // Stable identity of the weights: "<name>@<version>#<crc32c of the weight files>".
  virtual const std::string& id() const = 0;
  // Each tensor must have the manifest's preprocessed size and spacing
  // (InvalidArgument otherwise). One forward pass per volume, so a volume's
  // embedding never depends on what it was batched with: identical bits for
  // identical input on one machine and thread count.
  virtual Result<std::vector<VolumeEncoding>> EncodeVolumes(const std::vector<const Tensor3*>& volumes) = 0;
  virtual Result<std::vector<std::vector<float>>> EncodeTexts(const std::vector<std::string>& texts) = 0;
  // Multiply-adds x 2 of one volume's forward pass; 0 when unknown
  // (TorchScript modules).
  virtual double VolumeFlops() const = 0;
  virtual double TextFlops(int tokens) const = 0;
  // 1/tau of the image-text similarity, for turning cosines into
  // probabilities (sigmoid(scale * (x.p+ - x.p-))). The learned one for
  // native models; 10 (CT-CLIP's order) when the module has none.
  virtual double LogitScale() const { return 10.0; }
};

// Loads the model in `dir` described by `manifest` (read by the caller).
// NotFound for missing files, InvalidArgument for a manifest the weights do
// not match, Corruption for unreadable weights.
Result<std::unique_ptr<Encoder>> LoadEncoder(const std::string& dir, const ModelManifest& manifest,
                                             const EncoderRuntime& runtime);

// Writes a freshly initialized native model (weights.pt and vocab.txt) for
// `manifest` into `dir`, deterministic for `seed`. The manifest.json is the
// caller's to write.
Status InitNativeModel(const std::string& dir, const ModelManifest& manifest, const std::vector<std::string>& vocab,
                       uint64_t seed);

// Sets LibTorch's intra-op threads (0 = hardware concurrency) and, once per
// process, a single inter-op thread (ctdb parallelizes across studies itself).
void ConfigureTorchThreads(int threads);

// Keeps memory LibTorch frees in the heap for its next tensors instead of
// handing it back to the kernel (glibc: no mmap for big blocks, no trim).
// A training step frees and re-allocates GB-sized tensors; by default each
// is a fresh mapping whose pages are faulted in and zeroed one by one again,
// which on a VM with costly page faults is most of the step
// (tools/bench-train.sh measures both). The cost: resident memory stays at
// its peak. Process-wide and for the process's owner to decide (ctdb train
// does); call before the big allocations. False where the C library is not
// glibc (nothing changed).
bool RetainFreedMemory();

// GFLOP/s of an n x n float32 matrix product through LibTorch on its
// current threads: the dense-compute ceiling an encoder is measured against.
double MatmulGflops(int64_t n, int repeats);

// Checks a manifest's values (positive sizes, a slab thickness the
// architecture produces, ...). InvalidArgument naming the field.
Status ValidateManifest(const ModelManifest& manifest);

}  // namespace ctdb::embed
