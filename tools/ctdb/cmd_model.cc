// ctdb model init | info: create a native model directory, describe one.
#include <cstdio>
#include <cstring>
#include <sstream>

#include "api/src/model_builder.h"
#include "ctdb/model.h"
#include "embed/ctrate.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"

namespace ctdb::cli {
namespace {

const char kInitHelp[] =
    "usage: ctdb model init --out DIR (--corpus CTRATE_ROOT | --vocab vocab.txt) [--name NAME]\n"
    "                       [--version V] [--dim 256] [--seed 1] [--vocab-size 8000] [--tiny]\n"
    "Writes a native hybrid CNN-ViT model with fresh (untrained) weights: manifest.json,\n"
    "weights.pt, vocab.txt. The vocabulary is an existing BERT vocab.txt or is learnt from the\n"
    "reports of a CT-RATE-layout folder. Train it with `ctdb train` before trusting its vectors.\n"
    "  --tiny   a few-MFLOP layout (32x32x16 input) for tests and smoke runs\n";

const char kInfoHelp[] =
    "usage: ctdb model info DIR [--json]\n"
    "Loads a model directory and prints its manifest, id and cost per volume.\n";

int Init(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "tiny"});
  int exit;
  if (!Prepare(args, {"out", "corpus", "vocab", "name", "version", "dim", "seed", "vocab-size", "tiny", "help"},
               kInitHelp, &exit)) {
    return exit;
  }
  const std::string out = args.Get("out");
  if (out.empty()) return UsageError("--out DIR is required", kInitHelp);
  if (args.Has("corpus") == args.Has("vocab")) return UsageError("give one of --corpus or --vocab", kInitHelp);
  NewModelSpec spec;
  if (args.Has("tiny")) spec.manifest = NewModelSpec::TinyManifest();
  spec.manifest.name = args.Get("name", spec.manifest.name);
  spec.manifest.version = args.Get("version", spec.manifest.version);
  int64_t dim, seed, vocab_size;
  for (auto [name, fb, lo, hi, dst] :
       {std::tuple{"dim", spec.manifest.dimension, int64_t{1}, int64_t{4096}, &dim},
        std::tuple{"seed", int64_t{1}, int64_t{0}, int64_t{INT32_MAX}, &seed},
        std::tuple{"vocab-size", int64_t{8000}, int64_t{64}, int64_t{1000000}, &vocab_size}}) {
    Status s = args.GetInt(name, fb, lo, hi, dst);
    if (!s.ok()) return UsageError(s.message(), kInitHelp);
  }
  spec.manifest.dimension = dim;
  spec.seed = static_cast<uint64_t>(seed);
  spec.vocab_size = static_cast<size_t>(vocab_size);
  spec.vocab_file = args.Get("vocab");
  if (args.Has("corpus")) {
    auto studies = embed::ScanCtRate(args.Get("corpus"));
    if (!studies.ok()) return Fail(studies.status());
    for (const auto& s : *studies) {
      if (s.has_report) spec.corpus.push_back(s.findings + "\n" + s.impression);
    }
    // Disease names are query text too.
    for (const auto& d : spec.manifest.diseases) spec.corpus.push_back(d + " " + d);
  }
  Status s = CreateNativeModel(out, spec);
  if (!s.ok()) return Fail(s);
  auto model = Model::Open(out);
  if (!model.ok()) return Fail(model.status());
  std::printf("wrote model %s to %s (untrained)\n", (*model)->id().c_str(), out.c_str());
  return 0;
}

int Info(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "json"});
  int exit;
  if (!Prepare(args, {"json", "help"}, kInfoHelp, &exit)) return exit;
  if (args.positional().size() != 1) return UsageError("expected one model directory", kInfoHelp);
  auto model = Model::Open(args.positional()[0]);
  if (!model.ok()) return Fail(model.status());
  const ModelInfo& i = (*model)->info();
  std::string diseases;
  for (size_t k = 0; k < i.diseases.size(); ++k) {
    diseases += (args.Has("json") ? (k ? "," : "") + JsonEscape(i.diseases[k]) : (k ? ", " : "") + i.diseases[k]);
  }
  if (args.Has("json")) {
    std::printf("{\"id\":%s,\"name\":%s,\"version\":%s,\"format\":%s,\"dimension\":%zu,\"spacing_mm\":[%g,%g,%g],"
                "\"size\":[%lld,%lld,%lld],\"resample\":%s,\"slab_mm\":%g,\"max_tokens\":%d,\"gflops_per_volume\":%.4f,"
                "\"description\":%s,\"diseases\":[%s]}\n",
                JsonEscape(i.id).c_str(), JsonEscape(i.name).c_str(), JsonEscape(i.version).c_str(),
                JsonEscape(i.format).c_str(), i.dimension, i.spacing_mm[0], i.spacing_mm[1], i.spacing_mm[2],
                (long long)i.size[0], (long long)i.size[1], (long long)i.size[2], JsonEscape(i.resample).c_str(),
                i.slab_mm, i.max_tokens, i.volume_flops / 1e9, JsonEscape(i.description).c_str(), diseases.c_str());
    return 0;
  }
  std::printf("id:          %s\nformat:      %s\ndimension:   %zu\ninput:       %lld x %lld x %lld voxels at "
              "%g x %g x %g mm (LPS, %s resampling)\nslabs:       %g mm\nmax tokens:  %d\ncost:        %s\ndiseases:    %s\n",
              i.id.c_str(), i.format.c_str(), i.dimension, (long long)i.size[0], (long long)i.size[1],
              (long long)i.size[2], i.spacing_mm[0], i.spacing_mm[1], i.spacing_mm[2], i.resample.c_str(), i.slab_mm,
              i.max_tokens,
              i.volume_flops > 0 ? (std::to_string(i.volume_flops / 1e9) + " GFLOP per volume").c_str() : "unknown",
              diseases.c_str());
  if (!i.description.empty()) std::printf("about:       %s\n", i.description.c_str());
  return 0;
}

}  // namespace

int CmdModel(int argc, char** argv) {
  const std::string help = std::string(kInitHelp) + "\n" + kInfoHelp;
  if (argc >= 1 && !std::strcmp(argv[0], "init")) return Init(argc - 1, argv + 1);
  if (argc >= 1 && !std::strcmp(argv[0], "info")) return Info(argc - 1, argv + 1);
  if (argc >= 1 && (!std::strcmp(argv[0], "--help") || !std::strcmp(argv[0], "-h"))) {
    std::fputs(help.c_str(), stdout);
    return kExitOk;
  }
  return UsageError("expected `model init` or `model info`", help);
}

}  // namespace ctdb::cli
