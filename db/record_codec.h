// Versioned binary encodings of what the store keeps per study, and of oplog
// entries. Decoding never trusts a length: bad bytes give Corruption.
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ctdb/result.h"
#include "ctdb/disease.h"
#include "ctdb/study.h"

namespace ctdb::db {

// Value versions. Bump when a layout changes, keep decoding older ones.
inline constexpr uint8_t kRecordVersion = 2;  // 2: + report statements
inline constexpr uint8_t kVectorVersion = 1;
inline constexpr uint8_t kPreviewVersion = 1;
inline constexpr uint8_t kOplogVersion = 1;
inline constexpr uint8_t kDiseaseVersion = 2;  // 2: + calibration

// Upper bounds that keep a corrupt length from causing a huge allocation.
inline constexpr size_t kMaxDimension = 65536;
inline constexpr size_t kMaxFeaturesPerStudy = 100000;
inline constexpr int64_t kMaxPreviewVoxels = int64_t{1} << 28;

std::string EncodeRecord(const StudyRecord& record);
Result<StudyRecord> DecodeRecord(std::string_view value, std::string_view what);

// One vector (image or report).
std::string EncodeVector(const std::vector<float>& v);
Result<std::vector<float>> DecodeVector(std::string_view value, std::string_view what);

std::string EncodeSlabs(const std::vector<SlabFeature>& slabs);
Result<std::vector<SlabFeature>> DecodeSlabs(std::string_view value, std::string_view what);

std::string EncodeNamedFeatures(const std::vector<NamedFeature>& features);
Result<std::vector<NamedFeature>> DecodeNamedFeatures(std::string_view value, std::string_view what);

// A study's detections (finding, score, position); decoding checks that
// scores lie in [0, 1] and positions are finite.
std::string EncodeDetections(const std::vector<Detection>& detections);
Result<std::vector<Detection>> DecodeDetections(std::string_view value, std::string_view what);

std::string EncodeDisease(const DiseaseEntry& entry);
Result<DiseaseEntry> DecodeDisease(std::string_view value, std::string_view what);

std::string EncodePreview(const Preview& preview);
Result<Preview> DecodePreview(std::string_view value, std::string_view what);

// Stored enum: never renumber.
enum class OplogOp : uint8_t { kPut = 1, kDelete = 2 };

struct OplogEntry {
  OplogOp op = OplogOp::kPut;
  uint64_t row = 0;
  std::string key;
};

std::string EncodeOplogEntry(const OplogEntry& entry);
Result<OplogEntry> DecodeOplogEntry(std::string_view value, std::string_view what);

}  // namespace ctdb::db
