// Evaluation metrics of the harness (`ctdb eval`), as pure functions so they
// can be checked against hand-computed values.
//
// Thread contract: stateless functions, thread-safe.
#pragma once

#include <string>
#include <vector>

namespace ctdb::eval {

// Area under the ROC curve: the probability that a random positive scores
// above a random negative, ties counting one half (Mann-Whitney U with
// average ranks). NaN when labels hold a single class.
double RocAuc(const std::vector<float>& scores, const std::vector<int>& labels);

// Mean of the finite AUCs (classes with both labels present); NaN if none.
double MacroAuc(const std::vector<double>& aucs);

// CT-CLIP's retrieval recall: similarity[q][c] scores candidate c for query
// q, and q's own candidate is c = q. R@k is the fraction of queries whose
// own candidate ranks in the top k. Ties are counted against the query:
// rank = number of other candidates scoring >= the own candidate, so
// duplicates never inflate recall.
double RecallAtK(const std::vector<std::vector<float>>& similarity, int k);

// Jaccard overlap |A n B| / |A u B| of two label sets (both empty: 1).
double LabelOverlap(const std::vector<std::string>& a, const std::vector<std::string>& b);

// Image -> image mean average precision with graded relevance: for each
// query, the other studies ranked by similarity (the query itself
// excluded), relevance r_j = LabelOverlap of the j-th hit,
// AP@k = (1/k) * sum_{j<=k} (1/j) * sum_{i<=j} r_i, averaged over queries.
double MapAtK(const std::vector<std::vector<float>>& similarity,
              const std::vector<std::vector<std::string>>& labels, int k);

// Graded average precision of one ranked list of relevances (best first):
// (1/k) * sum_{j<=k} (1/j) * sum_{i<=j} r_i; missing ranks count as 0.
double AveragePrecisionAtK(const std::vector<double>& relevances, int k);

// Fraction of 0-based ranks below k (a rank < 0 means "not retrieved").
double RecallFromRanks(const std::vector<int>& ranks, int k);

// The highest R@k any model can reach on these queries: identical query
// texts embed identically and share one ranking, so of a group of n
// identical queries at most min(k, n) find their own candidate in the top k.
// Sum over groups of min(k, n), over the number of queries (0 when empty).
double RecallCeiling(const std::vector<std::string>& queries, int k);

// AUC of the positives whose stated size (mm) falls in each band against
// every negative: small findings are what a model misses first. Bands:
// < 4, 4 to < 6, 6 to 8, > 8 mm (Fleischner's nodule sizes, one split
// finer). sizes[i] < 0 = no size stated: the positive is in no band.
// Bands without a positive are left out.
struct SizeBandAuc {
  std::string band;  // "<4 mm", "4-6 mm", "6-8 mm", ">8 mm"
  int positives = 0;
  double auc = 0;    // NaN without negatives
};
std::vector<SizeBandAuc> AucBySize(const std::vector<float>& scores, const std::vector<int>& labels,
                                   const std::vector<double>& sizes_mm);

// Mean absolute error (mm) between predicted and true z; NaN when empty.
double MeanAbsoluteError(const std::vector<double>& predicted_mm, const std::vector<double>& true_mm);

}  // namespace ctdb::eval
