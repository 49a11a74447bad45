// ctdb bench encoder: volumes/s and texts/s through the encoder, its FLOPs
// against the machine's matrix-product GFLOP/s, and ingest throughput
// against its slowest stage.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "api/src/model_builder.h"
#include "api/src/study_pipeline.h"
#include "ctdb/ctdb.h"
#include "ctdb/ingest.h"
#include "ctdb/model.h"
#include "embed/ctrate.h"
#include "embed/report_parser.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/synth/synth.h"

namespace ctdb::cli {
namespace {

const char kHelp[] =
    "usage: ctdb bench encoder [--model DIR] [--studies 16] [--volumes 8] [--texts 200] [--jobs 1]\n"
    "                          [--threads 0] [--inplane 160] [--dir /tmp]\n"
    "Synthesizes studies, then measures: volumes/s through the image encoder (preprocessed\n"
    "input), texts/s through the text encoder (report sentences), the model's FLOPs per volume\n"
    "against the GFLOP/s of a 2048x2048 matrix product on the same threads, and `ingest`\n"
    "throughput against its slowest stage (the stages overlap: target >= 0.9x).\n"
    "Without --model, a freshly initialized model of the default layout is used (same FLOPs\n"
    "as a trained one).\n";

}  // namespace

int BenchEncoder(int argc, char** argv) {
  Args args(argc, argv, 1, {"help"});
  int exit;
  if (!Prepare(args, {"model", "studies", "volumes", "texts", "jobs", "threads", "inplane", "dir", "help"}, kHelp,
               &exit)) {
    return exit;
  }
  int64_t studies, volumes, texts, jobs, threads, inplane;
  for (auto [name, fb, lo, hi, out] :
       {std::tuple{"studies", 16, 2, 100000, &studies}, std::tuple{"volumes", 8, 1, 10000, &volumes},
        std::tuple{"texts", 200, 1, 1000000, &texts}, std::tuple{"jobs", 1, 1, 64, &jobs},
        std::tuple{"threads", 0, 0, 1024, &threads}, std::tuple{"inplane", 160, 32, 512, &inplane}}) {
    Status s = args.GetInt(name, fb, lo, hi, out);
    if (!s.ok()) return UsageError(s.message(), kHelp);
  }
  std::string dir = args.Get("dir", "/tmp") + "/ctdb-bench-XXXXXX";
  if (!mkdtemp(dir.data())) return Fail(Status::IOError("cannot create a directory under " + args.Get("dir", "/tmp")));
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};

  synth::SynthOptions so;
  so.out = dir + "/data";
  so.n = static_cast<int>(studies);
  so.seed = 11;
  so.inplane = inplane;
  Status s = synth::Synthesize(so);
  if (!s.ok()) return Fail(s);
  auto scanned = embed::ScanCtRate(so.out);
  if (!scanned.ok()) return Fail(scanned.status());

  std::string model_dir = args.Get("model");
  if (model_dir.empty()) {
    model_dir = dir + "/model";
    NewModelSpec spec;
    for (const auto& st : *scanned) spec.corpus.push_back(st.findings + "\n" + st.impression);
    s = CreateNativeModel(model_dir, spec);
    if (!s.ok()) return Fail(s);
  }
  ModelOptions mo;
  mo.threads = static_cast<int>(threads);
  auto model = Model::Open(model_dir, mo);
  if (!model.ok()) return Fail(model.status());
  embed::Encoder& enc = EncoderOf(**model);
  const embed::ModelManifest& man = enc.manifest();

  // Image encoder on preprocessed input.
  std::vector<embed::Tensor3> inputs;
  std::vector<std::string> sentences;
  for (const auto& st : *scanned) {
    for (auto& sentence : embed::SplitSentences(st.findings + "\n" + st.impression)) sentences.push_back(sentence);
    if (static_cast<int64_t>(inputs.size()) >= volumes) continue;
    auto v = embed::ReadCtRateVolume(st);
    if (!v.ok()) return Fail(v.status());
    auto t = embed::Preprocess(*v, man.preprocess);
    if (!t.ok()) return Fail(t.status());
    inputs.push_back(std::move(*t));
  }
  auto warm = enc.EncodeVolumes({&inputs[0]});
  if (!warm.ok()) return Fail(warm.status());
  double t0 = NowSeconds();
  for (const auto& in : inputs) {
    auto e = enc.EncodeVolumes({&in});
    if (!e.ok()) return Fail(e.status());
  }
  const double vol_s = NowSeconds() - t0;
  const double vps = static_cast<double>(inputs.size()) / vol_s;

  // Text encoder on report sentences.
  std::vector<std::string> batch;
  for (int64_t i = 0; i < texts; ++i) batch.push_back(sentences[static_cast<size_t>(i) % sentences.size()]);
  double text_flops = 0;
  auto wp = embed::WordPiece::Load(model_dir + "/" + man.vocab, man.tokenizer);
  if (wp.ok()) {
    for (const auto& t : batch) {
      text_flops += enc.TextFlops(static_cast<int>((*wp)->Encode(t, static_cast<int>(man.max_tokens)).ids.size()));
    }
  }
  t0 = NowSeconds();
  auto te = enc.EncodeTexts(batch);
  if (!te.ok()) return Fail(te.status());
  const double text_s = NowSeconds() - t0;
  const double tps = static_cast<double>(batch.size()) / text_s;

  const double gemm = embed::MatmulGflops(2048, 3);
  const double vflops = enc.VolumeFlops();

  // Ingest end to end.
  Options o;
  o.path = dir + "/db";
  o.create_if_missing = true;
  o.dimension = (*model)->info().dimension;
  o.model_id = (*model)->id();
  o.sync_writes = true;
  auto db = Database::Open(o);
  if (!db.ok()) return Fail(db.status());
  IngestOptions io;
  io.jobs = static_cast<int>(jobs);
  auto sum = Ingest(**db, **model, so.out, io);
  if (!sum.ok()) return Fail(sum.status());
  const double n = static_cast<double>(sum->ingested);
  const double read_cap = sum->read_seconds / static_cast<double>(jobs);  // the jobs share the reading
  const double slowest = std::max({read_cap, sum->encode_seconds, sum->write_seconds});
  const char* slowest_name = slowest == sum->encode_seconds ? "encode" : slowest == read_cap ? "read" : "write";

  std::printf("ctdb bench encoder: model %s, %s threads, %lld synthetic studies %lldx%lld in-plane\n\n",
              (*model)->id().c_str(), threads ? std::to_string(threads).c_str() : "all", (long long)studies,
              (long long)inplane, (long long)inplane);
  std::printf("%-46s %12s\n", "measure", "value");
  std::printf("%-46s %12.2f\n", "image encoder, volumes/s", vps);
  std::printf("%-46s %12.1f\n", "text encoder, texts/s (report sentences)", tps);
  if (vflops > 0) {
    std::printf("%-46s %12.3f\n", "model GFLOP per volume (counted)", vflops / 1e9);
    std::printf("%-46s %12.1f\n", "achieved GFLOP/s, image encoder", vflops * vps / 1e9);
    std::printf("%-46s %12.1f\n", "achieved GFLOP/s, text encoder", text_flops / text_s / 1e9);
  }
  std::printf("%-46s %12.1f\n", "matrix product 2048x2048, GFLOP/s", gemm);
  std::printf("%-46s %12.1f\n", "ingest, studies/s", n / sum->seconds);
  std::printf("%-46s %12.1f\n", "  read+preprocess busy s (per job)", read_cap);
  std::printf("%-46s %12.1f\n", "  encode busy s", sum->encode_seconds);
  std::printf("%-46s %12.1f\n", "  write busy s", sum->write_seconds);
  if (vflops > 0) std::printf("ratio image encoder GFLOP/s / matrix product: %.2fx\n", vflops * vps / 1e9 / gemm);
  std::printf("ratio ingest throughput / slowest stage (%s) alone: %.2fx\n", slowest_name,
              slowest > 0 ? (n / sum->seconds) / (n / slowest) : 0.0);
  return sum->failed ? 1 : 0;
}

}  // namespace ctdb::cli
