// DatabaseImpl: the private implementation of ctdb::Database. Ties the store
// (db/) to the in-memory indexes (index/). Split by phase:
//   database_open.cc   Open, recovery (snapshot + oplog replay, rebuild)
//   database_write.cc  Put, Delete, Compact, SnapshotIndex
//   database_read.cc   Get, List, Search, Stats
#pragma once

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "api/src/rw_lock.h"
#include "ctdb/database.h"
#include "db/store.h"
#include "index/query_batcher.h"
#include "index/row_attributes.h"
#include "index/vector_index.h"

namespace ctdb {

// Checks options->model_id against the model the database records and
// sets it to the model writes must carry (database_model.cc).
Status ResolveModel(db::Store* store, Options* effective);

class DatabaseImpl final : public Database {
 public:
  ~DatabaseImpl() override;

  Status Put(const Study& study) override;
  Status Delete(std::string_view key) override;
  Result<Study> Get(std::string_view key) const override;
  Result<StudyRecord> GetRecord(std::string_view key) const override;
  Result<StudyVectors> GetVectors(std::string_view key) const override;
  Result<StudyVectors> GetDiseaseVectors(std::string_view key) const override;
  Result<Preview> GetPreview(std::string_view key) const override;
  Result<std::vector<DiseaseEntry>> ListDiseases() const override;  // database_catalog.cc
  Status PutDisease(const DiseaseEntry& entry) override;
  Status DeleteDisease(std::string_view name) override;
  Status Backup(const std::string& dir) override;
  Result<std::vector<std::string>> ListKeys(const ListOptions& options) const override;
  uint64_t Count() const override;
  Result<std::vector<std::vector<SearchHit>>> Search(VectorKind kind, const float* queries, size_t n,
                                                     const SearchOptions& options) const override;
  Status Compact() override;
  Status SnapshotIndex() override;
  Result<DatabaseStats> Stats() const override;
  Status FinishModelChange() override;  // database_model.cc
  size_t dimension() const override { return store_->dimension(); }

 private:
  friend class Database;
  DatabaseImpl(Options options, std::unique_ptr<db::Store> store);

  // Recovery (database_open.cc). Called once from Open, before sharing.
  Status Recover();
  Result<std::unique_ptr<index::VectorIndex>> RebuildFromStore(VectorKind kind) const;
  std::string SnapshotFile(VectorKind kind) const;
  index::VectorIndexOptions IndexOptions() const;

  // Requires write_mu_.
  Status SnapshotLocked();
  // Applies a committed write to the in-memory state. Requires write_mu_;
  // takes index_mu_ exclusively.
  Status ApplyPut(const db::PutResult& put, const Study& study);

  // Constant after construction.
  const Options options_;
  const std::unique_ptr<db::Store> store_;

  // Serializes writers.
  std::mutex write_mu_;
  uint64_t writes_since_snapshot_ = 0;  // guarded by write_mu_

  // Guards the in-memory state below: shared for searches, exclusive to mutate.
  mutable RwLock index_mu_;
  std::array<std::unique_ptr<index::VectorIndex>, kNumVectorKinds> indexes_;
  index::RowAttributes attributes_;
  std::vector<std::string> row_keys_;  // row -> key ("" when deleted)
  uint64_t snapshot_sequence_ = 0;     // oplog sequence the snapshots hold
  RecoveryInfo recovery_;              // set by Recover, then constant
  // Coalesce concurrent unfiltered one-query searches, one per vector kind.
  mutable std::array<std::unique_ptr<index::QueryBatcher>, kNumVectorKinds> batchers_;
};

}  // namespace ctdb
