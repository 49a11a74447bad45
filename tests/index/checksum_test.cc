// CRC32C: the published check value, and the hardware path equal to the
// byte table at every length and alignment, chained or in one call.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <vector>

#include "index/checksum.h"

namespace ctdb::index {
namespace {

TEST_CASE("crc32c: the Castagnoli check value, both paths") {
  const char* s = "123456789";
  CHECK(Crc32c(s, 9) == 0xE3069283u);
  CHECK(Crc32cPortable(s, 9) == 0xE3069283u);
  CHECK(Crc32c(s, 0) == 0u);
  // 32 zero bytes (RFC 3720's first example).
  const std::vector<uint8_t> zeros(32, 0);
  CHECK(Crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
}

TEST_CASE("crc32c: the fast path equals the table at every length, alignment and split") {
  std::mt19937 rng(7);
  std::vector<uint8_t> buf(4096 + 16);
  for (auto& b : buf) b = static_cast<uint8_t>(rng());
  for (size_t offset = 0; offset < 8; ++offset) {
    for (size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{63}, size_t{64}, size_t{1000}, size_t{4096}}) {
      CAPTURE(offset);
      CAPTURE(n);
      const uint8_t* p = buf.data() + offset;
      const uint32_t whole = Crc32c(p, n);
      CHECK(whole == Crc32cPortable(p, n));
      const size_t half = n / 2;
      CHECK(Crc32c(p + half, n - half, Crc32c(p, half)) == whole);  // chained, as snapshots are read
    }
  }
  // One flipped bit changes it.
  std::vector<uint8_t> copy(buf.begin(), buf.begin() + 100);
  const uint32_t before = Crc32c(copy.data(), copy.size());
  copy[50] ^= 0x10;
  CHECK(Crc32c(copy.data(), copy.size()) != before);
}

}  // namespace
}  // namespace ctdb::index
