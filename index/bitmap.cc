#include "index/bitmap.h"

namespace ctdb::index {

void Bitmap::Resize(size_t n, bool value) {
  const size_t old = n_;
  bytes_.resize((n + 7) / 8, 0);
  n_ = n;
  // Keep the unused tail bits zero so Count() can popcount whole bytes.
  if (n < old && (n & 7)) bytes_[n >> 3] &= uint8_t((1u << (n & 7)) - 1);
  if (value) {
    for (size_t i = old; i < n; ++i) Set(i);
  }
}

size_t Bitmap::Count() const {
  size_t c = 0;
  for (uint8_t b : bytes_) c += static_cast<size_t>(__builtin_popcount(b));
  return c;
}

void Bitmap::And(const Bitmap& other) {
  const size_t common = std::min(bytes_.size(), other.bytes_.size());
  for (size_t i = 0; i < common; ++i) bytes_[i] &= other.bytes_[i];
  for (size_t i = common; i < bytes_.size(); ++i) bytes_[i] = 0;
  if (other.n_ < n_ && (other.n_ & 7) && (other.n_ >> 3) < bytes_.size()) {
    bytes_[other.n_ >> 3] &= uint8_t((1u << (other.n_ & 7)) - 1);
  }
}

}  // namespace ctdb::index
