// Little-endian binary encoding helpers for stored values, with bounds-checked
// decoding and a CRC32C trailer. Every stored value is
//   [u8 value version][payload][u32 crc32c(version + payload)]
// so flipped bits and truncation decode to Corruption, never to garbage.
//
// Thread contract: Writer/Reader objects are single-threaded; functions are
// thread-safe.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ctdb/status.h"

namespace ctdb::db {

class Writer {
 public:
  explicit Writer(uint8_t version) { PutU8(version); }
  void PutU8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void PutU32(uint32_t v) { PutRaw(&v, 4); }
  void PutU64(uint64_t v) { PutRaw(&v, 8); }
  void PutI32(int32_t v) { PutRaw(&v, 4); }
  void PutI64(int64_t v) { PutRaw(&v, 8); }
  void PutF32(float v) { PutRaw(&v, 4); }
  void PutF64(double v) { PutRaw(&v, 8); }
  void PutString(std::string_view s) {
    PutU32(static_cast<uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  void PutStrings(const std::vector<std::string>& v) {
    PutU32(static_cast<uint32_t>(v.size()));
    for (const auto& s : v) PutString(s);
  }
  void PutFloats(const std::vector<float>& v) {
    PutU32(static_cast<uint32_t>(v.size()));
    PutRaw(v.data(), v.size() * sizeof(float));
  }
  void PutRaw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  // Appends the CRC trailer and returns the encoded value.
  std::string Finish();

 private:
  std::string out_;
};

class Reader {
 public:
  // Verifies the CRC trailer and the version byte (must be <= max_version).
  // `what` names the value in error messages, e.g. "record of row 17".
  static Status Open(std::string_view value, uint8_t max_version, std::string what, Reader* out);

  uint8_t version() const { return version_; }
  bool GetU8(uint8_t* v) { return GetRaw(v, 1); }
  bool GetU32(uint32_t* v) { return GetRaw(v, 4); }
  bool GetU64(uint64_t* v) { return GetRaw(v, 8); }
  bool GetI32(int32_t* v) { return GetRaw(v, 4); }
  bool GetI64(int64_t* v) { return GetRaw(v, 8); }
  bool GetF32(float* v) { return GetRaw(v, 4); }
  bool GetF64(double* v) { return GetRaw(v, 8); }
  bool GetString(std::string* s);
  // A counted list of strings (each takes >= 4 bytes: bounds the allocation).
  bool GetStrings(std::vector<std::string>* v);
  // Fails if the stored count exceeds max_count (guards allocations).
  bool GetFloats(std::vector<float>* v, size_t max_count);
  bool GetRaw(void* p, size_t n);
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }
  // Corruption naming the value, e.g. "record of row 17: truncated".
  Status Error(std::string_view problem) const;

 private:
  std::string_view data_;  // payload without version byte and trailer
  size_t pos_ = 0;
  uint8_t version_ = 0;
  std::string what_;
};

// Big-endian fixed-width integers as RocksDB keys, so byte order = numeric order.
std::string EncodeKeyU64(uint64_t v);
bool DecodeKeyU64(std::string_view s, uint64_t* v);

}  // namespace ctdb::db
