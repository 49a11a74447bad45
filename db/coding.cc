#include "db/coding.h"

#include "index/checksum.h"

namespace ctdb::db {
std::string Writer::Finish() {
  uint32_t crc = index::Crc32c(out_.data(), out_.size());
  PutU32(crc);
  return std::move(out_);
}

Status Reader::Open(std::string_view value, uint8_t max_version, std::string what, Reader* out) {
  out->what_ = std::move(what);
  if (value.size() < 5) return out->Error("value of " + std::to_string(value.size()) + " bytes is truncated");
  uint32_t stored;
  std::memcpy(&stored, value.data() + value.size() - 4, 4);
  if (index::Crc32c(value.data(), value.size() - 4) != stored) return out->Error("checksum mismatch");
  out->version_ = static_cast<uint8_t>(value[0]);
  if (out->version_ == 0 || out->version_ > max_version) {
    return out->Error("unsupported value version " + std::to_string(out->version_) +
                      " (this build reads up to " + std::to_string(max_version) + ")");
  }
  out->data_ = value.substr(1, value.size() - 5);
  out->pos_ = 0;
  return Status::Ok();
}

bool Reader::GetRaw(void* p, size_t n) {
  if (n > remaining()) return false;
  if (n) std::memcpy(p, data_.data() + pos_, n);
  pos_ += n;
  return true;
}

bool Reader::GetString(std::string* s) {
  uint32_t n;
  if (!GetU32(&n) || n > remaining()) return false;
  s->assign(data_.data() + pos_, n);
  pos_ += n;
  return true;
}

bool Reader::GetStrings(std::vector<std::string>* v) {
  uint32_t n;
  if (!GetU32(&n) || n > remaining() / 4) return false;
  v->resize(n);
  for (auto& s : *v) {
    if (!GetString(&s)) return false;
  }
  return true;
}

bool Reader::GetFloats(std::vector<float>* v, size_t max_count) {
  uint32_t n;
  if (!GetU32(&n) || n > max_count || size_t(n) * 4 > remaining()) return false;
  v->resize(n);
  return GetRaw(v->data(), size_t(n) * 4);
}

Status Reader::Error(std::string_view problem) const {
  return Status::Corruption(what_ + ": " + std::string(problem));
}

std::string EncodeKeyU64(uint64_t v) {
  std::string s(8, '\0');
  for (int i = 7; i >= 0; --i) {
    s[i] = static_cast<char>(v & 0xFF);
    v >>= 8;
  }
  return s;
}

bool DecodeKeyU64(std::string_view s, uint64_t* v) {
  if (s.size() != 8) return false;
  uint64_t r = 0;
  for (char c : s) r = (r << 8) | static_cast<uint8_t>(c);
  *v = r;
  return true;
}

}  // namespace ctdb::db
