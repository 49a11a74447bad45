// manifest.json <-> embed::ModelManifest (nlohmann_json stays in api/).
//
// {
//   "format": "native" | "torchscript", "name": "...", "version": "1", "description": "...",
//   "dimension": 256,
//   "input": {"orientation": "LPS", "spacing_mm": [x, y, z], "size": [x, y, z],
//             "hu_window": [-1000, 1000], "scale": {"offset": 0, "divisor": 1000}, "pad_value": -1,
//             "resample": "linear" | "antialias"},
//   "tokenizer": {"type": "wordpiece", "vocab": "vocab.txt", "lower_case": true,
//                 "strip_accents": true, "max_tokens": 128},
//   "slab_mm": 12,
//   "diseases": ["Pleural effusion", ...],
//   "files": {"weights": "weights.pt", "image_module": "image.pt", "text_module": "text.pt"},
//   "architecture": {"stem": [{"channels": 8, "kernel": [z, y, x], "stride": [z, y, x]}, ...],
//                    "width": 128, "layers": 2, "heads": 4, "ffn": 256,
//                    "text": {"width": 128, "layers": 2, "heads": 4, "ffn": 256}}
// }
// Every field but format, name, version and dimension has the default of
// embed::ModelManifest; unknown fields are ignored (exports may carry more).
#pragma once

#include <cstdint>
#include <string>

#include "ctdb/result.h"
#include "embed/disease_catalog.h"
#include "embed/model_manifest.h"

namespace ctdb {

// The manifest layout this build writes and the newest it reads. Fields a
// reader does not know are ignored, so a change that older readers would
// misread (new meaning for an existing field, a field that changes the
// vectors) raises it; older ctdb builds then refuse the manifest by name.
constexpr int64_t kManifestVersion = 1;

// InvalidArgument naming the field for a wrong type or missing required field.
Result<embed::ModelManifest> ParseManifest(const std::string& json_text);
std::string ManifestToJson(const embed::ModelManifest& manifest);

// dir/manifest.json. NotFound when the directory or file is missing.
Result<embed::ModelManifest> ReadManifest(const std::string& dir);
Status WriteManifest(const std::string& dir, const embed::ModelManifest& manifest);

// dir/diseases.json: [{"name": ..., "positive": [...], "negative": [...]}, ...].
// NotFound when absent; InvalidArgument naming the entry when malformed.
Result<std::vector<embed::DiseasePrompts>> ReadDiseaseCatalog(const std::string& dir);
Status WriteDiseaseCatalog(const std::string& dir, const std::vector<embed::DiseasePrompts>& catalog);

}  // namespace ctdb
