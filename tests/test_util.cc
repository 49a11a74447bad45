#include "tests/test_util.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <random>
#include <stdexcept>

#include "api/src/model_builder.h"

namespace ctdb::test {

TempDir::TempDir() {
  std::string t = (std::filesystem::temp_directory_path() / "ctdb-test-XXXXXX").string();
  if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
  path_ = t;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

std::vector<float> RandomUnitVectors(size_t n, size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g;
  std::vector<float> v(n * d);
  for (size_t i = 0; i < n; ++i) {
    double s = 0;
    for (size_t j = 0; j < d; ++j) {
      v[i * d + j] = g(rng);
      s += double(v[i * d + j]) * v[i * d + j];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(s));
    for (size_t j = 0; j < d; ++j) v[i * d + j] *= inv;
  }
  return v;
}

std::vector<size_t> BruteForceTopK(const std::vector<float>& data, size_t d, const float* q, size_t k,
                                   const std::vector<bool>& keep) {
  const size_t n = data.size() / d;
  std::vector<std::pair<double, size_t>> scored;
  for (size_t i = 0; i < n; ++i) {
    if (!keep.empty() && !keep[i]) continue;
    double s = 0;
    for (size_t j = 0; j < d; ++j) s += double(data[i * d + j]) * q[j];
    scored.emplace_back(s, i);
  }
  const size_t kk = std::min(k, scored.size());
  std::partial_sort(scored.begin(), scored.begin() + static_cast<long>(kk), scored.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<size_t> out;
  for (size_t i = 0; i < kk; ++i) out.push_back(scored[i].second);
  return out;
}

Study MakeStudy(const std::string& key, const float* image, size_t d) {
  Study s;
  s.record.key = key;
  s.record.patient_id = "p-" + key;
  s.vectors.image.assign(image, image + d);
  return s;
}

std::string MakeTinyModel(const std::string& dir, uint64_t seed, int64_t dimension) {
  NewModelSpec spec;
  spec.manifest = NewModelSpec::TinyManifest();
  spec.manifest.dimension = dimension;
  spec.corpus = {"No pleural effusion.", "Right pleural effusion.", "Cardiomegaly.", "Lung nodule."};
  spec.seed = seed;
  const Status s = CreateNativeModel(dir, spec);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return dir;
}

}  // namespace ctdb::test
