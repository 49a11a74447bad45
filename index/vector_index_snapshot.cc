// VectorIndex::Save / Load: the index snapshot file.
//
// Layout (little-endian), version 1:
//   "CTDBIDX\0"  u32 version  u64 sequence  u64 dimension  u32 len + factory
//   u64 positions  u64[positions] pos_to_row  u8[ceil(positions/8)] tombstones
//   u64 raw_floats  f32[raw_floats]  <faiss::write_index bytes>  u32 crc32c
// The CRC covers every byte before it. Writing streams through the checksum;
// loading verifies it in a first pass, then parses, so a snapshot is never
// held twice in memory and FAISS never parses damaged bytes.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#include <faiss/IndexFlat.h>

#include "index/checksum.h"
#include "index/vector_index.h"

namespace ctdb::index {

namespace {

constexpr char kMagic[8] = {'C', 'T', 'D', 'B', 'I', 'D', 'X', '\0'};
constexpr uint32_t kSnapshotVersion = 1;

class ChecksumWriter : public faiss::IOWriter {
 public:
  explicit ChecksumWriter(FILE* f) : f_(f) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    const size_t n = size * nitems;
    if (n == 0) return nitems;
    crc_ = Crc32c(ptr, n, crc_);
    if (std::fwrite(ptr, 1, n, f_) != n) {
      failed_ = true;
      return 0;
    }
    return nitems;
  }
  template <typename T>
  void Put(const T& v) { (*this)(&v, sizeof(T), 1); }
  uint32_t crc() const { return crc_; }
  bool failed() const { return failed_; }

 private:
  FILE* f_;
  uint32_t crc_ = 0;
  bool failed_ = false;
};

// Reads at most payload_bytes; FAISS's reader sees a short read past them.
class BoundedReader : public faiss::IOReader {
 public:
  BoundedReader(FILE* f, uint64_t payload_bytes) : f_(f), left_(payload_bytes) {}
  // Reads whole items only; a short read means truncation.
  size_t operator()(void* ptr, size_t size, size_t nitems) override {
    const uint64_t want = uint64_t(size) * nitems;
    if (want == 0) return nitems;
    if (want > left_) return 0;
    if (std::fread(ptr, 1, want, f_) != want) return 0;
    left_ -= want;
    return nitems;
  }
  template <typename T>
  bool Get(T* v) { return (*this)(v, sizeof(T), 1) == 1; }
  uint64_t left() const { return left_; }

 private:
  FILE* f_;
  uint64_t left_;
};

// Checks the CRC trailer over the whole file before anything is parsed:
// FAISS's readers trust their input (bad lengths allocate, and a throw
// half-way leaks), so they only ever see bytes that were written whole.
bool ChecksumMatches(FILE* f, uint64_t size) {
  std::vector<char> buf(1 << 20);
  uint32_t crc = 0;
  for (uint64_t left = size - 4; left > 0;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    if (std::fread(buf.data(), 1, n, f) != n) return false;
    crc = Crc32c(buf.data(), n, crc);
    left -= n;
  }
  uint32_t stored;
  const bool ok = std::fread(&stored, 4, 1, f) == 1 && stored == crc;
  std::rewind(f);
  return ok;
}

struct FileCloser {
  void operator()(FILE* f) const { if (f) std::fclose(f); }
};
using File = std::unique_ptr<FILE, FileCloser>;

}  // namespace

class SnapshotIo {
 public:
  static Status Save(const VectorIndex& ix, const std::string& file, uint64_t sequence);
  static Result<std::unique_ptr<VectorIndex>> Load(const std::string& file, const VectorIndexOptions& options,
                                                   uint64_t* sequence);
};

Status SnapshotIo::Save(const VectorIndex& ix, const std::string& file, uint64_t sequence) {
  const std::string tmp = file + ".tmp";
  File f(std::fopen(tmp.c_str(), "wb"));
  if (!f) return Status::IOError("cannot write index snapshot " + tmp + ": " + std::strerror(errno));
  ChecksumWriter w(f.get());
  w(kMagic, 1, sizeof(kMagic));
  w.Put(kSnapshotVersion);
  w.Put(sequence);
  w.Put(static_cast<uint64_t>(ix.options_.dimension));
  const std::string& factory = ix.options_.factory;
  w.Put(static_cast<uint32_t>(factory.size()));
  w(factory.data(), 1, factory.size());
  w.Put(static_cast<uint64_t>(ix.pos_to_row_.size()));
  w(ix.pos_to_row_.data(), sizeof(uint64_t), ix.pos_to_row_.size());
  w(ix.tombstones_.data(), 1, (ix.pos_to_row_.size() + 7) / 8);
  w.Put(static_cast<uint64_t>(ix.raw_.size()));
  w(ix.raw_.data(), sizeof(float), ix.raw_.size());
  try {
    faiss::write_index(ix.index_.get(), &w);
  } catch (const std::exception& e) {
    std::remove(tmp.c_str());
    return Status::Internal(std::string("FAISS could not serialize the index: ") + e.what());
  }
  const uint32_t crc = w.crc();
  const bool ok = !w.failed() && std::fwrite(&crc, 4, 1, f.get()) == 1 && std::fflush(f.get()) == 0 &&
                  ::fsync(fileno(f.get())) == 0;
  f.reset();
  if (!ok) {
    std::remove(tmp.c_str());
    return Status::IOError("writing index snapshot " + tmp + " failed: " + std::strerror(errno));
  }
  if (std::rename(tmp.c_str(), file.c_str()) != 0) {
    return Status::IOError("renaming index snapshot to " + file + ": " + std::strerror(errno));
  }
  // Make the rename durable.
  const std::string dir = std::filesystem::path(file).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::Ok();
}

Result<std::unique_ptr<VectorIndex>> SnapshotIo::Load(const std::string& file, const VectorIndexOptions& options,
                                                      uint64_t* sequence) {
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(file, ec);
  if (ec) return Status::NotFound("no index snapshot " + file);
  File f(std::fopen(file.c_str(), "rb"));
  if (!f) return Status::IOError("cannot read index snapshot " + file + ": " + std::strerror(errno));
  auto corrupt = [&](const std::string& what) { return Status::Corruption("index snapshot " + file + ": " + what); };
  if (size < sizeof(kMagic) + 4) return corrupt("truncated");
  if (!ChecksumMatches(f.get(), size)) return corrupt("checksum mismatch (truncated or damaged)");
  BoundedReader r(f.get(), size - 4);
  char magic[8];
  uint32_t version, factory_len;
  uint64_t seq, dim, npos, nraw;
  if (r(magic, 1, 8) != 8 || std::memcmp(magic, kMagic, 8) != 0) return corrupt("bad magic; not a ctdb index snapshot");
  if (!r.Get(&version) || !r.Get(&seq) || !r.Get(&dim) || !r.Get(&factory_len)) return corrupt("truncated header");
  if (version != kSnapshotVersion) return corrupt("unsupported snapshot version " + std::to_string(version));
  if (factory_len > 1024 || factory_len > r.left()) return corrupt("bad factory string length");
  std::string factory(factory_len, '\0');
  if (r(factory.data(), 1, factory_len) != factory_len) return corrupt("truncated header");
  if (dim != options.dimension || factory != options.factory) {
    return Status::FailedPrecondition("index snapshot " + file + " was built with '" + factory + "' d=" +
                                      std::to_string(dim) + ", options ask for '" + options.factory +
                                      "' d=" + std::to_string(options.dimension));
  }
  CTDB_ASSIGN_OR_RETURN(std::unique_ptr<VectorIndex> ix, VectorIndex::Create(options));
  if (!r.Get(&npos) || npos > r.left() / 8) return corrupt("bad position count");
  ix->pos_to_row_.resize(npos);
  if (r(ix->pos_to_row_.data(), 8, npos) != npos) return corrupt("truncated position map");
  ix->tombstones_.Resize(npos);
  if (r(ix->tombstones_.mutable_data(), 1, (npos + 7) / 8) != (npos + 7) / 8) {
    return corrupt("truncated tombstones");
  }
  if (!r.Get(&nraw) || nraw > r.left() / 4) return corrupt("bad raw vector count");
  ix->raw_.resize(nraw);
  if (r(ix->raw_.data(), 4, nraw) != nraw) return corrupt("truncated raw vectors");
  try {
    ix->index_.reset(faiss::read_index(&r));
    ix->ApplySearchSettings();
  } catch (const std::exception& e) {
    return corrupt(std::string("FAISS could not read the index: ") + e.what());
  }
  if (r.left() != 0) return corrupt("trailing bytes");
  // Cross-check the parts against each other before trusting them.
  if (ix->KeepsRaw() ? nraw != npos * dim : nraw != 0) return corrupt("raw vectors do not match positions");
  if (ix->index_->d != static_cast<int>(dim)) return corrupt("FAISS index dimension differs");
  if (ix->index_->is_trained && static_cast<uint64_t>(ix->index_->ntotal) != npos) {
    return corrupt("FAISS index holds " + std::to_string(ix->index_->ntotal) + " vectors, map says " +
                   std::to_string(npos));
  }
  size_t tombs = 0;
  for (uint64_t pos = 0; pos < npos; ++pos) {
    const uint64_t row = ix->pos_to_row_[pos];
    if (row > (uint64_t{1} << 40)) return corrupt("row number out of range");
    if (ix->tombstones_.Test(pos)) {
      ++tombs;
      continue;
    }
    if (row >= ix->row_to_pos_.size()) ix->row_to_pos_.resize(row + 1, -1);
    if (ix->row_to_pos_[row] != -1) return corrupt("row " + std::to_string(row) + " appears twice");
    ix->row_to_pos_[row] = static_cast<int64_t>(pos);
  }
  ix->num_tombstones_ = tombs;
  *sequence = seq;
  return ix;
}

Status VectorIndex::Save(const std::string& file, uint64_t sequence) const {
  return SnapshotIo::Save(*this, file, sequence);
}

Result<std::unique_ptr<VectorIndex>> VectorIndex::Load(const std::string& file, const VectorIndexOptions& options,
                                                       uint64_t* sequence) {
  return SnapshotIo::Load(file, options, sequence);
}

}  // namespace ctdb::index
