// Helpers shared by the test suites: temporary directories, random unit
// vectors, brute-force ground truth.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ctdb/study.h"

namespace ctdb::test {

// A fresh directory removed when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Whole-file read and overwrite, for tests that damage files on purpose.
std::string ReadFileBytes(const std::string& path);
void WriteFileBytes(const std::string& path, const std::string& bytes);

// n random unit vectors of dimension d (row-major), deterministic for a seed.
std::vector<float> RandomUnitVectors(size_t n, size_t d, uint64_t seed);

// Indices of the k largest inner products of q with the rows of data whose
// `keep` flag is set (all rows when keep is empty), best first.
std::vector<size_t> BruteForceTopK(const std::vector<float>& data, size_t d, const float* q, size_t k,
                                   const std::vector<bool>& keep = {});

// A study with the given key, image vector and simple metadata.
Study MakeStudy(const std::string& key, const float* image, size_t d);

// A freshly initialized native model in the tiny test layout (32 x 32 x 16
// input, 24 mm slabs) written to `dir`, with a small report vocabulary;
// another seed gives other weights (and id). Returns `dir`.
std::string MakeTinyModel(const std::string& dir, uint64_t seed = 1, int64_t dimension = 32);

}  // namespace ctdb::test
