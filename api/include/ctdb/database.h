// ctdb::Database: the embedded CT retrieval database.
//
//   ctdb::Options options;
//   options.path = "/data/ctdb";
//   options.create_if_missing = true;
//   options.dimension = 512;
//   auto db = ctdb::Database::Open(options);
//   if (!db.ok()) { ... db.status().ToString() ... }
//   ctdb::Status s = (*db)->Put(study);
//
// Thread contract: a Database is safe for concurrent use from many threads.
// Searches and reads run concurrently with each other; writes (Put, Delete,
// Compact, SnapshotIndex) serialize among themselves and briefly exclude
// searches while the in-memory index changes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "ctdb/disease.h"
#include "ctdb/options.h"
#include "ctdb/result.h"
#include "ctdb/status.h"
#include "ctdb/study.h"

namespace ctdb {

struct SearchHit {
  std::string key;   // the study's external key
  uint64_t row = 0;  // internal row number (stable until the study is replaced)
  // Inner product of the L2-normalized query and the study's vector (cosine
  // similarity, in [-1, 1]; higher is closer).
  float score = 0;
};

struct IndexStats {
  std::string factory;        // e.g. "Flat"
  bool trained = true;        // false: serving exact search until trained
  uint64_t rows = 0;          // rows ever added, including tombstones
  uint64_t live = 0;          // rows searchable
  uint64_t tombstones = 0;
  uint64_t memory_bytes = 0;  // approximate RAM held by the index
};

// What the last Open did to bring the indexes up to date.
struct RecoveryInfo {
  bool rebuilt = false;   // an index was rebuilt from the stored vectors
  uint64_t replayed = 0;  // oplog entries replayed on top of snapshots
  std::string note;       // why a rebuild happened ("" when none)
};

struct DatabaseStats {
  uint64_t studies = 0;
  size_t dimension = 0;
  uint32_t format_version = 0;
  uint64_t last_sequence = 0;      // last oplog sequence written
  uint64_t snapshot_sequence = 0;  // oplog sequence the index snapshots contain
  uint64_t disk_bytes = 0;         // approximate size of the RocksDB files
  IndexStats image_index;
  IndexStats report_index;
  RecoveryInfo recovery;
  std::string model_id;          // model the vectors come from ("" = none recorded)
  std::string model_pending;     // model a re-embed is changing to ("" = none)
};

class Database {
 public:
  // Opens (or creates, per options) the database at options.path. Errors:
  // InvalidArgument for bad options or a dimension mismatch; NotFound when the
  // database is missing and !create_if_missing; Corruption or
  // FailedPrecondition for an incompatible on-disk format; IOError when the
  // directory is locked by another process.
  static Result<std::unique_ptr<Database>> Open(const Options& options);

  // Snapshots the indexes (best effort) and releases the database.
  virtual ~Database() = default;

  // Inserts a study, or replaces the study with the same key (it gets a new
  // row number). All-or-nothing: the record, vectors, preview and oplog entry
  // go in one atomic batch; when Put returns OK the study is durable and
  // searchable. Errors: InvalidArgument (empty key, missing image vector,
  // wrong dimension, non-finite or zero vector, preview size mismatch, a
  // record.model_id other than the database's model; an empty one is
  // filled in with it).
  virtual Status Put(const Study& study) = 0;

  // Removes a study. NotFound if no study has this key.
  virtual Status Delete(std::string_view key) = 0;

  // The whole study (record, vectors, preview). NotFound if absent;
  // Corruption if its stored bytes do not decode.
  virtual Result<Study> Get(std::string_view key) const = 0;

  // Only the record (cheaper than Get).
  virtual Result<StudyRecord> GetRecord(std::string_view key) const = 0;
  // Only the vectors (no record decode beyond the key, no preview).
  virtual Result<StudyVectors> GetVectors(std::string_view key) const = 0;
  // Only the image vector, the disease-token features (`diseases`) and
  // the detections; the rest of StudyVectors is left empty. What a
  // findings-aware text search reads per candidate: 3 reads instead of 7.
  virtual Result<StudyVectors> GetDiseaseVectors(std::string_view key) const = 0;
  // Only the preview; NotFound when the study has none.
  virtual Result<Preview> GetPreview(std::string_view key) const = 0;

  // Keys in ascending byte order, per options.
  virtual Result<std::vector<std::string>> ListKeys(const ListOptions& options) const = 0;

  // Number of studies stored.
  virtual uint64_t Count() const = 0;

  // k nearest studies to each of n queries (row-major n x dimension floats,
  // normalized internally) in the index of `kind`. Returns n lists, each
  // sorted by descending score, holding up to options.k hits (fewer when
  // fewer studies match). Studies without a vector of that kind (e.g. no
  // report) never match. Errors: InvalidArgument for n == 0, bad k, wrong
  // dimension, non-finite query.
  virtual Result<std::vector<std::vector<SearchHit>>> Search(
      VectorKind kind, const float* queries, size_t n, const SearchOptions& options) const = 0;

  // Single-query convenience; `query` must have the database's dimension.
  Result<std::vector<SearchHit>> Search(VectorKind kind, const std::vector<float>& query,
                                        const SearchOptions& options) const;

  // Rebuilds the indexes without tombstones (training them first if their
  // factory needs it and enough rows exist) and compacts storage.
  virtual Status Compact() = 0;

  // Writes the index snapshots now, so the next Open replays no oplog.
  virtual Status SnapshotIndex() = 0;

  virtual Result<DatabaseStats> Stats() const = 0;

  // The disease catalog (see ctdb/disease.h), ordered by lower-cased name.
  virtual Result<std::vector<DiseaseEntry>> ListDiseases() const = 0;
  // Adds or replaces (by name, ignoring case) a catalog entry. Errors:
  // InvalidArgument for an empty name, no positive phrase, or prototypes of
  // the wrong dimension or not finite.
  virtual Status PutDisease(const DiseaseEntry& entry) = 0;
  virtual Status DeleteDisease(std::string_view name) = 0;  // NotFound if absent

  // Writes a consistent copy of the database into `dir` (which must not
  // exist): a RocksDB checkpoint plus fresh index snapshots, so opening the
  // copy replays nothing. The copy is itself a database directory. Writes
  // wait while it is taken; searches go on.
  virtual Status Backup(const std::string& dir) = 0;
  // Copies a backup made by Backup() to `path` (which must not exist) after
  // checking that it opens. The database at `path` is then ready to Open.
  static Status Restore(const std::string& backup_dir, const std::string& path);
  // Completes a re-embed started with Options::change_model: checks that
  // every study now carries the new model id, then records it as the
  // database's model. FailedPrecondition (with the count) while studies
  // still hold the old model's vectors, or when no change is pending.
  virtual Status FinishModelChange() = 0;

  virtual size_t dimension() const = 0;
};

}  // namespace ctdb
