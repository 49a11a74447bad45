#include "tools/eval/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <set>

namespace ctdb::eval {

double RocAuc(const std::vector<float>& scores, const std::vector<int>& labels) {
  const size_t n = std::min(scores.size(), labels.size());
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  // Average ranks (1-based) over groups of equal scores.
  std::vector<double> rank(n);
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j + 1 < n && scores[order[j + 1]] == scores[order[i]]) ++j;
    const double avg = (static_cast<double>(i) + static_cast<double>(j)) / 2 + 1;
    for (size_t t = i; t <= j; ++t) rank[order[t]] = avg;
    i = j + 1;
  }
  double pos = 0, rank_sum = 0;
  for (size_t i = 0; i < n; ++i) {
    if (labels[i]) {
      ++pos;
      rank_sum += rank[i];
    }
  }
  const double neg = static_cast<double>(n) - pos;
  if (pos == 0 || neg == 0) return std::numeric_limits<double>::quiet_NaN();
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

double MacroAuc(const std::vector<double>& aucs) {
  double sum = 0;
  int n = 0;
  for (double a : aucs) {
    if (std::isfinite(a)) {
      sum += a;
      ++n;
    }
  }
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

double RecallAtK(const std::vector<std::vector<float>>& sim, int k) {
  if (sim.empty() || k < 1) return 0;
  size_t hits = 0;
  for (size_t q = 0; q < sim.size(); ++q) {
    const float own = sim[q][q];
    size_t rank = 0;  // others scoring >= own
    for (size_t c = 0; c < sim[q].size(); ++c) rank += c != q && sim[q][c] >= own;
    hits += rank < static_cast<size_t>(k);
  }
  return static_cast<double>(hits) / static_cast<double>(sim.size());
}

double LabelOverlap(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const std::set<std::string> sa(a.begin(), a.end()), sb(b.begin(), b.end());
  if (sa.empty() && sb.empty()) return 1;
  size_t inter = 0;
  for (const auto& x : sa) inter += sb.count(x);
  return static_cast<double>(inter) / static_cast<double>(sa.size() + sb.size() - inter);
}

double MapAtK(const std::vector<std::vector<float>>& sim, const std::vector<std::vector<std::string>>& labels,
              int k) {
  if (sim.empty() || k < 1) return 0;
  double total = 0;
  for (size_t q = 0; q < sim.size(); ++q) {
    std::vector<size_t> others;
    for (size_t c = 0; c < sim[q].size(); ++c) {
      if (c != q) others.push_back(c);
    }
    // Best first; equal scores keep index order, so results are reproducible.
    std::stable_sort(others.begin(), others.end(), [&](size_t a, size_t b) { return sim[q][a] > sim[q][b]; });
    const size_t kk = std::min<size_t>(static_cast<size_t>(k), others.size());
    std::vector<double> rel(kk);
    for (size_t j = 0; j < kk; ++j) rel[j] = LabelOverlap(labels[q], labels[others[j]]);
    total += AveragePrecisionAtK(rel, k);
  }
  return total / static_cast<double>(sim.size());
}

double AveragePrecisionAtK(const std::vector<double>& rel, int k) {
  if (k < 1) return 0;
  double ap = 0, running = 0;
  for (size_t j = 0; j < std::min<size_t>(rel.size(), static_cast<size_t>(k)); ++j) {
    running += rel[j];
    ap += running / static_cast<double>(j + 1);
  }
  return ap / static_cast<double>(k);
}

double RecallFromRanks(const std::vector<int>& ranks, int k) {
  if (ranks.empty()) return 0;
  size_t hits = 0;
  for (int r : ranks) hits += r >= 0 && r < k;
  return static_cast<double>(hits) / static_cast<double>(ranks.size());
}

double RecallCeiling(const std::vector<std::string>& queries, int k) {
  if (queries.empty() || k < 1) return 0;
  std::map<std::string, size_t> groups;
  for (const auto& q : queries) ++groups[q];
  size_t best = 0;
  for (const auto& [text, n] : groups) best += std::min(n, static_cast<size_t>(k));
  return static_cast<double>(best) / static_cast<double>(queries.size());
}

std::vector<SizeBandAuc> AucBySize(const std::vector<float>& scores, const std::vector<int>& labels,
                                   const std::vector<double>& sizes_mm) {
  struct Band {
    const char* name;
    double lo, hi;  // [lo, hi), the last band's hi open
  };
  static const Band kBands[] = {{"<4 mm", 0, 4}, {"4-6 mm", 4, 6}, {"6-8 mm", 6, 8.000001}, {">8 mm", 8.000001, 1e300}};
  std::vector<SizeBandAuc> out;
  for (const Band& b : kBands) {
    std::vector<float> s;
    std::vector<int> l;
    int positives = 0;
    for (size_t i = 0; i < scores.size() && i < labels.size() && i < sizes_mm.size(); ++i) {
      const bool in_band = labels[i] && sizes_mm[i] >= b.lo && sizes_mm[i] < b.hi;
      if (labels[i] && !in_band) continue;
      s.push_back(scores[i]);
      l.push_back(labels[i]);
      positives += in_band;
    }
    if (positives == 0) continue;
    out.push_back({b.name, positives, RocAuc(s, l)});
  }
  return out;
}

double MeanAbsoluteError(const std::vector<double>& predicted, const std::vector<double>& truth) {
  const size_t n = std::min(predicted.size(), truth.size());
  if (n == 0) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += std::fabs(predicted[i] - truth[i]);
  return sum / static_cast<double>(n);
}

}  // namespace ctdb::eval
