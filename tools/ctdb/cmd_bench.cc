// ctdb bench search: ctdb's search path against raw FAISS on an identical
// index, in the same run, plus the machine's memory bandwidth as the roofline
// of an exact scan.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <atomic>
#include <random>
#include <set>
#include <thread>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ctdb/ctdb.h"
#include "embed/nifti_io.h"
#include "embed/preprocess.h"
#include "index/compute_config.h"
#include "index/faiss_baseline.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"

namespace ctdb::cli {
namespace {

const char kBenchHelp[] =
    "usage: ctdb bench search [--n 100000] [--dim 512] [--k 10] [--queries 200]\n"
    "                         [--index Flat] [--threads 0] [--dir /tmp] [--seed 1]\n"
    "Times ctdb search and raw FAISS on identical indexes over N random unit\n"
    "vectors, one query at a time (p50/p99 latency, QPS) and in one batch;\n"
    "prints the measured memory read bandwidth, the bandwidth one exact query\n"
    "reaches, RAM per vector, and last the ctdb/FAISS latency ratio.\n"
    "Other benchmarks: ctdb bench preprocess --help, ctdb bench encoder --help.\n";

// Bytes per second read by summing a large buffer with all threads.
double MeasureReadBandwidth(int threads) {
  const size_t bytes = size_t{1} << 30;
  std::vector<uint32_t> buf(bytes / 4, 1);
  double best = 0;
  for (int rep = 0; rep < 4; ++rep) {
    std::vector<uint64_t> sums(static_cast<size_t>(threads));
    const double t0 = NowSeconds();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        const size_t n = buf.size(), lo = n * t / threads, hi = n * (t + 1) / threads;
        uint64_t s = 0;
#if defined(__SSE2__)
        __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
        size_t i = lo;
        for (; i + 16 <= hi; i += 16) {
          const auto* p = reinterpret_cast<const __m128i*>(&buf[i]);
          a0 = _mm_add_epi32(a0, _mm_loadu_si128(p));
          a1 = _mm_add_epi32(a1, _mm_loadu_si128(p + 1));
          a2 = _mm_add_epi32(a2, _mm_loadu_si128(p + 2));
          a3 = _mm_add_epi32(a3, _mm_loadu_si128(p + 3));
        }
        uint32_t lanes[4];
        _mm_storeu_si128(reinterpret_cast<__m128i*>(lanes),
                         _mm_add_epi32(_mm_add_epi32(a0, a1), _mm_add_epi32(a2, a3)));
        s = uint64_t{lanes[0]} + lanes[1] + lanes[2] + lanes[3];
        for (; i < hi; ++i) s += buf[i];
#else
        for (size_t i = lo; i < hi; ++i) s += buf[i];
#endif
        sums[static_cast<size_t>(t)] = s;
      });
    }
    for (auto& th : pool) th.join();
    const double dt = NowSeconds() - t0;
    uint64_t total = 0;
    for (uint64_t s : sums) total += s;
    if (total != buf.size()) std::fprintf(stderr, "bandwidth check sum mismatch\n");
    best = std::max(best, bytes / dt);
  }
  return best;
}

uint64_t RssBytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

struct Timing {
  std::vector<double> lat;  // seconds per query
  double Percentile(double p) const {
    std::vector<double> v = lat;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5))];
  }
  double Mean() const {
    double s = 0;
    for (double x : lat) s += x;
    return s / lat.size();
  }
};

const char kPreprocessHelp[] =
    "usage: ctdb bench preprocess [--size 512x512x300] [--repeat 3] [--dir /tmp]\n"
    "Writes a synthetic int16 CT volume as .nii.gz, then times reading it and\n"
    "preprocessing it (128x128x64 at 2.5x2.5x5 mm) stage by stage, next to\n"
    "`gzip -dc` of the same file as the floor; the ratio is printed last. The\n"
    "antialiased resampling (a manifest's \"resample\": \"antialias\") is timed too.\n";

int BenchPreprocess(int argc, char** argv) {
  Args args(argc, argv, 1, {"help"});
  int exit;
  if (!Prepare(args, {"size", "repeat", "dir", "help"}, kPreprocessHelp, &exit)) return exit;
  int64_t repeat;
  Status s = args.GetInt("repeat", 3, 1, 100, &repeat);
  if (!s.ok()) return UsageError(s.message(), kPreprocessHelp);
  long long nx = 512, ny = 512, nz = 300;
  if (args.Has("size") && (std::sscanf(args.Get("size").c_str(), "%lldx%lldx%lld", &nx, &ny, &nz) != 3 || nx < 8 ||
                           ny < 8 || nz < 8 || nx > 2048 || ny > 2048 || nz > 2048)) {
    return UsageError("--size must be like 512x512x300 (8..2048 per axis)", kPreprocessHelp);
  }
  std::string dir = args.Get("dir", "/tmp") + "/ctdb-bench-XXXXXX";
  if (!mkdtemp(dir.data())) return Fail(Status::IOError("cannot create a directory under " + args.Get("dir", "/tmp")));
  struct Cleanup {
    std::string d;
    ~Cleanup() { std::error_code ec; std::filesystem::remove_all(d, ec); }
  } cleanup{dir};
  // A body-shaped phantom with noise, stored as CT scanners do (HU + 1024).
  embed::Volume v;
  v.shape = {nx, ny, nz};
  v.spacing_mm = {0.7, 0.7, 1.0};
  v.ijk_to_ras = embed::IdentityAffine();
  for (int a = 0; a < 3; ++a) v.ijk_to_ras[a][a] = a < 2 ? -v.spacing_mm[a] : v.spacing_mm[a];
  v.hu.resize(static_cast<size_t>(v.voxels()));
  uint32_t lcg = 12345;
  for (int64_t k = 0; k < nz; ++k) {
    for (int64_t j = 0; j < ny; ++j) {
      for (int64_t i = 0; i < nx; ++i) {
        const double x = (i - nx / 2.0) / (nx * 0.4), y = (j - ny / 2.0) / (ny * 0.3);
        lcg = lcg * 1664525u + 1013904223u;
        const float noise = static_cast<float>(lcg >> 24) / 8.0f - 16;
        const double r = x * x + y * y;
        v.at(i, j, k) = (r > 1 ? -1000.0f : (std::fabs(x) > 0.2 && r < 0.6) ? -850.0f : 40.0f) + noise;
      }
    }
  }
  const std::string file = dir + "/volume.nii.gz";
  double t0 = NowSeconds();
  s = embed::WriteNifti(file, v, embed::NiftiType::kInt16, 1, -1024);
  if (!s.ok()) return Fail(s);
  const double write_s = NowSeconds() - t0;
  const double mb = static_cast<double>(std::filesystem::file_size(file)) / 1e6;
  double best_gzip = 1e9, best_load = 1e9, best_convert = 1e9, best_pre = 1e9, best_total = 1e9, best_aa = 1e9;
  const std::string gzip_cmd = "gzip -dc '" + file + "' > /dev/null";
  for (int64_t r = 0; r < repeat; ++r) {
    t0 = NowSeconds();
    if (std::system(gzip_cmd.c_str()) != 0) return Fail(Status::Internal("gzip -dc failed"));
    best_gzip = std::min(best_gzip, NowSeconds() - t0);
    embed::NiftiReadTimings timings;
    t0 = NowSeconds();
    auto read = embed::ReadNifti(file, {}, &timings);
    if (!read.ok()) return Fail(read.status());
    const double t1 = NowSeconds();
    auto tensor = embed::Preprocess(*read, embed::PreprocessSpec{});
    if (!tensor.ok()) return Fail(tensor.status());
    const double t2 = NowSeconds();
    embed::PreprocessSpec antialiased;
    antialiased.resample = embed::Resample::kAntialias;
    if (auto aa = embed::Preprocess(*read, antialiased); !aa.ok()) return Fail(aa.status());
    best_aa = std::min(best_aa, NowSeconds() - t2);
    best_load = std::min(best_load, timings.load_s);
    best_convert = std::min(best_convert, timings.convert_s);
    best_pre = std::min(best_pre, t2 - t1);
    best_total = std::min(best_total, t2 - t0);
  }
  std::printf("ctdb bench preprocess: %lldx%lldx%lld int16 .nii.gz (%.1f MB on disk, written in %.2f s), best of %lld\n\n",
              nx, ny, nz, mb, write_s, (long long)repeat);
  std::printf("%-44s %9s\n", "stage", "seconds");
  std::printf("%-44s %9.3f\n", "floor: gzip -dc of the same file", best_gzip);
  std::printf("%-44s %9.3f\n", "read: gunzip + parse (nifti_clib)", best_load);
  std::printf("%-44s %9.3f\n", "convert: int16 -> float HU", best_convert);
  std::printf("%-44s %9.3f\n", "preprocess: reorient, window, resample, crop", best_pre);
  std::printf("%-44s %9.3f\n", "ctdb total (read + preprocess)", best_total);
  std::printf("ratio ctdb read+preprocess / gzip -dc: %.2fx\n", best_total / best_gzip);
  std::printf("%-44s %9.3f\n", "preprocess antialiased (reads every voxel)", best_aa);
  std::printf("ratio ctdb read+antialiased preprocess / gzip -dc: %.2fx\n", (best_total - best_pre + best_aa) / best_gzip);
  return 0;
}

}  // namespace

int CmdBench(int argc, char** argv) {
  if (argc >= 1 && std::strcmp(argv[0], "preprocess") == 0) return BenchPreprocess(argc, argv);
  if (argc >= 1 && std::strcmp(argv[0], "encoder") == 0) return BenchEncoder(argc, argv);
  if (argc >= 1 && std::strcmp(argv[0], "query") == 0) return BenchQuery(argc, argv);
  if (argc < 1 || std::strcmp(argv[0], "search") != 0) {
    return UsageError(argc < 1 ? "bench needs a benchmark name" : "unknown benchmark " + std::string(argv[0]),
                      kBenchHelp);
  }
  Args args(argc, argv, 1, {"help"});
  int exit;
  if (!Prepare(args, {"n", "dim", "k", "queries", "index", "threads", "dir", "seed", "help"}, kBenchHelp, &exit)) {
    return exit;
  }
  Status s;
  int64_t n, dim, k, nq, threads, seed;
  for (auto [name, fb, lo, hi, out] :
       {std::tuple{"n", 100000, 1000, 2000000, &n}, std::tuple{"dim", 512, 8, 4096, &dim},
        std::tuple{"k", 10, 1, 1000, &k}, std::tuple{"queries", 200, 10, 100000, &nq},
        std::tuple{"threads", 0, 0, 256, &threads}, std::tuple{"seed", 1, 0, INT32_MAX, &seed}}) {
    s = args.GetInt(name, fb, lo, hi, out);
    if (!s.ok()) return UsageError(s.message(), kBenchHelp);
  }
  const std::string factory = args.Get("index", "Flat");
  const size_t d = static_cast<size_t>(dim), N = static_cast<size_t>(n), Q = static_cast<size_t>(nq);
  const int nthreads = threads ? static_cast<int>(threads) : static_cast<int>(std::thread::hardware_concurrency());

  // Data: N random unit vectors, Q unit queries.
  std::mt19937_64 rng(static_cast<uint64_t>(seed));
  std::normal_distribution<float> gauss;
  auto unit_rows = [&](size_t rows) {
    std::vector<float> v(rows * d);
    for (size_t r = 0; r < rows; ++r) {
      double n2 = 0;
      for (size_t j = 0; j < d; ++j) n2 += double(v[r * d + j] = gauss(rng)) * v[r * d + j];
      const float inv = static_cast<float>(1 / std::sqrt(n2));
      for (size_t j = 0; j < d; ++j) v[r * d + j] *= inv;
    }
    return v;
  };
  const std::vector<float> data = unit_rows(N), queries = unit_rows(Q);

  // ctdb database in a temporary directory.
  std::string dir_template = args.Get("dir", "/tmp") + "/ctdb-bench-XXXXXX";
  if (!mkdtemp(dir_template.data())) return Fail(Status::IOError("cannot create a directory under " + args.Get("dir", "/tmp")));
  const std::string dir = dir_template;
  struct Cleanup {
    std::string d;
    ~Cleanup() { std::error_code ec; std::filesystem::remove_all(d, ec); }
  } cleanup{dir};
  Options o;
  o.path = dir + "/db";
  o.create_if_missing = true;
  o.dimension = d;
  o.index_factory = factory;
  o.sync_writes = false;          // bulk load; durability is not what is measured
  o.snapshot_every_writes = 0;
  o.threads = nthreads;
  const uint64_t rss0 = RssBytes();
  auto db = Database::Open(o);
  if (!db.ok()) return Fail(db.status());
  Progress load("loading ctdb", N);
  for (size_t i = 0; i < N; ++i) {
    Study st;
    st.record.key = "b" + std::to_string(i);
    st.vectors.image.assign(data.begin() + i * d, data.begin() + (i + 1) * d);
    s = (*db)->Put(st);
    if (!s.ok()) return Fail(s);
    load.Update(i + 1);
  }
  load.Finish();
  if (!(*db)->Stats()->image_index.trained) {
    s = (*db)->Compact();  // IVF/PQ: train now, as an operator would
    if (!s.ok()) return Fail(s);
  }
  const uint64_t rss_db = RssBytes() - rss0;
  auto raw = index::FaissBaseline::Create(d, factory, 1, o.hnsw_ef_search, o.ivf_nprobe);
  if (!raw.ok()) return Fail(raw.status());
  s = (*raw)->Add(data.data(), N);
  if (!s.ok()) return Fail(s);
  // FAISS's own multi-core layout for one query: a threaded IndexShards.
  auto sharded = index::FaissBaseline::Create(d, factory, nthreads, o.hnsw_ef_search, o.ivf_nprobe);
  if (!sharded.ok()) return Fail(sharded.status());
  s = (*sharded)->Add(data.data(), N);
  if (!s.ok()) return Fail(s);

  std::fprintf(stderr, "measuring memory bandwidth...\n");
  double bandwidth = MeasureReadBandwidth(nthreads);

  SearchOptions so;
  so.k = static_cast<size_t>(k);
  std::vector<float> dis(Q * so.k);
  std::vector<int64_t> lab(Q * so.k);
  auto run_raw = [&](size_t i) {
    return (*raw)->Search(&queries[i * d], 1, so.k, dis.data(), lab.data());
  };
  auto run_sharded = [&](size_t i) {
    return (*sharded)->Search(&queries[i * d], 1, so.k, dis.data(), lab.data());
  };
  auto run_ctdb = [&](size_t i) {
    return (*db)->Search(VectorKind::kImage, &queries[i * d], 1, so).status();
  };
  // Warm up, then alternate the two so machine noise hits both alike.
  for (size_t i = 0; i < std::min<size_t>(Q, 5); ++i) {
    (void)run_raw(i);
    (void)run_sharded(i);
    (void)run_ctdb(i);
  }
  Timing t_raw, t_sharded, t_ctdb, t_default;
  for (size_t i = 0; i < Q; ++i) {
    double t0 = NowSeconds();
    s = run_ctdb(i);
    double t1 = NowSeconds();
    if (s.ok()) s = run_raw(i);
    double t2 = NowSeconds();
    if (s.ok()) s = run_sharded(i);
    double t3 = NowSeconds();
    if (!s.ok()) return Fail(s);
    t_ctdb.lat.push_back(t1 - t0);
    t_raw.lat.push_back(t2 - t1);
    t_sharded.lat.push_back(t3 - t2);
  }
  // Stock FAISS knobs (BLAS threshold 20, 1024-row blocks): what ctdb's settings buy.
  index::UseFaissDefaults();
  for (size_t i = 0; i < Q; ++i) {
    double t0 = NowSeconds();
    s = run_raw(i);
    t_default.lat.push_back(NowSeconds() - t0);
  }
  index::ConfigureCompute(nthreads, o.blas_threshold);
  // One batch of all queries.
  double t0 = NowSeconds();
  auto batch = (*db)->Search(VectorKind::kImage, queries.data(), Q, so);
  const double batch_ctdb = NowSeconds() - t0;
  if (!batch.ok()) return Fail(batch.status());
  t0 = NowSeconds();
  s = (*raw)->Search(queries.data(), Q, so.k, dis.data(), lab.data());
  const double batch_raw = NowSeconds() - t0;
  if (!s.ok()) return Fail(s);
  // Recall@k of both against exact search (keys are "b<row>").
  double recall_ctdb = 1, recall_raw = 1;
  if (factory != "Flat") {
    auto exact = index::FaissBaseline::Create(d, "Flat", 1, 0, 0);
    std::vector<float> tdis(Q * so.k);
    std::vector<int64_t> truth(Q * so.k);
    if (exact.ok()) s = (*exact)->Add(data.data(), N);
    if (exact.ok() && s.ok()) s = (*exact)->Search(queries.data(), Q, so.k, tdis.data(), truth.data());
    if (!exact.ok() || !s.ok()) return Fail(exact.ok() ? s : exact.status());
    size_t hit_ctdb = 0, hit_raw = 0;
    for (size_t q = 0; q < Q; ++q) {
      std::set<int64_t> t(truth.begin() + q * so.k, truth.begin() + (q + 1) * so.k);
      for (const auto& h : (*batch)[q]) hit_ctdb += t.count(std::stoll(h.key.substr(1)));
      for (size_t j = 0; j < so.k; ++j) hit_raw += t.count(lab[q * so.k + j]);
    }
    recall_ctdb = double(hit_ctdb) / (Q * so.k);
    recall_raw = double(hit_raw) / (Q * so.k);
  }

  // Concurrent clients, one query per call each: ctdb coalesces them into
  // shared scans; raw FAISS runs each call on its own.
  const size_t clients = 8;
  auto concurrent = [&](auto&& one) {
    std::vector<std::thread> pool;
    std::atomic<size_t> next{0};
    std::atomic<bool> failed{false};
    const double start = NowSeconds();
    for (size_t c = 0; c < clients; ++c) {
      pool.emplace_back([&] {
        std::vector<float> cd(so.k);
        std::vector<int64_t> cl(so.k);
        for (size_t i; (i = next++) < Q;) {
          if (!one(i, cd.data(), cl.data()).ok()) failed = true;
        }
      });
    }
    for (auto& th : pool) th.join();
    return failed ? -1.0 : Q / (NowSeconds() - start);
  };
  const double qps_ctdb_conc = concurrent([&](size_t i, float*, int64_t*) { return run_ctdb(i); });
  const double qps_raw_conc = concurrent(
      [&](size_t i, float* cd, int64_t* cl) { return (*raw)->Search(&queries[i * d], 1, so.k, cd, cl); });
  if (qps_ctdb_conc < 0 || qps_raw_conc < 0) return Fail(Status::Internal("a concurrent search failed"));

  // Measure again after the timings; the larger (more demanding) figure counts.
  bandwidth = std::max(bandwidth, MeasureReadBandwidth(nthreads));
  auto stats = (*db)->Stats();
  const double scan_bytes = double(N) * d * sizeof(float);
  std::printf("ctdb bench search: N=%zu d=%zu k=%lld index=%s queries=%zu threads=%d\n", N, d, (long long)k,
              factory.c_str(), Q, nthreads);
  std::printf("memory read bandwidth (best of 4 passes over 1 GiB before the timings and 4 after, %d threads): %.1f GB/s\n\n",
              nthreads, bandwidth / 1e9);
  std::printf("%-34s %10s %9s %9s %11s\n", "one query per call", "QPS", "p50 ms", "p99 ms", "scan GB/s");
  const std::string shard_name = "raw FAISS, IndexShards x" + std::to_string(nthreads);
  for (auto [name, t] : {std::pair{"raw FAISS, FAISS defaults", &t_default}, std::pair{"raw FAISS, ctdb settings", &t_raw},
                         std::pair{shard_name.c_str(), &t_sharded}, std::pair{"ctdb", &t_ctdb}}) {
    std::printf("%-34s %10.1f %9.3f %9.3f %11.1f\n", name, 1.0 / t->Mean(), t->Percentile(0.5) * 1e3,
                t->Percentile(0.99) * 1e3, scan_bytes / t->Percentile(0.5) / 1e9);
  }
  std::printf("\n%-34s %10.1f QPS (raw FAISS %.1f QPS)\n", ("batch of " + std::to_string(Q) + " queries, ctdb").c_str(),
              Q / batch_ctdb, Q / batch_raw);
  std::printf("%zu concurrent clients, one query per call: ctdb %.1f QPS (raw FAISS, one index %.1f QPS)\n",
              clients, qps_ctdb_conc, qps_raw_conc);
  std::printf("recall@%zu vs exact search: ctdb %.4f, raw FAISS %.4f\n", so.k, recall_ctdb, recall_raw);
  std::printf("RAM per vector: index %.0f B (vector alone %zu B), process RSS growth %.0f B\n",
              double(stats->image_index.memory_bytes) / N, d * sizeof(float), double(rss_db) / N);
  if (factory == "Flat") {
    const double reached = scan_bytes / t_ctdb.Percentile(0.5);
    std::printf("single exact query reads %.1f GB/s = %.0f%% of measured bandwidth %.1f GB/s (target >= 50%%)\n",
                reached / 1e9, 100 * reached / bandwidth, bandwidth / 1e9);
  }
  std::printf("ratio ctdb / raw FAISS, one index (same settings): p50 %.3fx, mean %.3fx\n",
              t_ctdb.Percentile(0.5) / t_raw.Percentile(0.5), t_ctdb.Mean() / t_raw.Mean());
  const Timing& best = t_sharded.Percentile(0.5) < t_raw.Percentile(0.5) ? t_sharded : t_raw;
  std::printf("ratio ctdb / fastest raw FAISS (%s): p50 %.3fx, mean %.3fx (target <= 1.10x)\n",
              &best == &t_sharded ? shard_name.c_str() : "raw FAISS, one index", t_ctdb.Percentile(0.5) / best.Percentile(0.5),
              t_ctdb.Mean() / best.Mean());
  return 0;
}

}  // namespace ctdb::cli
