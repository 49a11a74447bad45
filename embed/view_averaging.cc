#include "embed/view_averaging.h"

#include <cmath>
#include <string>
#include <utility>

namespace ctdb::embed {
namespace {

// Adds b into a (same length: both come from one model).
void Accumulate(std::vector<float>* a, const std::vector<float>& b) {
  for (size_t i = 0; i < a->size() && i < b.size(); ++i) (*a)[i] += b[i];
}

void Normalize(std::vector<float>* v) {
  double n = 0;
  for (float x : *v) n += static_cast<double>(x) * x;
  if (n <= 0) return;
  const float inv = static_cast<float>(1.0 / std::sqrt(n));
  for (float& x : *v) x *= inv;
}

class ViewAveragingEncoder final : public Encoder {
 public:
  ViewAveragingEncoder(std::unique_ptr<Encoder> inner, int views) : inner_(std::move(inner)), views_(views) {}

  const ModelManifest& manifest() const override { return inner_->manifest(); }
  const std::string& id() const override { return inner_->id(); }

  Result<std::vector<VolumeEncoding>> EncodeVolumes(const std::vector<const Tensor3*>& volumes) override {
    std::vector<VolumeEncoding> out;
    out.reserve(volumes.size());
    const float pad = static_cast<float>(inner_->manifest().preprocess.pad_value);
    for (const Tensor3* volume : volumes) {
      std::vector<Tensor3> shifted;
      shifted.reserve(static_cast<size_t>(views_ - 1));
      std::vector<const Tensor3*> batch = {volume};
      for (int v = 1; v < views_; ++v) {
        const auto s = ViewShift(v);
        shifted.push_back(ShiftInPlane(*volume, s[0], s[1], pad));
      }
      for (const Tensor3& t : shifted) batch.push_back(&t);
      CTDB_ASSIGN_OR_RETURN(std::vector<VolumeEncoding> e, inner_->EncodeVolumes(batch));
      VolumeEncoding mean = std::move(e[0]);  // detections: the unshifted view's
      for (size_t v = 1; v < e.size(); ++v) {
        Accumulate(&mean.global, e[v].global);
        for (size_t s = 0; s < mean.slabs.size() && s < e[v].slabs.size(); ++s) {
          Accumulate(&mean.slabs[s].vector, e[v].slabs[s].vector);
        }
        for (size_t d = 0; d < mean.diseases.size() && d < e[v].diseases.size(); ++d) {
          Accumulate(&mean.diseases[d], e[v].diseases[d]);
        }
      }
      Normalize(&mean.global);
      for (auto& s : mean.slabs) Normalize(&s.vector);
      for (auto& d : mean.diseases) Normalize(&d);
      out.push_back(std::move(mean));
    }
    return out;
  }

  Result<std::vector<std::vector<float>>> EncodeTexts(const std::vector<std::string>& texts) override {
    return inner_->EncodeTexts(texts);
  }
  double VolumeFlops() const override { return views_ * inner_->VolumeFlops(); }
  double TextFlops(int tokens) const override { return inner_->TextFlops(tokens); }
  double LogitScale() const override { return inner_->LogitScale(); }

 private:
  const std::unique_ptr<Encoder> inner_;
  const int views_;
};

}  // namespace

std::array<int64_t, 2> ViewShift(int v) {
  static constexpr int64_t k = kViewShiftVoxels;
  static constexpr std::array<int64_t, 2> kShifts[kMaxViews] = {{0, 0}, {k, k}, {-k, -k}, {k, -k}, {-k, k}};
  return kShifts[v < 0 || v >= kMaxViews ? 0 : v];
}

Tensor3 ShiftInPlane(const Tensor3& t, int64_t dy, int64_t dx, float pad) {
  Tensor3 out = t;  // shape, spacing, slice positions
  const int64_t nx = t.shape[0], ny = t.shape[1], nz = t.shape[2];
  for (int64_t z = 0; z < nz; ++z) {
    for (int64_t y = 0; y < ny; ++y) {
      const int64_t sy = y - dy;
      float* row = out.data.data() + (z * ny + y) * nx;
      for (int64_t x = 0; x < nx; ++x) {
        const int64_t sx = x - dx;
        row[x] = (sy < 0 || sy >= ny || sx < 0 || sx >= nx) ? pad : t.data[static_cast<size_t>((z * ny + sy) * nx + sx)];
      }
    }
  }
  return out;
}

Result<std::unique_ptr<Encoder>> AverageViews(std::unique_ptr<Encoder> inner, int views) {
  if (views < 1 || views > kMaxViews) {
    return Status::InvalidArgument("views must be in [1, " + std::to_string(kMaxViews) + "], got " +
                                   std::to_string(views));
  }
  if (views == 1) return inner;
  return std::unique_ptr<Encoder>(new ViewAveragingEncoder(std::move(inner), views));
}

}  // namespace ctdb::embed
