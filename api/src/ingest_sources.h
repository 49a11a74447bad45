// What an ingest PATH holds: one SourceItem per study, each knowing how to
// read its volume and what is already known about it (report, labels,
// metadata). Also the items of a re-embed, read back from a database.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ctdb/database.h"
#include "ctdb/ingest.h"
#include "embed/volume.h"

namespace ctdb {

struct SourceItem {
  std::string source;  // shown in failures
  StudyRecord record;  // key may be empty: derived from the file name
  // Reads the volume; may complete *record (re-embed reads it from the
  // database). When the volume is a stored preview, *keep_preview gets it
  // and ingest stores it unchanged instead of making a new one.
  std::function<Status(StudyRecord* record, embed::Volume* volume, Preview* keep_preview)> load;
  Status problem;      // known bad before reading (e.g. a bad CSV value)
};

// format: "nifti", "dicom" or "ct-rate".
Result<std::vector<SourceItem>> DiscoverSources(const std::string& path, const IngestOptions& options,
                                                std::string* format);

// Record extras that let a re-embed re-read a source as ingest did.
inline constexpr char kExtraRescale[] = "ctdb.rescale";        // "slope intercept"
inline constexpr char kExtraSpacing[] = "ctdb.spacing_mm";     // "x y z"
inline constexpr char kExtraSeries[] = "ctdb.series_uid";

// The re-embed items of every study of `source` that `target` does not yet
// hold on `model_id` (target may be source); *skipped counts the others.
Result<std::vector<SourceItem>> ReembedSources(const Database& source, const Database& target,
                                               const std::string& model_id, ReembedOptions::From from,
                                               uint64_t* skipped);

}  // namespace ctdb
