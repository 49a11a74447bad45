// Options for opening a database and for individual calls.
//
// Open-time options are validated by Database::Open; per-call options by the
// call that takes them. Thread contract: plain value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "ctdb/filter.h"

namespace ctdb {

struct Options {
  // Directory holding the database (RocksDB files and index snapshots).
  // Default: none; required.
  std::string path;

  // Create the database if it does not exist. Default: false.
  bool create_if_missing = false;

  // Fail if the database already exists. Default: false.
  bool error_if_exists = false;

  // Embedding dimension. Required (> 0) when creating; when opening an
  // existing database, 0 means "use the stored one" and any other value must
  // match it. Default: 0.
  size_t dimension = 0;

  // FAISS index factory string for the image and report indexes, e.g. "Flat"
  // (exact), "HNSW32", "IVF1024,PQ64". Scores are inner products of
  // L2-normalized vectors (cosine similarity). The database remembers it:
  // "" means the stored one ("Flat" for a new database); a different value
  // rebuilds the indexes from the stored vectors and is remembered.
  // Default: "".
  std::string index_factory;

  // HNSW search breadth (efSearch). 256 keeps recall@10 >= 0.99 with a
  // filter passing half the rows (tests/index). Default: 256.
  int hnsw_ef_search = 256;

  // IVF lists probed per query (nprobe). Default: 32.
  int ivf_nprobe = 32;

  // Indexes that need training (IVF, PQ) serve exact search until this many
  // rows exist, then are trained on the stored vectors by Compact().
  // Default: 0 = 40 x the number of IVF lists (at least 10000).
  size_t train_min_rows = 0;

  // A filtered search whose filter keeps at most this fraction of rows, or at
  // most exact_filter_max_rows rows, scans exactly those rows instead of
  // walking the approximate index, so recall cannot collapse under selective
  // filters. Default: 0.2 and 20000.
  double exact_filter_max_fraction = 0.2;
  size_t exact_filter_max_rows = 20000;

  // Queries per search call from which the scan goes through BLAS (FAISS's
  // distance_compute_blas_threshold; FAISS's default is 20). The BLAS path reads
  // vectors several times faster than Debian's SSE-only scan, even for one
  // query. Process-wide setting: the last Open wins. Default: 1.
  int blas_threshold = 1;

  // Write an index snapshot after this many writes since the last one, so
  // reopening replays a short oplog. 0 = only on Close/SnapshotIndex.
  // Default: 10000.
  uint64_t snapshot_every_writes = 10000;

  // fsync the write-ahead log before acknowledging each write. false survives
  // a process crash but not a power loss. Default: true.
  bool sync_writes = true;

  // Threads for FAISS/OpenMP and BLAS in this process. 0 = hardware
  // concurrency. Default: 0.
  int threads = 0;
  // Id of the encoder whose vectors this handle writes and queries with
  // (Model::id()). A database remembers the model it was built with: opening
  // it with another id fails with FailedPrecondition, because its vectors
  // would not be comparable with the new model's. "" = no check (vectors
  // made elsewhere, or read-only use). Default: "".
  std::string model_id;
  // Open a database built with another model in order to re-embed it
  // (`ctdb reembed`): it is marked as changing to model_id until
  // FinishModelChange() succeeds, and other handles are refused meanwhile.
  // Requires `dimension` = the new model's (Open checks it against the
  // stored one before marking anything). Default: false.
  bool change_model = false;
};

struct SearchOptions {
  // Number of hits to return (after `offset`). Must be in [1, 10000]. Default: 10.
  size_t k = 10;
  // Hits to skip, for paging: returns ranks offset .. offset+k-1. Default: 0.
  size_t offset = 0;
  // Metadata predicates. Default: none.
  Filter filter;
  // Scan every (filtered) row exactly even with an approximate index.
  // Default: false.
  bool exact = false;
};

struct ListOptions {
  // Only keys starting with this prefix. Default: all.
  std::string prefix;
  // Start strictly after this key (for paging). Default: from the first key.
  std::string start_after;
  // Maximum keys returned; 0 = no limit. Default: 1000.
  size_t limit = 1000;
};

}  // namespace ctdb
