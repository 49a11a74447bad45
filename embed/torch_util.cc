#include "embed/torch_util.h"

#include <torch/nn/functional/normalization.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <limits>
#include <mutex>
#include <numeric>
#include <thread>

namespace ctdb::embed {

void ConfigureTorchThreads(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  static std::once_flag interop_once;
  std::call_once(interop_once, [] {
    try {
      at::set_num_interop_threads(1);
    } catch (const c10::Error&) {
      // Already fixed by an earlier parallel call in this process: keep it.
    }
  });
  at::set_num_threads(n);
}

bool RetainFreedMemory() {
#if defined(__GLIBC__)
  // Blocks are then carved from the brk heap (glibc still maps one where the
  // heap cannot grow); what is freed stays mapped and is reused. A trim
  // threshold of -1 never trims.
  return mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, -1) == 1 && mallopt(M_TOP_PAD, 64 << 20) == 1;
#else
  return false;
#endif
}

torch::Tensor VolumesToTensor(const std::vector<const Tensor3*>& volumes) {
  const auto& s = volumes.front()->shape;
  auto t = torch::empty({static_cast<int64_t>(volumes.size()), 1, s[2], s[1], s[0]}, torch::kFloat32);
  const int64_t n = s[0] * s[1] * s[2];
  for (size_t b = 0; b < volumes.size(); ++b) {
    // Tensor3 is i fastest, i.e. already (k, j, i) = (z, y, x) row-major.
    std::memcpy(t.data_ptr<float>() + static_cast<int64_t>(b) * n, volumes[b]->data.data(),
                static_cast<size_t>(n) * sizeof(float));
  }
  return t;
}

std::vector<float> ToVector(const torch::Tensor& row) {
  auto c = row.contiguous().to(torch::kFloat32);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

torch::Tensor Normalize(const torch::Tensor& t) {
  return torch::nn::functional::normalize(t, torch::nn::functional::NormalizeFuncOptions().dim(-1).eps(1e-8));
}

namespace {

// Encoded texts padded to the longest of them (at least 2 tokens).
TokenBatch PadBatch(const std::vector<const TokenIds*>& enc, int64_t pad_id) {
  TokenBatch b;
  size_t longest = 2;
  for (const TokenIds* e : enc) longest = std::max(longest, e->ids.size());
  const auto n = static_cast<int64_t>(enc.size()), l = static_cast<int64_t>(longest);
  b.ids = torch::full({n, l}, pad_id, torch::kLong);
  b.mask = torch::zeros({n, l}, torch::kLong);
  auto ids = b.ids.accessor<int64_t, 2>();
  auto mask = b.mask.accessor<int64_t, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& e = enc[static_cast<size_t>(i)]->ids;
    for (size_t j = 0; j < e.size(); ++j) {
      ids[i][static_cast<int64_t>(j)] = e[j];
      mask[i][static_cast<int64_t>(j)] = 1;
    }
    b.lengths.push_back(static_cast<int64_t>(e.size()));
  }
  return b;
}

}  // namespace

TokenBatch TokenizeBatch(const WordPiece& tokenizer, const std::vector<std::string>& texts, int max_tokens) {
  std::vector<TokenIds> enc;
  for (const auto& t : texts) enc.push_back(tokenizer.Encode(t, max_tokens));
  std::vector<const TokenIds*> rows;
  for (const auto& e : enc) rows.push_back(&e);
  return PadBatch(rows, tokenizer.pad_id());
}

TokenGroups TokenizeByLength(const WordPiece& tokenizer, const std::vector<std::string>& texts, int max_tokens,
                             int64_t group_cost) {
  const size_t n = texts.size();
  std::vector<TokenIds> enc;
  std::vector<int64_t> length(n);
  for (size_t i = 0; i < n; ++i) {
    enc.push_back(tokenizer.Encode(texts[i], max_tokens));
    length[i] = static_cast<int64_t>(enc.back().ids.size());
  }
  TokenGroups g;
  g.order.resize(n);
  std::iota(g.order.begin(), g.order.end(), 0);
  std::stable_sort(g.order.begin(), g.order.end(), [&](int64_t a, int64_t b) { return length[a] < length[b]; });
  // best[j]: least cost of grouping the j shortest texts; a group [i, j)
  // costs its count times its longest (the last, sorted) plus group_cost.
  std::vector<int64_t> best(n + 1, 0), cut(n + 1, 0);
  for (size_t j = 1; j <= n; ++j) {
    const int64_t longest = std::max<int64_t>(2, length[static_cast<size_t>(g.order[j - 1])]);
    best[j] = std::numeric_limits<int64_t>::max();
    for (size_t i = 0; i < j; ++i) {
      const int64_t c = best[i] + static_cast<int64_t>(j - i) * longest + group_cost;
      if (c < best[j]) {
        best[j] = c;
        cut[j] = static_cast<int64_t>(i);
      }
    }
  }
  std::vector<std::pair<size_t, size_t>> spans;
  for (size_t j = n; j > 0; j = static_cast<size_t>(cut[j])) spans.emplace_back(static_cast<size_t>(cut[j]), j);
  for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
    std::vector<const TokenIds*> part;
    for (size_t r = it->first; r < it->second; ++r) part.push_back(&enc[static_cast<size_t>(g.order[r])]);
    g.batches.push_back(PadBatch(part, tokenizer.pad_id()));
  }
  return g;
}

std::vector<SlabEncoding> SlabsOf(const torch::Tensor& slabs, const Tensor3& volume) {
  std::vector<SlabEncoding> out;
  const int64_t s_count = slabs.size(0), z = volume.shape[2];
  const int64_t per = s_count > 0 ? z / s_count : 0;
  for (int64_t s = 0; s < s_count; ++s) {
    double sum = 0;
    int inside = 0;
    for (int64_t k = s * per; k < (s + 1) * per; ++k) {
      sum += volume.slice_z_mm[static_cast<size_t>(k)];
      inside += volume.slice_inside.empty() || volume.slice_inside[static_cast<size_t>(k)];
    }
    if (inside == 0) continue;
    out.push_back({static_cast<float>(sum / static_cast<double>(per)), ToVector(slabs[s])});
  }
  return out;
}

std::string ManifestFingerprint(const ModelManifest& m) {
  std::string out;
  char num[40];
  const auto add = [&](double v) {
    std::snprintf(num, sizeof(num), "%.17g,", v);
    out += num;
  };
  const auto word = [&](const std::string& w) {
    out += std::to_string(w.size()) + ':' + w + ';';  // length-prefixed: no two lists read the same
  };
  word(m.format);
  add(static_cast<double>(m.dimension));
  word(m.orientation);
  const PreprocessSpec& p = m.preprocess;
  for (double v : p.spacing_mm) add(v);
  for (int64_t v : p.size) add(static_cast<double>(v));
  for (float v : {p.hu_min, p.hu_max, p.offset, p.divisor, p.pad_value}) add(v);
  word(ResampleName(p.resample));
  add(m.tokenizer.lower_case);
  add(m.tokenizer.strip_accents);
  add(m.tokenizer.max_chars_per_word);
  add(static_cast<double>(m.max_tokens));
  add(m.slab_mm);
  add(static_cast<double>(m.diseases.size()));
  for (const auto& d : m.diseases) word(d);
  if (m.format == "native") {
    const NativeArchitecture& a = m.architecture;
    add(static_cast<double>(a.stem.size()));
    for (const auto& st : a.stem) {
      add(static_cast<double>(st.channels));
      for (int64_t v : st.kernel) add(static_cast<double>(v));
      for (int64_t v : st.stride) add(static_cast<double>(v));
    }
    word(a.stem_norm);
    add(static_cast<double>(a.windows.size()));
    for (const auto& w : a.windows) {
      add(w[0]);
      add(w[1]);
    }
    add(a.stem_pool);
    for (int64_t v : {a.width, a.layers, a.heads, a.ffn, a.text_width, a.text_layers, a.text_heads, a.text_ffn}) {
      add(static_cast<double>(v));
    }
    // Only when present: models without a head keep the ids they had.
    if (a.detect.stage > 0) {
      word("detect");
      add(static_cast<double>(a.detect.stage));
      add(static_cast<double>(a.detect.channels));
      add(a.detect.sharpness);
    }
    if (!a.peaks.empty()) {
      word("peaks");
      add(static_cast<double>(a.peaks.size()));
      for (int64_t s : a.peaks) add(static_cast<double>(s));
    }
    if (a.readout) word("readout");
    if (!a.blobs.empty()) {
      word("blobs");
      add(static_cast<double>(a.blobs.size()));
      for (double s : a.blobs) add(s);
    }
    if (a.candidates.count > 0) {
      word("candidates");
      add(static_cast<double>(a.candidates.count));
      add(static_cast<double>(a.candidates.channels));
      add(a.candidates.patch_mm);
    }
  }
  return out;
}

// FNV-1a 64 over n more bytes.
static void Fnv1a(uint64_t* h, const char* data, size_t n) {
  for (size_t i = 0; i < n; ++i) *h = (*h ^ static_cast<unsigned char>(data[i])) * 1099511628211ULL;
}

Result<std::string> ModelId(const ModelManifest& manifest, const std::vector<std::string>& files) {
  uint64_t h = 1469598103934665603ULL;
  const std::string fingerprint = ManifestFingerprint(manifest);
  Fnv1a(&h, fingerprint.data(), fingerprint.size());
  std::vector<char> buf(1 << 20);
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    if (!in) return Status::NotFound("cannot open model file " + f);
    while (in) {
      in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
      Fnv1a(&h, buf.data(), static_cast<size_t>(in.gcount()));
    }
    if (in.bad()) return Status::IOError("reading model file " + f);
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(h));
  return manifest.name + "@" + manifest.version + "#" + hex;
}

double MatmulGflops(int64_t n, int repeats) {
  torch::InferenceMode guard;
  auto a = torch::randn({n, n}), b = torch::randn({n, n});
  auto c = torch::mm(a, b);  // warm-up
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    c = torch::mm(a, b);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * static_cast<double>(n) * static_cast<double>(n) * static_cast<double>(n) / best / 1e9;
}

Status CatchTorch(const std::string& what, const std::function<Status()>& fn) {
  try {
    return fn();
  } catch (const c10::Error& e) {
    // LibTorch messages carry a C++ backtrace after the first line.
    std::string msg = e.what_without_backtrace();
    return Status::InvalidArgument(what + ": " + msg.substr(0, msg.find('\n')));
  } catch (const std::exception& e) {
    return Status::Internal(what + ": " + e.what());
  }
}

}  // namespace ctdb::embed
