#include "api/src/server/upload.h"

#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace ctdb::server {
namespace fs = std::filesystem;
namespace {

uint32_t U32(const std::string& s, size_t at) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<size_t>(i)]);
  return v;
}
uint16_t U16(const std::string& s, size_t at) {
  return static_cast<uint16_t>(static_cast<unsigned char>(s[at]) | (static_cast<unsigned char>(s[at + 1]) << 8));
}

Status Bad(const std::string& why) { return Status::InvalidArgument("zip archive: " + why); }

Status Inflate(const char* in, size_t in_size, size_t out_size, std::string* out) {
  out->assign(out_size, '\0');
  z_stream zs;
  std::memset(&zs, 0, sizeof(zs));
  if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return Status::Internal("zlib inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in));
  zs.avail_in = static_cast<uInt>(in_size);
  zs.next_out = reinterpret_cast<Bytef*>(out->data());
  zs.avail_out = static_cast<uInt>(out_size);
  const int rc = inflate(&zs, Z_FINISH);
  const size_t produced = out_size - zs.avail_out;
  inflateEnd(&zs);
  if (rc != Z_STREAM_END || produced != out_size) return Bad("a deflated entry does not match its stated size");
  return Status::Ok();
}

}  // namespace

Result<ScratchDir> ScratchDir::Create(const std::string& base) {
  std::error_code ec;
  const fs::path b = base.empty() ? fs::temp_directory_path(ec) : fs::path(base);
  if (ec) return Status::IOError("no temp directory: " + ec.message());
  std::string templ = (b / "ctdb-upload-XXXXXX").string();
  if (mkdtemp(templ.data()) == nullptr) return Status::IOError("cannot create a scratch directory under " + b.string());
  return ScratchDir(templ);
}

ScratchDir::~ScratchDir() {
  if (path_.empty()) return;
  std::error_code ec;
  fs::remove_all(path_, ec);
}

Result<uint64_t> ExtractZip(const std::string& z, const std::string& dir, uint64_t max_bytes, uint64_t max_entries) {
  // End of central directory: the last "PK\5\6" within 64 KiB + 22 bytes.
  if (z.size() < 22) return Bad("too short");
  size_t eocd = std::string::npos;
  for (size_t i = z.size() - 22 + 1; i-- > 0 && z.size() - i <= 65557;) {
    if (U32(z, i) == 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd == std::string::npos) return Bad("no end-of-central-directory record (not a zip file?)");
  const uint16_t entries = U16(z, eocd + 10);
  const uint32_t cd_size = U32(z, eocd + 12), cd_off = U32(z, eocd + 16);
  if (entries == 0xFFFF || cd_off == 0xFFFFFFFFu) return Bad("zip64 archives are not supported");
  if (static_cast<uint64_t>(cd_off) + cd_size > eocd) return Bad("central directory out of bounds");
  uint64_t written = 0, total = 0;
  size_t p = cd_off;
  for (uint16_t e = 0; e < entries; ++e) {
    if (p + 46 > eocd || U32(z, p) != 0x02014b50) return Bad("malformed central directory entry");
    const uint16_t flags = U16(z, p + 8), method = U16(z, p + 10);
    const uint32_t csize = U32(z, p + 20), usize = U32(z, p + 24);
    const uint16_t nlen = U16(z, p + 28), xlen = U16(z, p + 30), clen = U16(z, p + 32);
    const uint32_t local = U32(z, p + 42);
    if (p + 46 + nlen > eocd) return Bad("entry name out of bounds");
    const std::string name = z.substr(p + 46, nlen);
    p += 46 + static_cast<size_t>(nlen) + xlen + clen;
    if (!name.empty() && name.back() == '/') continue;  // a folder
    if (flags & 1) return Bad("encrypted entries are not supported (" + name + ")");
    if (method != 0 && method != 8) return Bad("entry " + name + " uses unsupported compression method " + std::to_string(method));
    if (++written > max_entries) return Bad("more than " + std::to_string(max_entries) + " files");
    total += usize;
    if (total > max_bytes) return Bad("unpacks to more than " + std::to_string(max_bytes) + " bytes");
    if (static_cast<uint64_t>(local) + 30 > z.size() || U32(z, local) != 0x04034b50) return Bad("bad local header for " + name);
    const size_t data = local + 30 + static_cast<size_t>(U16(z, local + 26)) + U16(z, local + 28);
    if (static_cast<uint64_t>(data) + csize > z.size()) return Bad("entry " + name + " runs past the end");
    std::string bytes;
    if (method == 0) {
      if (csize != usize) return Bad("stored entry " + name + " has mismatched sizes");
      bytes = z.substr(data, csize);
    } else {
      CTDB_RETURN_IF_ERROR(Inflate(z.data() + data, csize, usize, &bytes));
    }
    char file[32];
    std::snprintf(file, sizeof(file), "%05llu.dcm", static_cast<unsigned long long>(written));
    std::ofstream out(fs::path(dir) / file, std::ios::binary);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) return Status::IOError("writing an unpacked file under " + dir);
  }
  return written;
}

Result<std::string> ConfinePath(const std::string& root, const std::string& relative) {
  if (root.empty()) {
    return Status::PermissionDenied("this server accepts no file paths from clients (start it with --files-root DIR)");
  }
  if (relative.empty() || relative.find('\0') != std::string::npos) return Status::InvalidArgument("empty path");
  std::error_code ec;
  const fs::path r = fs::canonical(root, ec);
  if (ec) return Status::IOError("files root " + root + ": " + ec.message());
  const fs::path rel(relative);
  if (rel.is_absolute()) return Status::PermissionDenied("paths must be relative to the files root");
  const fs::path full = fs::weakly_canonical(r / rel, ec);
  if (ec) return Status::InvalidArgument("bad path " + relative + ": " + ec.message());
  const std::string rs = r.string(), fs_ = full.string();
  if (fs_.size() <= rs.size() || fs_.compare(0, rs.size(), rs) != 0 || fs_[rs.size()] != '/') {
    return Status::PermissionDenied("path " + relative + " is outside the files root");
  }
  if (!fs::exists(full, ec)) return Status::NotFound("no file " + relative + " under the files root");
  return fs_;
}

}  // namespace ctdb::server
