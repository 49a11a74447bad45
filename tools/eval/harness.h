// The evaluation harness behind `ctdb eval`: retrieval, zero-shot
// classification and localization quality of a database's vectors (and of
// the model that made them), computed with tools/eval/metrics.
//
// Thread contract: Evaluate reads the database (and, like opening a query
// engine, stores the model's disease prototypes when the catalog lacks
// them) and calls the model; both are safe for concurrent use, the harness
// itself keeps no state.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "ctdb/database.h"
#include "ctdb/model.h"
#include "ctdb/query.h"
#include "tools/eval/metrics.h"

namespace ctdb::eval {

struct EvalOptions {
  int k = 10;         // MAP@k; recalls are reported at 1, 5 and 10
  size_t limit = 0;   // first N studies only; 0 = all
  std::function<void(size_t done, size_t total)> progress;
  // The query engine text -> image runs through (findings_weight, ...).
  QueryEngineOptions query;
};

struct DiseaseScore {
  std::string disease;
  int positives = 0, negatives = 0;
  double auc_global = 0;  // x_global . (p+ - p-)
  double auc_token = 0;   // that disease's query-token feature . (p+ - p-); NaN without features
  // AUC by the size the report states (the largest in the sentences
  // stating the disease present; embed::StatedSizeMm) of the token score
  // (the global one without token features); empty when no positive's
  // report states a size.
  std::vector<SizeBandAuc> by_size;
  int sized_positives = 0;  // positives whose report states a size
  // The best detection score (StudyVectors::detections; 0 for a study with
  // none), where the model has a detector for the disease; NaN otherwise.
  double auc_detector = 0;
  std::vector<SizeBandAuc> detector_by_size;  // as by_size, of that score
};

// What an impression states, independent of its wording and order: each
// finding the report parser reads (present, absent or uncertain) with its
// region and, where present, the size (embed::StatedSizeMm) and amount
// (small, moderate, large) its sentence states; sorted, ';'-separated.
// A whole-study normal statement adds "normal"; a text stating nothing is "".
std::string ImpressionMeaning(const std::string& text);

// An impression whose own study is not in its top 10, and what ranked
// first instead: what a model confuses (`ctdb eval --misses FILE`).
struct TextMiss {
  std::string key, impression;
  int rank = -1;                 // 1-based rank of the study; -1 = below the searched top k + 1
  std::string top_key, top_impression;
  bool top_same_labels = false;  // the first hit has exactly the query study's label set
};

struct EvalReport {
  size_t studies = 0;
  int k = 10;
  // report -> volume: the stored report vector (findings + impression) against the image index.
  size_t reports = 0;
  double report_r1 = 0, report_r5 = 0, report_r10 = 0;
  double report_r10_ceiling = 0;  // RecallCeiling of the report texts (identical reports tie)
  // text -> image: the impression alone, searched the product's way
  // (QueryEngine::SearchText: embedding, re-ranked by the findings the
  // text states), NaN without a model; embedding_*: the embedding's
  // ranking alone.
  size_t texts = 0;
  double text_r1 = 0, text_r5 = 0, text_r10 = 0;
  double embedding_r1 = 0, embedding_r5 = 0, embedding_r10 = 0;
  // The best R@10 any model could reach: many studies share an impression
  // ("Normal chest CT."), and those queries share one ranking.
  double text_r10_ceiling = 0;
  // R@10 a perfect reader of findings could expect: impressions that mean
  // the same (ImpressionMeaning: "1. Cardiomegaly." and "1. Enlarged
  // heart.") cannot be told apart by any image, so of n studies with one
  // meaning min(10, n) find their own (ties in random order). Not a bound:
  // attributes the key leaves out ("centrilobular") may show.
  double text_r10_meaning_ceiling = 0;
  // Fraction of impressions whose top 10 holds a study with exactly the
  // query study's label set: what an impression can identify.
  double text_r10_same_labels = 0;
  std::vector<TextMiss> text_misses;  // in database key order
  // image -> image MAP@k graded by label overlap.
  double map = 0;
  // Zero-shot classification with diagnosis-aware prompts (model needed).
  std::vector<DiseaseScore> diseases;
  double macro_auc_global = 0, macro_auc_token = 0;
  // Localization of sentences with a "(series X, image N)" reference
  // (the reference removed): QueryEngine::Localize's z against the
  // referenced slice's z.
  size_t localized = 0;
  double mae_mm = 0;  // QueryEngine::Localize's answer (a detection where one answers)
  // The best slab's centre for every sentence, side by side; and how many
  // sentences a detection answered.
  double mae_slab_mm = 0;
  size_t localized_by_detection = 0;
  double slab_mm = 0;  // the model's slab thickness, for scale
};

// `model` may be null: then only the stored-vector metrics (report -> volume,
// MAP@k) are computed and the rest are NaN. With a model the database must
// hold that model's vectors (FailedPrecondition otherwise).
Result<EvalReport> Evaluate(Database& db, Model* model, const EvalOptions& options);

std::string ReportJson(const EvalReport& report);

// One JSON object per line per miss: key, impression, rank, top_key,
// top_impression, top_same_labels.
std::string MissesJsonLines(const EvalReport& report);

}  // namespace ctdb::eval
