// The data model: one study = one CT volume (one reconstruction) with its
// report, labels, metadata and embeddings. See DESIGN.md "Data model".
//
// Thread contract: plain value types.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ctdb {

// Stored on disk as a byte: never renumber.
enum class Sex : uint8_t { kUnknown = 0, kFemale = 1, kMale = 2 };

// Which per-study vector an index is built over. Stored on disk: never renumber.
enum class VectorKind : uint8_t { kImage = 0, kReport = 1 };
inline constexpr int kNumVectorKinds = 2;
const char* VectorKindName(VectorKind kind);  // "image", "report"

// Whether a report states a finding. Stored on disk: never renumber.
enum class Existence : uint8_t { kPresent = 0, kAbsent = 1, kUncertain = 2 };
const char* ExistenceName(Existence e);  // "present", "absent", "uncertain"

// One <anatomical region, finding, existence> statement of a report (seed 004).
struct ReportStatement {
  std::string finding;  // canonical: a CT-RATE label, or e.g. "Pneumothorax"
  std::string region;   // e.g. "right upper lobe", "pleura"
  Existence existence = Existence::kPresent;
  uint32_t sentence = 0;  // index of the sentence in findings + impression
};

// Everything about a study except its vectors and preview.
struct StudyRecord {
  std::string key;          // external key, e.g. "train_1_a_1"; unique, non-empty
  std::string patient_id;   // may be empty
  Sex sex = Sex::kUnknown;
  int age_years = -1;       // -1 = unknown
  int study_date = 0;       // YYYYMMDD (e.g. 20240131); 0 = unknown
  std::string manufacturer; // e.g. "SIEMENS"; may be empty
  std::array<double, 3> spacing_mm{0, 0, 0};  // x, y, z voxel spacing in mm
  std::array<int64_t, 3> shape{0, 0, 0};      // x, y, z voxels
  std::string source_uri;   // where the volume came from (file path or URI)
  std::string findings;     // report section
  std::string impression;   // report section
  std::vector<std::string> labels;  // names of findings present (positive labels)
  std::map<std::string, std::string> extra;  // any other metadata, verbatim
  std::string model_id;     // encoder that produced the vectors; may be empty
  // Parsed from findings + impression by Database::Put when left empty.
  std::vector<ReportStatement> statements;
};

// A feature of one axial slab, centred at z_mm (patient z in mm).
struct SlabFeature {
  float z_mm = 0;
  std::vector<float> vector;
};

// A feature named after what it describes (a disease, a report sentence).
struct NamedFeature {
  std::string name;  // disease name, or the sentence text
  std::vector<float> vector;
};

// A place a model's detector scores as a finding (e.g. a nodule candidate):
// "where in this scan is that nodule". The score is the detector's own
// sigmoid output, not a calibrated probability (see README "Queries").
struct Detection {
  std::string finding;  // catalog disease name, e.g. "Lung nodule"
  float score = 0;      // in [0, 1], higher = more likely
  // LPS millimetres: x toward the patient's left and y posterior, both from
  // the centre of the encoder's field of view; z the patient z (superior).
  std::array<float, 3> position_mm{0, 0, 0};
};

// The embeddings of a study. Every non-empty vector must have the database's
// dimension; the database L2-normalizes `image` and `report` on Put.
struct StudyVectors {
  std::vector<float> image;   // global image embedding; required
  std::vector<float> report;  // report embedding; empty when no report
  std::vector<SlabFeature> slabs;        // one per axial slab, ascending z
  std::vector<NamedFeature> diseases;    // one per disease query token
  std::vector<NamedFeature> sentences;   // one per report sentence
  std::vector<Detection> detections;     // the model's detector output, best first; may be empty
};

// A small downsampled int16 volume (HU), for thumbnails and re-embedding.
// Voxel axes are LPS: i toward the patient's Left, j Posterior, k Superior.
struct Preview {
  std::array<int64_t, 3> shape{0, 0, 0};  // i, j, k; i fastest in `voxels`
  std::array<double, 3> spacing_mm{0, 0, 0};
  double z0_mm = 0;  // patient z (superior, mm) of slice k = 0
  std::vector<int16_t> voxels;            // shape[0]*shape[1]*shape[2] values
};

struct Study {
  StudyRecord record;
  StudyVectors vectors;
  Preview preview;  // empty (all-zero shape) when none
};

}  // namespace ctdb
