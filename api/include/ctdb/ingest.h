// Bulk ingest: CT files in, embedded studies out, one atomic Put per study.
//
//   ctdb::Options o; o.path = "db"; o.create_if_missing = true;
//   o.dimension = model->info().dimension; o.model_id = model->id();
//   auto db = ctdb::Database::Open(o);
//   auto summary = ctdb::Ingest(**db, *model, "/data/ct-rate", {});
//
// PATH may be a NIfTI file, a folder of NIfTI files (searched recursively;
// files named *_mask.nii[.gz] are segmentations and skipped), a DICOM file
// or folder (one study per CT series), or a CT-RATE root
// ({train,valid}/<patient>/<scan>/<name>.nii.gz with its CSVs: reports,
// labels and metadata go into the records, and the metadata's rescale and
// spacing override the files').
//
// Reading and preprocessing run on `jobs` threads while the encoder and the
// database writes run on their own, so the stages overlap. A study that
// fails (unreadable file, bad value) is listed with its reason and the batch
// goes on. Re-ingesting a key replaces the study.
//
// Thread contract: Ingest and Reembed may run while other threads search
// the database; the database serializes the writes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ctdb/database.h"
#include "ctdb/model.h"
#include "ctdb/result.h"

namespace ctdb {

struct IngestProgress {
  uint64_t done = 0;    // studies finished (written or failed)
  uint64_t failed = 0;
  uint64_t total = 0;   // studies discovered
};

struct IngestOptions {
  // Threads reading and preprocessing volumes. Default: 1 (the encoder uses
  // the other cores).
  int jobs = 1;
  // Prepared studies allowed to wait for the encoder (bounds memory).
  // Default: 4.
  int queue = 4;
  // DICOM folders with several series: ingest only this one. Default: all.
  std::string series_uid;
  // CT-RATE layouts: only this split ("train" or "valid"). Default: all.
  std::string split;
  // Ingest only studies i with i % shard_count == shard_index (in discovery
  // order), so a batch scheduler can split one data set across machines.
  // Default: 0 of 1 (everything).
  int shard_index = 0, shard_count = 1;
  // Called after each study, from the writing thread. Default: none.
  std::function<void(const IngestProgress&)> progress;
};

struct IngestFailure {
  std::string source;  // file, folder or key that failed
  std::string key;     // "" when not known yet
  Status status;
};

struct IngestSummary {
  std::string format;       // "nifti", "dicom", "ct-rate", "database" (re-embed)
  uint64_t discovered = 0;  // studies found (in this shard)
  uint64_t ingested = 0;    // written
  uint64_t replaced = 0;    // of those, keys that existed before
  uint64_t skipped = 0;     // re-embed: already on the model
  uint64_t failed = 0;
  std::vector<IngestFailure> failures;
  double seconds = 0;       // wall time
  // Busy time of each stage in seconds (reading summed over the jobs):
  // the slowest one bounds the throughput the overlap can reach.
  double read_seconds = 0, encode_seconds = 0, write_seconds = 0;
};

// Errors (whole batch): NotFound for a missing PATH, InvalidArgument for a
// PATH holding no volumes, FailedPrecondition when the database was not
// opened for this model (Options::model_id) or its dimension differs.
Result<IngestSummary> Ingest(Database& db, Model& model, const std::string& path, const IngestOptions& options);

struct ReembedOptions {
  // Where volumes come from: the source files recorded at ingest when they
  // are still readable, else the stored previews ("auto"); only one of them
  // ("sources", "previews"). Previews are downsampled (at most 128 voxels
  // in-plane, 5 mm slices): a model needing finer input loses detail.
  enum class From { kAuto, kSources, kPreviews };
  From from = From::kAuto;
  int jobs = 1;
  int queue = 4;
  std::function<void(const IngestProgress&)> progress;
};

// Re-embeds every study with `model` and makes it the database's model. The
// database must be opened with Options::model_id = model.id() and
// change_model = true. Resumable: studies already carrying the model's id
// are skipped. When any study could not be re-embedded, they are listed in
// the summary (failed > 0) and the change stays pending: run it again.
// The model must have the database's dimension (else use ReembedInto).
Result<IngestSummary> Reembed(Database& db, Model& model, const ReembedOptions& options);

// Re-embeds every study of `source` into `target`, a database opened for
// `model` (Options::model_id), leaving `source` untouched: the way to move
// to a model of another dimension. Resumable like Reembed.
Result<IngestSummary> ReembedInto(const Database& source, Database& target, Model& model,
                                  const ReembedOptions& options);

}  // namespace ctdb
