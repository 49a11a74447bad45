#include "embed/batch_order.h"

#include <algorithm>
#include <cctype>
#include <map>
#include <numeric>
#include <random>
#include <string>

namespace ctdb::embed {

std::string NormalizedImpression(const std::string& impression) {
  std::string out;
  bool gap = false;
  for (unsigned char c : impression) {
    if (std::isalnum(c)) {
      if (gap && !out.empty()) out += ' ';
      out += static_cast<char>(std::tolower(c));
      gap = false;
    } else {
      gap = true;
    }
  }
  return out;
}

bool SameFindings(const TrainStudy& a, const TrainStudy& b) {
  if (a.labels != b.labels) return false;
  if (a.impression.empty() || b.impression.empty()) return true;
  return NormalizedImpression(a.impression) == NormalizedImpression(b.impression);
}

std::vector<int64_t> EpochOrder(const std::vector<TrainStudy>& studies, uint64_t seed, int epoch,
                                bool hard_negatives) {
  const int64_t n = static_cast<int64_t>(studies.size());
  std::mt19937_64 rng(seed * 7919 + static_cast<uint64_t>(epoch));
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::shuffle(order.begin(), order.end(), rng);
  if (!hard_negatives) return order;

  // label set -> impression -> studies, in shuffled order (std::map keeps
  // the grouping itself independent of the shuffle).
  std::map<std::vector<uint8_t>, std::map<std::string, std::vector<int64_t>>> groups;
  for (int64_t i : order) {
    const TrainStudy& s = studies[static_cast<size_t>(i)];
    groups[s.labels][NormalizedImpression(s.impression)].push_back(i);
  }
  std::vector<std::vector<int64_t>> units;  // pairs and lone studies
  for (auto& [labels, by_impression] : groups) {
    // Round-robin over the impressions, largest first: neighbours differ in
    // impression as long as two impressions have studies left.
    std::vector<std::vector<int64_t>*> lists;
    for (auto& [imp, ids] : by_impression) lists.push_back(&ids);
    std::stable_sort(lists.begin(), lists.end(), [](auto* x, auto* y) { return x->size() > y->size(); });
    size_t total = 0, longest = 0;
    for (auto* l : lists) total += l->size(), longest = std::max(longest, l->size());
    std::vector<int64_t> seq;
    seq.reserve(total);
    for (size_t round = 0; round < longest; ++round) {
      for (auto* l : lists) {
        if (round < l->size()) seq.push_back((*l)[round]);
      }
    }
    for (size_t k = 0; k < seq.size(); k += 2) {
      units.push_back(k + 1 < seq.size() ? std::vector<int64_t>{seq[k], seq[k + 1]} : std::vector<int64_t>{seq[k]});
    }
  }
  std::shuffle(units.begin(), units.end(), rng);
  // A lone study would shift every later pair across batch boundaries:
  // lone studies go side by side in twos, so every unit but possibly the
  // last is even-sized.
  std::vector<int64_t> pairs_out, singles;
  for (const auto& u : units) {
    if (u.size() == 1) {
      singles.push_back(u[0]);
      if (singles.size() == 2) {
        pairs_out.insert(pairs_out.end(), singles.begin(), singles.end());
        singles.clear();
      }
    } else {
      pairs_out.insert(pairs_out.end(), u.begin(), u.end());
    }
  }
  pairs_out.insert(pairs_out.end(), singles.begin(), singles.end());
  return pairs_out;
}

}  // namespace ctdb::embed
