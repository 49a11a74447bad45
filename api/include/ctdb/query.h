// ctdb::QueryEngine: the questions a user asks of a database (DESIGN.md
// "Queries"), answered with its model:
//
//   auto q = ctdb::QueryEngine::Open(db.get(), model);      // model may be null
//   auto r = (*q)->SearchText("right pleural effusion", {}); // hits with z (mm)
//   auto p = (*q)->Classify("valid_12_a_1");                // P(disease) each
//
// Every result says what its scores mean (score_meaning), so a caller never
// has to guess whether a number is a cosine, a margin or a probability.
//
// Thread contract: a QueryEngine is safe for concurrent use; it holds no
// mutable state beyond a catalog cache guarded inside. A study deleted
// while a search reads its hits back is left out, so a page can come back
// shorter than k. The Database and Model must outlive it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ctdb/database.h"
#include "ctdb/model.h"

namespace ctdb {

struct QueryOptions {
  // Hits to return after `offset`, in [1, 1000]. Default: 10.
  size_t k = 10;
  // Hits to skip (paging). Default: 0.
  size_t offset = 0;
  // Metadata predicates (ctdb/filter.h). Default: none.
  Filter filter;
  // Exact scan even with an approximate index. Default: false.
  bool exact = false;
};

struct QueryHit {
  std::string key;
  float score = 0;                   // see QueryResult::score_meaning
  std::optional<float> probability;  // disease searches: P(disease | study)
  std::optional<float> z_mm;         // text searches: centre of the best slab
  std::optional<float> slab_score;   // ... and its cosine with the text
  std::string sentence;              // report searches: best-matching sentence
  StudyRecord record;                // the hit's record (statements included)
};

struct QueryResult {
  std::string score_meaning;
  std::vector<QueryHit> hits;
};

struct DiseaseProbability {
  std::string disease;
  // sigmoid(logit_scale * (x.p+ - x.p-)) with x the study's global image
  // embedding: the same quantity disease searches rank by.
  float probability = 0;
  float margin = 0;  // x.p+ - x.p-
  // The same with x = the study's feature of this disease's query token,
  // when the model has one for it.
  std::optional<float> token_probability;
  // The calibrated probability, when the disease is calibrated
  // (DiseaseEntry::calibration_studies > 0): sigmoid(scale * z + bias), z
  // the log-odds of token_probability (of probability without a token).
  // What text search adds up across findings.
  std::optional<float> calibrated_probability;
  bool labelled = false;  // the study's own label says present (for comparison)
  // Where the model's detector found the disease (the shipped model: lung
  // nodule candidates), best first; empty when it has no detector for it.
  std::vector<Detection> detections;
};

struct Localization {
  std::string key;
  // The answer (patient z, mm): the detection's z when one answers (below),
  // else the best slab's centre.
  float z_mm = 0;
  float slab_z_mm = 0;  // centre of the best slab
  float score = 0;      // the best slab's cosine with the text
  float slab_mm = 0;    // slab thickness
  // A finding the text states present that the model's detector found (on
  // the side the text gives it, scoring >= localize_min_score): its best
  // such detection, x and y included. Empty otherwise.
  std::optional<Detection> detection;
  struct Point {
    float z_mm, score;
  };
  std::vector<Point> curve;  // every slab, ascending z
};

struct ReportDraft {
  struct Neighbor {
    std::string key;
    float score = 0;  // image cosine to the study
    std::string impression;
  };
  struct Finding {
    std::string finding;   // canonical name, e.g. "Pleural effusion"
    float support = 0;     // score-weighted share of neighbours stating it present
    std::string sentence;  // wording taken from the closest neighbour that states it
  };
  std::vector<Neighbor> neighbors;
  std::vector<Finding> findings;  // support >= 0.5, most supported first
  std::string text;               // the draft: one sentence per finding, or a normal statement
};

struct QueryEngineOptions {
  // Candidates re-ranked by a disease's query-token feature in a
  // disease-scoped image search: max(min_rerank, 50 * (k + offset)), taken
  // from the global image index. Default: 1000.
  size_t min_rerank = 1000;
  // Neighbours a report draft is built from. Default: 5.
  size_t draft_neighbors = 5;
  // Text searches whose text states catalog findings ("Bibasilar
  // atelectasis. No pleural effusion.", parsed like a report) re-rank the
  // same candidate pool by cos(text, image) + findings_weight * the mean,
  // over the stated findings, of log P(the stated existence | study), P
  // from the study's disease-token feature (its global embedding without
  // one) against p+ - p-, clamped to [0.01, 0.99]. One embedding mixes
  // every finding of a report, and a study with one of two stated findings
  // ranked above the study with both; the per-finding scores (zero-shot
  // AUC 0.96) say which studies show each. 0 = embedding similarity only.
  // Default: 0.1 (chosen on held-out phantoms, synth seed 2027's valid
  // split, that are not those README's results come from).
  double findings_weight = 0.1;
  // Candidates a findings-aware text search re-ranks: max(findings_pool,
  // 10 * (k + offset)) nearest by embedding. Each costs three small reads,
  // so the pool keeps the search inside the 10 ms REST target at any
  // database size. Default: 100.
  size_t findings_pool = 100;
  // Weight of the match between each sentence stating a present finding
  // and that finding's disease-token feature (cosine, mean over the
  // sentences): what the sentence says of the finding (side, lobe, size)
  // beyond its existence. 0 = off. Default: 0.
  double sentence_weight = 0;
  // Weight of the mean log P(absent) of the catalog findings the text does
  // not state: an impression names what it sees, so a study showing more
  // than the text says ranks below one showing just that; among studies
  // with the stated findings, the ones with fewest others come first.
  // Applied only to texts stating at least one catalog finding or calling
  // the study normal, and, like sentence_weight, only while
  // findings_weight > 0 (0 there = the embedding's ranking alone). 0 = off.
  // Default: 1.2, chosen with calibrated diseases and probability_floor
  // 0.001 (R@10 on the seed-2027 valid phantoms 0.915 at 0.9, 0.920 at 1.2
  // and 1.5; uncalibrated with floor 0.01 it was 0.5: 0.782 -> 0.882 then).
  double unstated_weight = 1.2;
  // The same for unstated findings whose disease is not calibrated: the raw
  // contrastive probabilities are overconfident, and a heavier weight lets
  // their mistakes dominate (uncalibrated, floor 0.001: R@10 0.908 at 0.5,
  // 0.892 at 1.2 on the seed-2027 valid phantoms). Each unstated finding
  // weighs by its own kind in the mean. Default: 0.5.
  double unstated_weight_uncalibrated = 0.5;
  // The findings terms read each probability clamped to [probability_floor,
  // 1 - probability_floor], so one confident mistake cannot sink a study.
  // The raw contrastive log-odds reach 1e-11, calibrated ones (DiseaseEntry::
  // calibration_*) are honest further out. Default: 0.001 (R@10 on the
  // seed-2027 valid phantoms, calibrated: 0.893 at 0.01, 0.905 at 0.001,
  // flat below; it was 0.01 before calibration).
  double probability_floor = 0.001;
  // Weight of the attributes each sentence stating a present finding gives
  // it: side, level, amount ("Small right pleural effusion."). Per
  // attribute, the cosine of the study's global image embedding with the
  // sentence minus its mean cosine with the sentence so changed ("Small
  // left ...", "Large right ..."), averaged over the sentences' attributes.
  // The words the variants share cancel, so the term scores the attribute
  // alone, which the whole text's embedding mixes with everything else.
  // Applied like sentence_weight; 0 = off. Default: 0.7 (R@10 0.885 ->
  // 0.890 on the seed-2027 valid phantoms; 0.5 and 1: 0.890, 0.3: 0.885,
  // 1.5: 0.888).
  double attribute_weight = 0.7;
  // Where the model has a detector for a finding (the shipped model's
  // nodule candidates; StudyVectors::detections), the findings terms read
  // its best detection too: the log-odds used are (1 - a) x the token's +
  // a x the best detection score's. A finding stated present on one side
  // ("left upper lobe", "lingula") reads the best detection on that side
  // (LPS x > 0 is left), none there counting as score 0. The shipped
  // detector ranks phantoms by nodule at AUC 0.81 against its token's 0.78
  // (the score reaches the token through one learned direction). 0 = the
  // token alone, 1 = the detector alone. Default: 1 (R@10 0.887 -> 0.897
  // on the seed-2027 valid phantoms; 0.5: 0.888, 0.75: 0.893 with sides).
  double detection_weight = 1;
  // A finding stated in a lobe ("right lower lobe", "lingula") reads only
  // the detections at that lobe's height in the scan (-1 its lowest slice,
  // +1 its highest): lower lobes below lower_zone_top, the middle lobe and
  // lingula between it and upper_zone_bottom, upper lobes above. Height
  // stands in for lobe segmentation: it assumes a chest CT covering the
  // lungs, as CT-RATE's do, and lobes split by level (fissures are oblique,
  // so near a boundary it can be wrong). Defaults: -0.1 and 0.35, where the
  // 532 lobe sentences with a slice reference in the seed-2027 training
  // reports put them (upper lobe 0.33..0.79, middle and lingula -0.11..0.36,
  // lower -0.62..-0.10). Needs the record's slice geometry (ingested
  // studies have it); lower_zone_top >= upper_zone_bottom turns zones off.
  double lower_zone_top = -0.1;
  double upper_zone_bottom = 0.35;
  // Localize answers with the model's best detection of a finding the text
  // states present (on its stated side) when that detection scores at least
  // this; else with the best slab. > 1 = slabs only. Default: 0.3, the
  // middle of a flat range on the seed-2027 valid phantoms (MAE over 241
  // referenced sentences: 7.25 mm by slabs alone; 0: 5.79, 0.1: 3.66, 0.2:
  // 3.54, 0.3: 3.69, 0.5: 3.83, 0.7: 4.15, 0.9: 4.46 mm).
  double localize_min_score = 0.3;
};

class QueryEngine {
 public:
  // `model` may be null: then only queries that need no encoding work
  // (image by key, disease, classify); the others fail with
  // FailedPrecondition. A model whose id differs from the database's is
  // refused (its vectors would not be comparable). When the model is given
  // and the database catalog lacks this model's prototypes, they are
  // embedded and stored (seeded from the model's catalog when empty).
  static Result<std::unique_ptr<QueryEngine>> Open(Database* db, std::shared_ptr<Model> model,
                                                   const QueryEngineOptions& options = {});
  virtual ~QueryEngine() = default;

  // Studies whose image matches a sentence; each hit carries the z of its
  // best slab. Findings the text states re-rank (findings_weight).
  virtual Result<QueryResult> SearchText(const std::string& text, const QueryOptions& options) = 0;
  // Studies whose image is like a stored study's (itself excluded), or like a
  // volume file's. `disease` non-empty: compare that disease's query-token
  // features instead (re-ranking image-index candidates).
  virtual Result<QueryResult> SearchImageByKey(const std::string& key, const QueryOptions& options,
                                               const std::string& disease = "") = 0;
  virtual Result<QueryResult> SearchImageByFile(const std::string& path, const QueryOptions& options,
                                                const std::string& disease = "") = 0;
  // Studies most likely to show a disease: one inner-product search with
  // p+ - p-; exemplar_weight in [0, 1] blends in the labelled-study exemplar
  // direction (needs ComputeExemplars first). A disease the model's
  // detector covers (stored detections; the shipped model's lung nodules)
  // instead re-ranks the max(min_rerank, 50 (k + offset)) nearest by its
  // log-odds mixed with the best detection's (detection_weight; 0 = off).
  virtual Result<QueryResult> SearchDisease(const std::string& disease, const QueryOptions& options,
                                            double exemplar_weight = 0) = 0;
  // P(disease) for every catalog disease, in catalog order.
  virtual Result<std::vector<DiseaseProbability>> Classify(const std::string& key) = 0;
  // Where along z a text matches a study.
  virtual Result<Localization> Localize(const std::string& key, const std::string& text) = 0;
  // A report drafted from the nearest studies' reports.
  virtual Result<ReportDraft> DraftReport(const std::string& key) = 0;
  // Reports (not images) matching a text; hits carry the best sentence.
  virtual Result<QueryResult> SearchReports(const std::string& text, const QueryOptions& options) = 0;

  // Catalog editing: sets a disease's phrases (adding the disease when new)
  // and embeds them. FailedPrecondition without a model.
  virtual Result<DiseaseEntry> SetDisease(const std::string& name, const std::vector<std::string>& positive,
                                          const std::vector<std::string>& negative) = 0;
  // Recomputes every disease's exemplar prototypes from the stored studies'
  // labels; returns the number of labelled studies used.
  virtual Result<uint64_t> ComputeExemplars() = 0;
  // Fits every disease's calibration (DiseaseEntry::calibration_*) by
  // logistic regression of the stored studies' labels on the disease's
  // log-odds, and stores it; a disease with fewer than 5 labelled studies
  // with it or 5 without is left uncalibrated (calibration_studies 0).
  // Returns the catalog as stored. Like exemplars, every study counts, a
  // missing label as absent. FailedPrecondition for an empty database.
  virtual Result<std::vector<DiseaseEntry>> CalibrateDiseases() = 0;
  // The catalog as stored (with this model's prototypes).
  virtual Result<std::vector<DiseaseEntry>> Diseases() = 0;
  // Removes a disease from the catalog (NotFound if absent); queries of
  // this engine no longer find it.
  virtual Status DeleteDisease(const std::string& name) = 0;
};

}  // namespace ctdb
