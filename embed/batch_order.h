// Which studies train together: an epoch's study order, and which pairs in
// a batch are no negatives of each other.
//
// Hard-negative batches: studies with the same label set are placed side by
// side in the order (in pairs, preferring different impressions), so a
// batch holds ~batch/2 such pairs. A random batch of 16 of the 1,400
// training phantoms held 0.41 pairs with one label set and different
// impressions on average, yet those pairs are what text -> image retrieval
// fails on: reports naming the same findings on another side, in another
// lobe, of another size or amount.
//
// Thread contract: pure functions.
#pragma once

#include <cstdint>
#include <vector>

#include "embed/train_data.h"

namespace ctdb::embed {

// Two studies whose SigLIP pair is no negative (seed 002's false-negative
// awareness): the same label set and, where both have one, the same
// impression up to case, spacing and punctuation. Label sets alone were the
// first rule; once impressions say which side, lobe and size, two studies
// with one label set can be told apart by their reports, and masking them
// taught the model not to.
bool SameFindings(const TrainStudy& a, const TrainStudy& b);

// The impression reduced to lower-case letters and digits, one space
// between words: what SameFindings compares.
std::string NormalizedImpression(const std::string& impression);

// The order of an epoch's studies, fixed by (seed, epoch). hard_negatives =
// false: a plain shuffle. true: each label set's studies are shuffled,
// interleaved across their distinct impressions, cut into pairs, and the
// pairs (and lone studies) shuffled; a pair stays inside one batch when the
// batch size is even. Every study appears exactly once either way.
std::vector<int64_t> EpochOrder(const std::vector<TrainStudy>& studies, uint64_t seed, int epoch,
                                bool hard_negatives);

}  // namespace ctdb::embed
