#include "db/store.h"

#include <atomic>
#include <filesystem>
#include <map>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/checkpoint.h>
#include <rocksdb/write_batch.h>

#include "db/coding.h"

namespace ctdb::db {
namespace {

const char* const kCfNames[] = {"keys", "records", "vectors", "previews", "diseases", "oplog", "meta"};
enum Cf { kKeys = 0, kRecords, kVectors, kPreviews, kDiseases, kOplog, kMeta, kNumCf };

// Meta names.
const char kMetaFormat[] = "format_version";
const char kMetaDimension[] = "dimension";
const char kMetaNextRow[] = "next_row";
const char kMetaLastSeq[] = "last_sequence";
const char kMetaCount[] = "study_count";

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (s.IsNotFound()) return Status::NotFound(msg);
  if (s.IsCorruption()) return Status::Corruption(msg);
  if (s.IsInvalidArgument()) return Status::InvalidArgument(msg);
  if (s.IsNotSupported()) return Status::NotSupported(msg);
  return Status::IOError(msg);
}

std::string U64Value(uint64_t v) { return EncodeKeyU64(v); }

std::string VectorKey(VectorSlot slot, uint64_t row) {
  return std::string(1, static_cast<char>(slot)) + EncodeKeyU64(row);
}

std::string RowWhat(const char* kind, uint64_t row) {
  return std::string(kind) + " of row " + std::to_string(row);
}

}  // namespace

struct Store::Rep {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> cfs;  // owned; destroyed before db
  rocksdb::WriteOptions write_options;
  // Counters: written by the (serialized) writer, read by anyone.
  std::atomic<uint64_t> next_row{0};
  std::atomic<uint64_t> last_seq{0};
  std::atomic<uint64_t> count{0};

  ~Rep() {
    if (db) {
      for (auto* h : cfs) db->DestroyColumnFamilyHandle(h);
      db->Close();
    }
  }

  Result<uint64_t> ReadCounter(const char* name) const {
    std::string v;
    auto s = db->Get(rocksdb::ReadOptions(), cfs[kMeta], name, &v);
    if (s.IsNotFound()) return uint64_t{0};
    CTDB_RETURN_IF_ERROR(FromRocks(s, std::string("reading ") + name));
    uint64_t out;
    if (!DecodeKeyU64(v, &out)) return Status::Corruption(std::string("meta ") + name + " is malformed");
    return out;
  }
};

Store::Store(std::unique_ptr<Rep> rep, std::string path, size_t dimension)
    : rep_(std::move(rep)), path_(std::move(path)), dimension_(dimension) {}

Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::Open(const StoreOptions& options) {
  namespace fs = std::filesystem;
  if (options.path.empty()) return Status::InvalidArgument("database path is empty");
  std::error_code ec;
  const bool exists = fs::exists(fs::path(options.path) / "CURRENT", ec);
  if (exists && options.error_if_exists) {
    return Status::AlreadyExists("database already exists at " + options.path);
  }
  if (!exists) {
    if (!options.create_if_missing) {
      return Status::NotFound("no database at " + options.path + " (create it with create_if_missing)");
    }
    if (options.dimension == 0) {
      return Status::InvalidArgument("dimension must be > 0 to create a database");
    }
    if (options.dimension > kMaxDimension) {
      return Status::InvalidArgument("dimension " + std::to_string(options.dimension) + " exceeds " +
                                     std::to_string(kMaxDimension));
    }
    fs::create_directories(options.path, ec);
    if (ec) return Status::IOError("cannot create " + options.path + ": " + ec.message());
  }

  rocksdb::DBOptions dbo;
  dbo.create_if_missing = !exists;
  dbo.create_missing_column_families = !exists;
  dbo.paranoid_checks = true;
  dbo.keep_log_file_num = 5;

  if (exists) {
    std::vector<std::string> names;
    CTDB_RETURN_IF_ERROR(FromRocks(rocksdb::DB::ListColumnFamilies(dbo, options.path, &names),
                                   "listing column families of " + options.path));
    for (const char* want : kCfNames) {
      if (std::find(names.begin(), names.end(), want) == names.end()) {
        return Status::Corruption(options.path + " is not a ctdb database (column family '" +
                                  std::string(want) + "' missing)");
      }
    }
  }

  std::vector<rocksdb::ColumnFamilyDescriptor> descs;
  descs.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const char* name : kCfNames) {
    descs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status rs = rocksdb::DB::Open(dbo, options.path, descs, &handles, &raw);
  if (!rs.ok()) {
    if (rs.IsIOError() && rs.ToString().find("lock") != std::string::npos) {
      return Status::IOError("database " + options.path + " is in use by another process: " + rs.ToString());
    }
    return FromRocks(rs, "opening " + options.path);
  }
  auto rep = std::make_unique<Rep>();
  rep->db.reset(raw);
  // handles[0] is the default column family; keep ours in Cf order.
  raw->DestroyColumnFamilyHandle(handles[0]);
  rep->cfs.assign(handles.begin() + 1, handles.end());
  rep->write_options.sync = options.sync_writes;

  size_t dimension = options.dimension;
  if (!exists) {
    rocksdb::WriteBatch b;
    b.Put(rep->cfs[kMeta], kMetaFormat, U64Value(kFormatVersion));
    b.Put(rep->cfs[kMeta], kMetaDimension, U64Value(dimension));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    CTDB_RETURN_IF_ERROR(FromRocks(rep->db->Write(wo, &b), "initializing " + options.path));
  } else {
    CTDB_ASSIGN_OR_RETURN(uint64_t format, rep->ReadCounter(kMetaFormat));
    if (format == 0) return Status::Corruption(options.path + " has no format version; not a ctdb database");
    if (format != kFormatVersion) {
      return Status::FailedPrecondition(options.path + " has on-disk format version " + std::to_string(format) +
                                        "; this build reads version " + std::to_string(kFormatVersion));
    }
    CTDB_ASSIGN_OR_RETURN(uint64_t stored_dim, rep->ReadCounter(kMetaDimension));
    if (stored_dim == 0 || stored_dim > kMaxDimension) {
      return Status::Corruption(options.path + ": stored dimension " + std::to_string(stored_dim) + " is invalid");
    }
    if (dimension != 0 && dimension != stored_dim) {
      return Status::InvalidArgument("dimension " + std::to_string(dimension) + " does not match the database's " +
                                     std::to_string(stored_dim) + " at " + options.path);
    }
    dimension = stored_dim;
  }
  CTDB_ASSIGN_OR_RETURN(uint64_t next_row, rep->ReadCounter(kMetaNextRow));
  CTDB_ASSIGN_OR_RETURN(uint64_t last_seq, rep->ReadCounter(kMetaLastSeq));
  CTDB_ASSIGN_OR_RETURN(uint64_t count, rep->ReadCounter(kMetaCount));
  rep->next_row = next_row;
  rep->last_seq = last_seq;
  rep->count = count;
  return std::unique_ptr<Store>(new Store(std::move(rep), options.path, dimension));
}

Result<PutResult> Store::PutStudy(const Study& study) {
  Rep& r = *rep_;
  const std::string& key = study.record.key;
  rocksdb::WriteBatch b;
  PutResult out;
  uint64_t seq = r.last_seq;
  uint64_t count = r.count;

  Result<uint64_t> old = LookupRow(key);
  if (old.ok()) {
    out.replaced = *old;
    const std::string row_key = EncodeKeyU64(*old);
    b.Delete(r.cfs[kRecords], row_key);
    b.Delete(r.cfs[kPreviews], row_key);
    for (uint8_t slot = 0; slot <= kLastVectorSlot; ++slot) {
      b.Delete(r.cfs[kVectors], VectorKey(static_cast<VectorSlot>(slot), *old));
    }
    b.Put(r.cfs[kOplog], EncodeKeyU64(++seq), EncodeOplogEntry({OplogOp::kDelete, *old, key}));
  } else if (!old.status().IsNotFound()) {
    return old.status();
  } else {
    ++count;
  }

  out.row = r.next_row;
  const std::string row_key = EncodeKeyU64(out.row);
  const StudyVectors& v = study.vectors;
  b.Put(r.cfs[kKeys], key, row_key);
  b.Put(r.cfs[kRecords], row_key, EncodeRecord(study.record));
  b.Put(r.cfs[kVectors], VectorKey(VectorSlot::kImage, out.row), EncodeVector(v.image));
  if (!v.report.empty()) b.Put(r.cfs[kVectors], VectorKey(VectorSlot::kReport, out.row), EncodeVector(v.report));
  if (!v.slabs.empty()) b.Put(r.cfs[kVectors], VectorKey(VectorSlot::kSlabs, out.row), EncodeSlabs(v.slabs));
  if (!v.diseases.empty()) {
    b.Put(r.cfs[kVectors], VectorKey(VectorSlot::kDiseases, out.row), EncodeNamedFeatures(v.diseases));
  }
  if (!v.sentences.empty()) {
    b.Put(r.cfs[kVectors], VectorKey(VectorSlot::kSentences, out.row), EncodeNamedFeatures(v.sentences));
  }
  if (!v.detections.empty()) {
    b.Put(r.cfs[kVectors], VectorKey(VectorSlot::kDetections, out.row), EncodeDetections(v.detections));
  }
  if (!study.preview.voxels.empty()) b.Put(r.cfs[kPreviews], row_key, EncodePreview(study.preview));
  b.Put(r.cfs[kOplog], EncodeKeyU64(++seq), EncodeOplogEntry({OplogOp::kPut, out.row, key}));
  b.Put(r.cfs[kMeta], kMetaNextRow, U64Value(out.row + 1));
  b.Put(r.cfs[kMeta], kMetaLastSeq, U64Value(seq));
  b.Put(r.cfs[kMeta], kMetaCount, U64Value(count));
  CTDB_RETURN_IF_ERROR(FromRocks(r.db->Write(r.write_options, &b), "writing study " + key));
  r.next_row = out.row + 1;
  r.last_seq = seq;
  r.count = count;
  out.sequence = seq;
  return out;
}

Result<DeleteResult> Store::DeleteStudy(std::string_view key) {
  Rep& r = *rep_;
  CTDB_ASSIGN_OR_RETURN(uint64_t row, LookupRow(key));
  rocksdb::WriteBatch b;
  const std::string row_key = EncodeKeyU64(row);
  b.Delete(r.cfs[kKeys], rocksdb::Slice(key.data(), key.size()));
  b.Delete(r.cfs[kRecords], row_key);
  b.Delete(r.cfs[kPreviews], row_key);
  for (uint8_t slot = 0; slot <= kLastVectorSlot; ++slot) {
    b.Delete(r.cfs[kVectors], VectorKey(static_cast<VectorSlot>(slot), row));
  }
  uint64_t seq = r.last_seq + 1;
  uint64_t count = r.count - 1;
  b.Put(r.cfs[kOplog], EncodeKeyU64(seq), EncodeOplogEntry({OplogOp::kDelete, row, std::string(key)}));
  b.Put(r.cfs[kMeta], kMetaLastSeq, U64Value(seq));
  b.Put(r.cfs[kMeta], kMetaCount, U64Value(count));
  CTDB_RETURN_IF_ERROR(FromRocks(r.db->Write(r.write_options, &b), "deleting study " + std::string(key)));
  r.last_seq = seq;
  r.count = count;
  return DeleteResult{row, seq};
}

Result<uint64_t> Store::LookupRow(std::string_view key) const {
  std::string v;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kKeys], rocksdb::Slice(key.data(), key.size()), &v);
  if (s.IsNotFound()) return Status::NotFound("no study with key '" + std::string(key) + "'");
  CTDB_RETURN_IF_ERROR(FromRocks(s, "looking up key " + std::string(key)));
  uint64_t row;
  if (!DecodeKeyU64(v, &row)) return Status::Corruption("row number of key '" + std::string(key) + "' is malformed");
  return row;
}

Result<StudyRecord> Store::GetRecord(uint64_t row) const {
  std::string v;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kRecords], EncodeKeyU64(row), &v);
  if (s.IsNotFound()) return Status::NotFound("no record for row " + std::to_string(row));
  CTDB_RETURN_IF_ERROR(FromRocks(s, RowWhat("reading record", row)));
  return DecodeRecord(v, RowWhat("record", row));
}

Result<std::vector<float>> Store::GetVector(uint64_t row, VectorKind kind) const {
  std::string v;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kVectors],
                         VectorKey(static_cast<VectorSlot>(kind), row), &v);
  if (s.IsNotFound()) {
    return Status::NotFound(std::string("no ") + VectorKindName(kind) + " vector for row " + std::to_string(row));
  }
  CTDB_RETURN_IF_ERROR(FromRocks(s, RowWhat("reading vector", row)));
  return DecodeVector(v, RowWhat((std::string(VectorKindName(kind)) + " vector").c_str(), row));
}

namespace {

// Reads one optional part of a study and decodes it into *out (left as it
// is when the row has none).
template <typename Decode, typename Out>
Status LoadPart(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf, uint64_t row, const std::string& key,
                const char* what, Decode decode, Out* out) {
  std::string v;
  auto s = db->Get(rocksdb::ReadOptions(), cf, key, &v);
  if (s.IsNotFound()) return Status::Ok();
  CTDB_RETURN_IF_ERROR(FromRocks(s, RowWhat("reading study", row)));
  CTDB_ASSIGN_OR_RETURN(*out, decode(v, RowWhat(what, row)));
  return Status::Ok();
}

}  // namespace

Result<StudyVectors> Store::GetDiseaseVectors(uint64_t row) const {
  StudyVectors vec;
  CTDB_RETURN_IF_ERROR(
      LoadPart(rep_->db.get(), rep_->cfs[kVectors], row, VectorKey(VectorSlot::kImage, row), "image vector",
               DecodeVector, &vec.image));
  if (vec.image.empty()) return Status::NotFound(RowWhat("image vector", row) + " is missing");
  CTDB_RETURN_IF_ERROR(LoadPart(rep_->db.get(), rep_->cfs[kVectors], row, VectorKey(VectorSlot::kDiseases, row),
                                "disease features", DecodeNamedFeatures, &vec.diseases));
  CTDB_RETURN_IF_ERROR(LoadPart(rep_->db.get(), rep_->cfs[kVectors], row, VectorKey(VectorSlot::kDetections, row),
                                "detections", DecodeDetections, &vec.detections));
  return vec;
}

Result<Study> Store::GetStudy(uint64_t row, unsigned parts) const {
  Study study;
  CTDB_ASSIGN_OR_RETURN(study.record, GetRecord(row));
  auto load = [&](Cf cf, const std::string& key, const char* what, auto decode, auto* out) -> Status {
    return LoadPart(rep_->db.get(), rep_->cfs[cf], row, key, what, decode, out);
  };
  StudyVectors& vec = study.vectors;
  if (parts & kPreviewPart) {
    CTDB_RETURN_IF_ERROR(load(kPreviews, EncodeKeyU64(row), "preview", DecodePreview, &study.preview));
  }
  if (!(parts & kVectorsPart)) return study;
  CTDB_RETURN_IF_ERROR(load(kVectors, VectorKey(VectorSlot::kImage, row), "image vector", DecodeVector, &vec.image));
  if (vec.image.empty()) return Status::Corruption(RowWhat("image vector", row) + " is missing");
  CTDB_RETURN_IF_ERROR(load(kVectors, VectorKey(VectorSlot::kReport, row), "report vector", DecodeVector, &vec.report));
  CTDB_RETURN_IF_ERROR(load(kVectors, VectorKey(VectorSlot::kSlabs, row), "slab features", DecodeSlabs, &vec.slabs));
  CTDB_RETURN_IF_ERROR(
      load(kVectors, VectorKey(VectorSlot::kDiseases, row), "disease features", DecodeNamedFeatures, &vec.diseases));
  CTDB_RETURN_IF_ERROR(load(kVectors, VectorKey(VectorSlot::kSentences, row), "sentence features",
                            DecodeNamedFeatures, &vec.sentences));
  CTDB_RETURN_IF_ERROR(
      load(kVectors, VectorKey(VectorSlot::kDetections, row), "detections", DecodeDetections, &vec.detections));
  return study;
}

Result<std::vector<std::string>> Store::ListKeys(const ListOptions& options) const {
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kKeys]));
  std::vector<std::string> out;
  const std::string& start = options.start_after.empty() ? options.prefix
                             : (options.start_after < options.prefix ? options.prefix : options.start_after);
  for (it->Seek(start); it->Valid(); it->Next()) {
    std::string k = it->key().ToString();
    if (!options.start_after.empty() && k == options.start_after) continue;
    if (k.compare(0, options.prefix.size(), options.prefix) != 0) break;
    out.push_back(std::move(k));
    if (options.limit && out.size() >= options.limit) break;
  }
  CTDB_RETURN_IF_ERROR(FromRocks(it->status(), "listing keys"));
  return out;
}

Status Store::ForEachRecord(const std::function<Status(uint64_t, const StudyRecord&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kRecords]));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    uint64_t row;
    if (!DecodeKeyU64(std::string_view(it->key().data(), it->key().size()), &row)) {
      return Status::Corruption("malformed row key in records");
    }
    CTDB_ASSIGN_OR_RETURN(StudyRecord rec,
                          DecodeRecord(std::string_view(it->value().data(), it->value().size()),
                                       RowWhat("record", row)));
    CTDB_RETURN_IF_ERROR(fn(row, rec));
  }
  return FromRocks(it->status(), "scanning records");
}

Status Store::ForEachVector(VectorKind kind,
                            const std::function<Status(uint64_t, const std::vector<float>&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kVectors]));
  const char prefix = static_cast<char>(kind);
  const std::string what = std::string(VectorKindName(kind)) + " vector";
  for (it->Seek(rocksdb::Slice(&prefix, 1)); it->Valid(); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() != 9 || k[0] != prefix) break;
    uint64_t row;
    DecodeKeyU64(std::string_view(k.data() + 1, 8), &row);
    CTDB_ASSIGN_OR_RETURN(std::vector<float> v,
                          DecodeVector(std::string_view(it->value().data(), it->value().size()),
                                       RowWhat(what.c_str(), row)));
    CTDB_RETURN_IF_ERROR(fn(row, v));
  }
  return FromRocks(it->status(), "scanning vectors");
}

Status Store::ForEachOplog(uint64_t after,
                           const std::function<Status(uint64_t, const OplogEntry&)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kOplog]));
  for (it->Seek(EncodeKeyU64(after + 1)); it->Valid(); it->Next()) {
    uint64_t seq;
    if (!DecodeKeyU64(std::string_view(it->key().data(), it->key().size()), &seq)) {
      return Status::Corruption("malformed oplog sequence key");
    }
    CTDB_ASSIGN_OR_RETURN(OplogEntry e, DecodeOplogEntry(std::string_view(it->value().data(), it->value().size()),
                                                         "oplog entry " + std::to_string(seq)));
    CTDB_RETURN_IF_ERROR(fn(seq, e));
  }
  return FromRocks(it->status(), "scanning oplog");
}

Result<uint64_t> Store::FirstOplogSequence() const {
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kOplog]));
  it->SeekToFirst();
  CTDB_RETURN_IF_ERROR(FromRocks(it->status(), "reading oplog"));
  if (!it->Valid()) return uint64_t{0};
  uint64_t seq;
  if (!DecodeKeyU64(std::string_view(it->key().data(), it->key().size()), &seq)) {
    return Status::Corruption("malformed oplog sequence key");
  }
  return seq;
}

Status Store::TrimOplog(uint64_t up_to) {
  return FromRocks(rep_->db->DeleteRange(rep_->write_options, rep_->cfs[kOplog], EncodeKeyU64(0),
                                         EncodeKeyU64(up_to + 1)),
                   "trimming oplog");
}

Status Store::Compact() {
  for (auto* h : rep_->cfs) {
    rocksdb::CompactRangeOptions o;
    CTDB_RETURN_IF_ERROR(FromRocks(rep_->db->CompactRange(o, h, nullptr, nullptr), "compacting"));
  }
  return Status::Ok();
}

namespace {
std::string DiseaseKey(std::string_view name) {
  std::string k(name);
  for (char& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k;
}
}  // namespace

Status Store::PutDisease(const DiseaseEntry& entry) {
  return FromRocks(rep_->db->Put(rep_->write_options, rep_->cfs[kDiseases], DiseaseKey(entry.name), EncodeDisease(entry)),
                   "writing disease " + entry.name);
}

Status Store::DeleteDisease(std::string_view name) {
  std::string v;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kDiseases], DiseaseKey(name), &v);
  if (s.IsNotFound()) return Status::NotFound("no disease named \"" + std::string(name) + "\" in the catalog");
  CTDB_RETURN_IF_ERROR(FromRocks(s, "reading disease"));
  return FromRocks(rep_->db->Delete(rep_->write_options, rep_->cfs[kDiseases], DiseaseKey(name)), "deleting disease");
}

Result<std::vector<DiseaseEntry>> Store::ListDiseases() const {
  std::unique_ptr<rocksdb::Iterator> it(rep_->db->NewIterator(rocksdb::ReadOptions(), rep_->cfs[kDiseases]));
  std::vector<DiseaseEntry> out;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    CTDB_ASSIGN_OR_RETURN(DiseaseEntry e, DecodeDisease(std::string_view(it->value().data(), it->value().size()),
                                                        "disease " + it->key().ToString()));
    out.push_back(std::move(e));
  }
  CTDB_RETURN_IF_ERROR(FromRocks(it->status(), "listing diseases"));
  return out;
}

Status Store::Checkpoint(const std::string& dir) const {
  rocksdb::Checkpoint* raw = nullptr;
  CTDB_RETURN_IF_ERROR(FromRocks(rocksdb::Checkpoint::Create(rep_->db.get(), &raw), "starting a checkpoint"));
  std::unique_ptr<rocksdb::Checkpoint> cp(raw);
  return FromRocks(cp->CreateCheckpoint(dir), "writing a checkpoint to " + dir);
}

Status Store::PutMeta(const std::string& name, const std::string& value) {
  return FromRocks(rep_->db->Put(rep_->write_options, rep_->cfs[kMeta], name, value), "writing meta " + name);
}

Result<std::string> Store::GetMeta(const std::string& name) const {
  std::string v;
  auto s = rep_->db->Get(rocksdb::ReadOptions(), rep_->cfs[kMeta], name, &v);
  if (s.IsNotFound()) return Status::NotFound("no meta value " + name);
  CTDB_RETURN_IF_ERROR(FromRocks(s, "reading meta " + name));
  return v;
}

Status Store::RawPutForTesting(const std::string& column_family, const std::string& key, const std::string& value) {
  for (int i = 0; i < kNumCf; ++i) {
    if (column_family == kCfNames[i]) {
      return FromRocks(rep_->db->Put(rep_->write_options, rep_->cfs[i], key, value), "raw put");
    }
  }
  return Status::InvalidArgument("unknown column family " + column_family);
}

uint64_t Store::study_count() const { return rep_->count; }
uint64_t Store::next_row() const { return rep_->next_row; }
uint64_t Store::last_sequence() const { return rep_->last_seq; }

uint64_t Store::ApproximateDiskBytes() const {
  uint64_t total = 0;
  for (auto* h : rep_->cfs) {
    uint64_t v = 0;
    if (rep_->db->GetIntProperty(h, rocksdb::DB::Properties::kTotalSstFilesSize, &v)) total += v;
    if (rep_->db->GetIntProperty(h, rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) total += v;
  }
  return total;
}

}  // namespace ctdb::db
