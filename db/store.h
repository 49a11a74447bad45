// Store: the RocksDB schema of a ctdb database. The only place RocksDB is used.
//
// Column families (DESIGN.md "Data model"):
//   keys      external key            -> row (u64 big-endian)
//   records   row                     -> StudyRecord   (record_codec)
//   vectors   kind byte + row         -> vector(s)     (kind: VectorSlot)
//   previews  row                     -> Preview
//   diseases  disease name (lower case) -> DiseaseEntry (record_codec)
//   oplog     sequence (u64 BE)       -> OplogEntry
//   meta      name                    -> value (format version, dimension, counters)
// Vectors are keyed kind-first so a rebuild scans one kind contiguously.
//
// Thread contract: reads are safe from many threads at once. Writes
// (PutStudy, DeleteStudy, TrimOplog, PutMeta, Compact) must be serialized by
// the caller; they may run concurrently with reads.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ctdb/options.h"
#include "ctdb/result.h"
#include "ctdb/study.h"
#include "db/record_codec.h"

namespace ctdb::db {

// On-disk format of the whole database. Bump on incompatible change.
inline constexpr uint32_t kFormatVersion = 1;

// Sub-kinds of stored vectors; the first byte of a vectors-CF key. Stored on
// disk: never renumber. kImage/kReport equal VectorKind's values.
enum class VectorSlot : uint8_t {
  kImage = 0,
  kReport = 1,
  kSlabs = 2,
  kDiseases = 3,
  kSentences = 4,
  kDetections = 5,  // not vectors, but per-study model output read beside them
};
inline constexpr uint8_t kLastVectorSlot = static_cast<uint8_t>(VectorSlot::kDetections);

struct StoreOptions {
  std::string path;             // database directory
  bool create_if_missing = false;
  bool error_if_exists = false;
  size_t dimension = 0;         // required on create; must match when non-zero
  bool sync_writes = true;      // fsync the WAL per write
};

struct PutResult {
  uint64_t row = 0;                   // row assigned to the study
  std::optional<uint64_t> replaced;   // row of the study it replaced
  uint64_t sequence = 0;              // last oplog sequence of the batch
};

struct DeleteResult {
  uint64_t row = 0;
  uint64_t sequence = 0;
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> Open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Writes the study in one atomic batch (keys, record, vectors, preview,
  // oplog, counters), replacing any study with the same key. The caller has
  // validated the study. Caller serializes writes.
  Result<PutResult> PutStudy(const Study& study);

  // NotFound when no study has the key. Caller serializes writes.
  Result<DeleteResult> DeleteStudy(std::string_view key);

  // Row of a key; NotFound if absent.
  Result<uint64_t> LookupRow(std::string_view key) const;
  Result<StudyRecord> GetRecord(uint64_t row) const;
  // The study of a row: record, all vectors, preview; `parts` picks which
  // (the record is always read). A missing image vector is Corruption.
  enum Parts : unsigned { kVectorsPart = 1, kPreviewPart = 2, kAllParts = 3 };
  Result<Study> GetStudy(uint64_t row, unsigned parts = kAllParts) const;
  // Only the image vector, the disease-token features and the detections
  // of a row (three reads, no record): a findings-aware re-ranking reads
  // this per candidate. NotFound when the row has no image vector (deleted).
  Result<StudyVectors> GetDiseaseVectors(uint64_t row) const;
  // NotFound if the row has no vector of this kind.
  Result<std::vector<float>> GetVector(uint64_t row, VectorKind kind) const;

  Result<std::vector<std::string>> ListKeys(const ListOptions& options) const;

  // Visits every stored record in row order. Stops at the first error.
  Status ForEachRecord(const std::function<Status(uint64_t row, const StudyRecord&)>& fn) const;
  // Visits every stored vector of a kind in row order.
  Status ForEachVector(VectorKind kind,
                       const std::function<Status(uint64_t row, const std::vector<float>&)>& fn) const;
  // Visits oplog entries with sequence > after, in order.
  Status ForEachOplog(uint64_t after,
                      const std::function<Status(uint64_t seq, const OplogEntry&)>& fn) const;

  // Sequence of the oldest stored oplog entry; 0 when the oplog is empty.
  Result<uint64_t> FirstOplogSequence() const;
  // Drops oplog entries with sequence <= up_to (they are in a snapshot).
  Status TrimOplog(uint64_t up_to);
  // Full manual compaction of every column family.
  Status Compact();

  // The disease catalog, keyed by lower-cased name. Caller serializes writes.
  Status PutDisease(const DiseaseEntry& entry);
  Status DeleteDisease(std::string_view name);  // NotFound if absent
  Result<std::vector<DiseaseEntry>> ListDiseases() const;

  // A consistent copy of the RocksDB files in `dir` (must not exist; hard
  // links where the file system allows), openable as a store.
  Status Checkpoint(const std::string& dir) const;

  // Small named values in the meta column family.
  Status PutMeta(const std::string& name, const std::string& value);
  Result<std::string> GetMeta(const std::string& name) const;  // NotFound if absent

  // Overwrites a raw value (tests use it to inject corruption).
  Status RawPutForTesting(const std::string& column_family, const std::string& key,
                          const std::string& value);

  size_t dimension() const { return dimension_; }
  uint64_t study_count() const;
  uint64_t next_row() const;
  uint64_t last_sequence() const;
  uint64_t ApproximateDiskBytes() const;
  const std::string& path() const { return path_; }

 private:
  struct Rep;  // RocksDB handles; keeps RocksDB out of this header
  explicit Store(std::unique_ptr<Rep> rep, std::string path, size_t dimension);

  std::unique_ptr<Rep> rep_;
  const std::string path_;
  const size_t dimension_;
};

}  // namespace ctdb::db
