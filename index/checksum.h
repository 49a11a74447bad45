// CRC32C (Castagnoli), used for index snapshots and stored values.
// Every read of a stored study checks one, so it is on the query path: the
// x86 SSE4.2 crc32 instruction when the CPU has it (checked once at run
// time), a byte table otherwise; both give the same value.
// Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ctdb::index {

uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

// The byte-table version alone, whatever the CPU (tests compare the two).
uint32_t Crc32cPortable(const void* data, size_t n, uint32_t crc = 0);

}  // namespace ctdb::index
