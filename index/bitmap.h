// A fixed-size bitmap, laid out as FAISS's IDSelectorBitmap expects
// (bit i = byte i/8, bit i%8).
//
// Thread contract: const methods are thread-safe; mutation needs exclusive access.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ctdb::index {

class Bitmap {
 public:
  Bitmap() = default;
  explicit Bitmap(size_t n, bool value = false) { Resize(n, value); }

  void Resize(size_t n, bool value = false);
  size_t size() const { return n_; }
  bool Test(size_t i) const { return i < n_ && (bytes_[i >> 3] >> (i & 7)) & 1; }
  void Set(size_t i) { bytes_[i >> 3] |= uint8_t(1u << (i & 7)); }
  void Clear(size_t i) { bytes_[i >> 3] &= uint8_t(~(1u << (i & 7))); }
  size_t Count() const;
  // this &= other over the common prefix; bits past other.size() are cleared.
  void And(const Bitmap& other);
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* mutable_data() { return bytes_.data(); }
  size_t MemoryBytes() const { return bytes_.capacity(); }

 private:
  size_t n_ = 0;
  std::vector<uint8_t> bytes_;
};

}  // namespace ctdb::index
