// CRC32C (Castagnoli), used for index snapshots and stored values.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ctdb::index {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace ctdb::index
