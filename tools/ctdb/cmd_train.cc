// ctdb train: train the native model on a CT-RATE-layout folder.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string_view>

#include "api/src/model_builder.h"
#include "api/src/model_manifest_json.h"
#include "ctdb/model.h"
#include "embed/disease_catalog.h"
#include "embed/encoder.h"
#include "embed/finer_input.h"
#include "embed/tokenizer.h"
#include "embed/trainer.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"

namespace ctdb::cli {
namespace {

const char kHelp[] =
    "usage: ctdb train --data DIR --out MODELDIR [--epochs 12] [--batch 16] [--lr 0.001] [--seed 1]\n"
    "                  [--split train] [--limit 0] [--threads 0] [--name NAME] [--tiny] [--cuda]\n"
    "                  [--stem C:K:S,...] [--stem-norm group|batch|none] [--windows LO:HI,LO:HI,...]\n"
    "                  [--layers N] [--stem-pool|--no-stem-pool] [--resample linear|antialias]\n"
    "                  [--description TEXT]\n"
    "                  [--no-siglip] [--no-disease] [--no-localization] [--no-anatomy]\n"
    "                  [--no-augment] [--no-augment-volumes] [--no-false-negatives] [--no-labels]\n"
    "                  [--no-hard-negatives] [--attributes] [--lesions]\n"
    "                  [--detect STAGE[:CHANNELS[:SHARPNESS]]] [--peaks STAGE,...]\n"
    "                  [--readout [--readout-lr 0.01] [--blobs SIGMA,... [--candidates N[:CHANNELS[:MM]]]]]\n"
    "                  [--only-evidence] [--no-candidates]\n"
    "                  [--init MODELDIR [--finer-input F[:CHANNELS]]] [--stop-at-step N] [--json]\n"
    "                  [--release-memory]\n"
    "Trains the native hybrid CNN-ViT model on a CT-RATE-layout folder (its `train` split by\n"
    "default; reports, labels and organ masks are used) and writes a model directory. Objectives\n"
    "(all on unless switched off): SigLIP image-report loss, disease-token vs sentence loss,\n"
    "slab localization of referenced sentences, organ-mask-pooled anatomy alignment, report\n"
    "augmentation, volume augmentation, false-negative-aware targets (same labels and same\n"
    "impression: not a negative), labels (BCE of the zero-shot score x . (p+ - p-) with the\n"
    "catalog's prompts, on images and reports, plus a term keeping different diseases' p+ - p-\n"
    "directions apart), hard-negative batches (studies with one label set but different\n"
    "impressions paired in a batch; --no-hard-negatives: plain shuffled batches). Off unless\n"
    "asked: --attributes (a study's own sentence stating a finding in a region is a\n"
    "disease-token positive only for studies with that finding in that region), --lesions\n"
    "(with lesion maps, <name>_lesion_mask.nii.gz as tools/synth writes them: each present\n"
    "finding's disease token is taught to attend to the tokens holding it).\n"
    "Checkpoints every epoch into MODELDIR/checkpoint; running the same command again resumes\n"
    "(--stop-at-step N stops early with a checkpoint; a larger --epochs trains on; a layout flag\n"
    "the checkpoint does not match is an error). The layout is the shipped model's: a\n"
    "4-stage batch-normalized CNN stem (16:3:2,32:3:2,64:3:1x2x2,128:3:1x2x2) over three HU\n"
    "windows (-1000:-400,-200:200,150:1000), ~1.6 GFLOP per volume. --windows sets the HU\n"
    "windows the stem sees, one input channel each (none = the preprocessed volume); --stem sets\n"
    "the CNN stages (channels:kernel:stride, kernel and stride N or ZxYxX; the last stage is the\n"
    "patch embedding); --layers sets the image transformer's depth (0 = none: tokens go\n"
    "straight to the attention pools); the stem's mean and max over its tokens join the pooled\n"
    "global and disease features (--no-stem-pool: only the transformer's tokens; --tiny has it\n"
    "off); --tiny is a few-MFLOP layout for smoke runs; --description says what the data were\n"
    "(the manifest records it, e.g. \"Synthetic phantoms, not for clinical use.\").\n"
    "--resample says how scans reach the model's grid: linear samples it (CT-CLIP's; the default\n"
    "for new models), antialias averages each coarser voxel's footprint so small findings and\n"
    "thin slices are not skipped; a fine-tune may change it, a resumed run may not.\n"
    "--init MODELDIR fine-tunes a trained native model (e.g. the shipped one on your own studies):\n"
    "training starts from its weights with a fresh optimizer and keeps its layout, vocabulary,\n"
    "diseases and phrases (layout flags must agree); MODELDIR itself is left untouched.\n"
    "--finer-input F[:CHANNELS] (with --init) fine-tunes it on an F times finer grid (F = N or\n"
    "ZxYxX, e.g. 2: 1.5x1.5x3 mm -> 0.75x0.75x1.5 mm, 8x the voxels): a new first stem stage of\n"
    "stride F (CHANNELS, default two per window + 2) starts out passing each window's box average\n"
    "on, so training begins from the model's own quality and learns what the coarser grid\n"
    "averaged away (small calcifications and nodules); tokens, slabs and all later weights stay.\n"
    "--detect STAGE[:CHANNELS[:SHARPNESS]] gives the model a detector head on the output of stem\n"
    "stage STAGE (1-based, before the last; CHANNELS hidden, default 32): one map per disease,\n"
    "pooled by (1/r) log mean exp(r map), r = SHARPNESS (default 10; large = the maximum), into a\n"
    "score that the labels objective trains against the labels (loss \"detect\")\n"
    "and that joins the disease and global features. With --init it is added to the trained\n"
    "model (STAGE counts the stages of the model being trained, after any --finer-input), whose\n"
    "embeddings it leaves unchanged until training moves it.\n"
    "--peaks STAGE,... (e.g. 0,2) adds each channel's maximum over a token's block of the windowed\n"
    "input (0) or of stem stage STAGE's output to that token, through a learned map that starts\n"
    "at zero: what strided convolutions average away (1-2 mm calcium) reaches the transformer.\n"
    "With --init it is added to the trained model like --detect; \"none\" = no peaks.\n"
    "--readout (needs --peaks; not with --detect) scores each disease by one linear function of\n"
    "every token place's peaks, trained like the detector head's score (loss \"detect\") and\n"
    "joining the features the same way: where a bright voxel lies says what it is (coronary vs\n"
    "aortic calcium). Its weights learn at their own peak rate --readout-lr (default 0.01).\n"
    "With --init it is added to the trained model like --detect.\n"
    "--blobs SIGMA,... (mm, ascending, e.g. 2,3.5; needs --readout) adds a fixed Hessian blob\n"
    "filter at each scale, inside the lungs, to the readout's input: a nodule is no brighter\n"
    "than the vessels beside it, but it is a ball, not a tube. Its weights start at zero and\n"
    "learn with the readout's. With --init it is added to the trained model like --detect;\n"
    "\"none\" = no blobs.\n"
    "--candidates N[:CHANNELS[:MM]] (needs --blobs; the catalog must list \"Lung nodule\") judges the\n"
    "N strongest local maxima of the first blob scale (default CHANNELS 8, patch MM 14 across)\n"
    "by a small 3D CNN on the lung around each; the largest logit and their log-sum-exp join the\n"
    "readout's evidence through weights that start at zero. The candidates loss trains the CNN\n"
    "on the lesion maps (a candidate is positive where the map has the nodule within one filter\n"
    "voxel; --no-candidates trains without, e.g. on data without maps). With --init it is added\n"
    "to the trained model like --detect; \"none\" = no candidates.\n"
    "--only-evidence (needs --readout) trains the evidence path alone (readout, blob and\n"
    "candidate weights, the candidate CNN, the directions into the features); every other\n"
    "weight stays and runs as at inference.\n"
    "CPU by default; --cuda when LibTorch has CUDA.\n"
    "Memory a step frees stays in the process for the next step (fresh pages are faulted in and\n"
    "zeroed one by one: 2.9x slower steps on a VM, tools/bench-train.sh), so resident memory stays\n"
    "at its peak; --release-memory hands it back each time instead.\n";

// "-1000:-400,-200:200" -> {{-1000, -400}, {-200, 200}}; "none" -> {}.
Result<std::vector<std::array<float, 2>>> ParseWindows(const std::string& text) {
  std::vector<std::array<float, 2>> out;
  if (text == "none") return out;
  for (const std::string& item : SplitOn(text, ',')) {
    const size_t colon = item.find(':', 1);
    try {
      if (colon == std::string::npos) throw std::invalid_argument(item);
      size_t used_lo = 0, used_hi = 0;
      const float lo = std::stof(item.substr(0, colon), &used_lo), hi = std::stof(item.substr(colon + 1), &used_hi);
      if (used_lo != colon || used_hi != item.size() - colon - 1 || !(lo < hi)) throw std::invalid_argument(item);
      out.push_back({lo, hi});
    } catch (const std::exception&) {
      return Status::InvalidArgument("--windows wants LO:HI HU pairs with LO < HI, comma-separated (or none); got '" +
                                     item + "'");
    }
  }
  return out;
}

// A count in [1, 9999]: digits only.
bool ParseCount(const std::string& t, int64_t* out) {
  if (t.empty() || t.size() > 4 || t.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = std::stoll(t);
  return *out >= 1;
}

// A number, the whole of `t` (std::stod alone takes "2x" as 2).
bool ParseReal(const std::string& t, double* out) {
  try {
    size_t used = 0;
    *out = std::stod(t, &used);
    return used == t.size();
  } catch (const std::exception&) {
    return false;
  }
}

// "3" -> {3, 3, 3}; "1x2x2" -> {1, 2, 2} (z, y, x).
bool ParseTriple(const std::string& t, std::array<int64_t, 3>* out) {
  const std::vector<std::string> parts = SplitOn(t, 'x');
  if (parts.size() != 1 && parts.size() != 3) return false;
  for (size_t a = 0; a < 3; ++a) {
    if (!ParseCount(parts[parts.size() == 1 ? 0 : a], &(*out)[a])) return false;
  }
  return true;
}

// "16:3:2,64:3:1x2x2" -> stages (channels, kernel, stride).
Result<std::vector<embed::NativeArchitecture::Stage>> ParseStem(const std::string& text) {
  std::vector<embed::NativeArchitecture::Stage> out;
  for (const std::string& item : SplitOn(text, ',')) {
    const std::vector<std::string> f = SplitOn(item, ':');
    embed::NativeArchitecture::Stage st;
    if (f.size() != 3 || !ParseCount(f[0], &st.channels) || !ParseTriple(f[1], &st.kernel) ||
        !ParseTriple(f[2], &st.stride)) {
      return Status::InvalidArgument("--stem wants CHANNELS:KERNEL:STRIDE stages, comma-separated, kernel and stride N "
                                     "or ZxYxX (e.g. 16:3:2,128:3:1x2x2); got '" + item + "'");
    }
    out.push_back(st);
  }
  return out;
}

// The phrases training scores with: the model directory's diseases.json
// where it names the disease (a user's edits), the built-in ones otherwise.
Result<std::vector<embed::DiseasePrompts>> CatalogFor(const std::string& dir, const embed::ModelManifest& m) {
  std::vector<embed::DiseasePrompts> file;
  if (std::filesystem::exists(dir + "/diseases.json")) {
    CTDB_ASSIGN_OR_RETURN(file, ReadDiseaseCatalog(dir));
  }
  std::vector<embed::DiseasePrompts> out;
  for (const auto& d : m.diseases) {
    auto it = std::find_if(file.begin(), file.end(), [&](const embed::DiseasePrompts& p) { return p.name == d; });
    const bool usable = it != file.end() && !it->positive.empty() && !it->negative.empty();
    out.push_back(usable ? *it : embed::DefaultPromptsFor(d));
  }
  return out;
}

// The flags that shape the model (a resumed run must not contradict its checkpoint;
// a fine-tune keeps all but --resample, which changes no weight).
constexpr const char* kLayoutFlags[] = {"tiny",      "stem",         "stem-norm", "windows", "layers",
                                        "stem-pool", "no-stem-pool", "resample",  "detect",  "peaks",
                                        "readout",   "blobs",        "candidates"};

// The parts a fine-tune may add to a model without them (each starts out
// changing no embedding): the flag, whether `a` lacks the part, and how to
// copy it between layouts.
struct AddablePart {
  const char* flag;
  bool (*absent)(const embed::NativeArchitecture& a);
  void (*copy)(const embed::NativeArchitecture& from, embed::NativeArchitecture* to);
};
const AddablePart kAddableParts[] = {
    {"detect", [](const embed::NativeArchitecture& a) { return a.detect.stage == 0; },
     [](const embed::NativeArchitecture& f, embed::NativeArchitecture* t) { t->detect = f.detect; }},
    {"peaks", [](const embed::NativeArchitecture& a) { return a.peaks.empty(); },
     [](const embed::NativeArchitecture& f, embed::NativeArchitecture* t) { t->peaks = f.peaks; }},
    {"readout", [](const embed::NativeArchitecture& a) { return !a.readout; },
     [](const embed::NativeArchitecture& f, embed::NativeArchitecture* t) { t->readout = f.readout; }},
    {"blobs", [](const embed::NativeArchitecture& a) { return a.blobs.empty(); },
     [](const embed::NativeArchitecture& f, embed::NativeArchitecture* t) { t->blobs = f.blobs; }},
    {"candidates", [](const embed::NativeArchitecture& a) { return a.candidates.count == 0; },
     [](const embed::NativeArchitecture& f, embed::NativeArchitecture* t) { t->candidates = f.candidates; }},
};

// How a fine-tune's description begins: "Fine-tuned from '<name>'.".
constexpr std::string_view kFineTunedFrom = "Fine-tuned from '";

// --resample onto m.
Status ApplyResampleFlag(const Args& args, embed::ModelManifest* m) {
  if (!args.Has("resample")) return Status::Ok();
  const auto r = embed::ParseResample(args.Get("resample"));
  if (!r) return Status::InvalidArgument("--resample must be linear or antialias");
  m->preprocess.resample = *r;
  return Status::Ok();
}

// --stem-norm, --stem-pool/--no-stem-pool, --stem, --layers, --windows onto m.
Status ApplyLayoutFlags(const Args& args, embed::ModelManifest* m) {
  auto& a = m->architecture;
  a.stem_norm = args.Get("stem-norm", a.stem_norm);
  if (a.stem_norm != "group" && a.stem_norm != "batch" && a.stem_norm != "none") {
    return Status::InvalidArgument("--stem-norm must be group, batch or none");
  }
  if (args.Has("stem-pool") && args.Has("no-stem-pool")) {
    return Status::InvalidArgument("--stem-pool and --no-stem-pool contradict each other");
  }
  if (args.Has("stem-pool")) a.stem_pool = true;
  if (args.Has("no-stem-pool")) a.stem_pool = false;
  if (args.Has("stem")) {
    CTDB_ASSIGN_OR_RETURN(a.stem, ParseStem(args.Get("stem")));
    a.width = a.stem.back().channels;  // the last stage is the patch embedding
  }
  if (args.Has("layers")) CTDB_RETURN_IF_ERROR(args.GetInt("layers", 2, 0, 24, &a.layers));
  if (args.Has("windows")) {
    CTDB_ASSIGN_OR_RETURN(a.windows, ParseWindows(args.Get("windows")));
  }
  if (args.Has("detect")) {
    // "3", "3:32" or "3:32:10"; ranges are checked with the whole layout (ValidateManifest).
    const std::vector<std::string> f = SplitOn(args.Get("detect"), ':');
    const bool ok = f.size() >= 1 && f.size() <= 3 && ParseCount(f[0], &a.detect.stage) &&
                    (f.size() < 2 || ParseCount(f[1], &a.detect.channels)) &&
                    (f.size() < 3 || ParseReal(f[2], &a.detect.sharpness));
    if (!ok) {
      return Status::InvalidArgument("--detect wants STAGE[:CHANNELS[:SHARPNESS]] (e.g. 3, 3:32 or 3:32:10); got '" +
                                     args.Get("detect") + "'");
    }
  }
  if (args.Has("peaks")) {
    a.peaks.clear();
    const std::string text = args.Get("peaks");
    for (const std::string& item : text == "none" ? std::vector<std::string>{} : SplitOn(text, ',')) {
      int64_t stage = 0;
      if (item != "0" && !ParseCount(item, &stage)) {
        return Status::InvalidArgument("--peaks wants stem stage numbers (0 = the windowed input), e.g. 0,2, or none; got '" +
                                       text + "'");
      }
      a.peaks.push_back(stage);
    }
  }
  if (args.Has("readout")) a.readout = true;
  if (args.Has("blobs")) {
    a.blobs.clear();
    const std::string text = args.Get("blobs");
    for (const std::string& item : text == "none" ? std::vector<std::string>{} : SplitOn(text, ',')) {
      double sigma = 0;
      if (!ParseReal(item, &sigma)) {
        return Status::InvalidArgument("--blobs wants scales in mm, e.g. 2,3.5, or none; got '" + text + "'");
      }
      a.blobs.push_back(sigma);
    }
  }
  if (args.Has("candidates")) {
    // "24", "24:8" or "24:8:14"; "none"; ranges are checked with the whole layout.
    const std::string text = args.Get("candidates");
    embed::NativeArchitecture::Candidates c;
    const std::vector<std::string> f = SplitOn(text, ':');
    if (text == "none") {
      c.count = 0;
    } else if (!(f.size() >= 1 && f.size() <= 3 && ParseCount(f[0], &c.count) &&
                 (f.size() < 2 || ParseCount(f[1], &c.channels)) && (f.size() < 3 || ParseReal(f[2], &c.patch_mm)))) {
      return Status::InvalidArgument("--candidates wants N[:CHANNELS[:MM]] (e.g. 24, 24:8 or 24:8:14), or none; got '" +
                                     text + "'");
    }
    a.candidates = c;
  }
  return Status::Ok();
}

// --finer-input "2", "1x2x2", "2:12" -> factor (z, y, x) and channels (0 = default).
Status ParseFinerInput(const std::string& text, std::array<int64_t, 3>* factor, int64_t* channels) {
  const std::vector<std::string> f = SplitOn(text, ':');
  *channels = 0;
  if ((f.size() != 1 && f.size() != 2) || !ParseTriple(f[0], factor) || (f.size() == 2 && !ParseCount(f[1], channels))) {
    return Status::InvalidArgument("--finer-input wants a factor N or ZxYxX, optionally :CHANNELS (e.g. 2 or 1x2x2:12); got '" +
                                   text + "'");
  }
  return Status::Ok();
}

// m grown by --finer-input.
Result<embed::ModelManifest> ApplyFinerInput(const Args& args, const embed::ModelManifest& m) {
  std::array<int64_t, 3> factor;
  int64_t channels;
  CTDB_RETURN_IF_ERROR(ParseFinerInput(args.Get("finer-input"), &factor, &channels));
  if (channels == 0) channels = 2 * std::max<int64_t>(1, static_cast<int64_t>(m.architecture.windows.size())) + 2;
  return embed::FinerInput(m, factor, channels);
}

}  // namespace

int CmdTrain(int argc, char** argv) {
  const std::set<std::string> flags = {"help",          "tiny",       "cuda",         "json",
                                       "no-siglip",     "no-disease", "no-localization", "no-anatomy",
                                       "no-augment",    "no-augment-volumes", "no-false-negatives", "no-labels",
                                       "no-hard-negatives", "attributes", "lesions",
                                       "stem-pool",     "no-stem-pool", "readout", "release-memory",
                                       "only-evidence", "no-candidates"};
  Args args(argc, argv, 0, flags);
  std::set<std::string> known = flags;
  for (const char* k :
       {"data", "out", "epochs", "batch", "lr", "seed", "split", "limit", "threads", "name", "stop-at-step", "stem-norm", "windows", "description", "stem", "layers", "init", "resample",
        "finer-input", "detect", "peaks", "readout-lr", "blobs", "candidates"}) {
    known.insert(k);
  }
  int exit;
  if (!Prepare(args, known, kHelp, &exit)) return exit;
  const std::string data = args.Get("data"), out = args.Get("out");
  if (data.empty() || out.empty()) return UsageError("--data and --out are required", kHelp);
  int64_t epochs, batch, seed, limit, threads, stop_at;
  for (auto [name, fb, lo, hi, dst] :
       {std::tuple{"epochs", 12, 1, 10000, &epochs}, std::tuple{"batch", 16, 2, 4096, &batch},
        std::tuple{"stop-at-step", 0, 0, INT32_MAX, &stop_at},
        std::tuple{"seed", 1, 0, INT32_MAX, &seed}, std::tuple{"limit", 0, 0, INT32_MAX, &limit},
        std::tuple{"threads", 0, 0, 1024, &threads}}) {
    Status s = args.GetInt(name, fb, lo, hi, dst);
    if (!s.ok()) return UsageError(s.message(), kHelp);
  }
  double lr = 1e-3;
  try {
    lr = std::stod(args.Get("lr", "0.001"));
  } catch (const std::exception&) {
    return UsageError("--lr must be a number", kHelp);
  }
  double readout_lr = embed::TrainOptions().readout_lr;
  if (args.Has("readout-lr") && !(ParseReal(args.Get("readout-lr"), &readout_lr) && readout_lr > 0 && readout_lr <= 1)) {
    return UsageError("--readout-lr must be a number in (0, 1]", kHelp);
  }
  embed::ConfigureTorchThreads(static_cast<int>(threads));  // LibTorch starts with one here
  if (!args.Has("release-memory")) embed::RetainFreedMemory();

  embed::TrainOptions to;
  to.out = out;
  to.epochs = static_cast<int>(epochs);
  to.batch = static_cast<int>(batch);
  to.lr = lr;
  to.readout_lr = readout_lr;
  to.seed = static_cast<uint64_t>(seed);
  to.cuda = args.Has("cuda");
  to.stop_at_step = stop_at;
  to.objectives.siglip = !args.Has("no-siglip");
  to.objectives.disease = !args.Has("no-disease");
  to.objectives.localization = !args.Has("no-localization");
  to.objectives.anatomy = !args.Has("no-anatomy");
  to.objectives.augment = !args.Has("no-augment");
  to.objectives.augment_volumes = !args.Has("no-augment-volumes");
  to.objectives.labels = !args.Has("no-labels");
  to.objectives.false_negatives = !args.Has("no-false-negatives");
  to.objectives.hard_negatives = !args.Has("no-hard-negatives");
  to.objectives.attributes = args.Has("attributes");
  to.objectives.lesions = args.Has("lesions");
  to.objectives.candidates = !args.Has("no-candidates");
  to.only_evidence = args.Has("only-evidence");

  // A checkpoint means resume: the model keeps its manifest and vocabulary.
  // --init starts a new run from a trained model, which lends both.
  const bool resume = std::filesystem::exists(out + "/checkpoint/state.txt") &&
                      std::filesystem::exists(out + "/manifest.json");
  if (args.Has("init")) {  // before resuming: the source must never be trained over
    std::error_code ec;
    if (std::filesystem::equivalent(args.Get("init"), out, ec)) {
      return UsageError("--init and --out are the same directory; train into a new --out", kHelp);
    }
  }
  if (args.Has("finer-input") && !args.Has("init")) {
    return UsageError("--finer-input grows a trained model: give it with --init MODELDIR", kHelp);
  }
  const std::string init = resume ? "" : args.Get("init");  // a stopped fine-tune resumes like any run
  Progress loading("reading studies", 0);
  auto load = [&](const embed::ModelManifest& m) {
    return embed::LoadTrainingSet(data, args.Get("split", "train"), static_cast<size_t>(limit), m,
                                  static_cast<int>(threads), [&](size_t d, size_t t) {
                                    loading.SetTotal(t);
                                    loading.Update(d);
                                  });
  };
  const std::string base = resume ? out : init;  // the model whose layout and vocabulary go on
  if (!base.empty()) {
    auto m = ReadManifest(base);
    if (!m.ok()) return Fail(m.status());
    if (m->format != "native") {
      return UsageError(base + " holds a " + m->format + " model; only native models can be trained on", kHelp);
    }
    to.manifest = *m;
    // A layout flag that asks for another layout than the model's would
    // otherwise be dropped without a word.
    embed::ModelManifest asked = args.Has("tiny") ? NewModelSpec::TinyManifest() : *m;
    Status s = ApplyLayoutFlags(args, &asked);
    if (s.ok()) s = ApplyResampleFlag(args, resume ? &asked : &to.manifest);
    if (!s.ok()) return UsageError(s.message(), kHelp);
    asked.name = m->name;
    asked.description = m->description;
    asked.diseases = m->diseases;  // the catalog's, which users may extend
    // A fine-tune may add a detector head, peak skips or their readout to a
    // model without them; the rest of the layout must agree.
    const embed::NativeArchitecture requested = asked.architecture;
    std::vector<const AddablePart*> added;
    for (const AddablePart& part : kAddableParts) {
      if (resume || !args.Has(part.flag) || !part.absent(m->architecture)) continue;
      part.copy(m->architecture, &asked.architecture);
      added.push_back(&part);
    }
    if (ManifestToJson(asked) != ManifestToJson(*m)) {
      std::string given;
      for (const char* f : kLayoutFlags) {
        if (args.Has(f) && (resume || std::string(f) != "resample")) given += std::string(given.empty() ? "" : ", ") + "--" + f;
      }
      return UsageError(base + (resume ? " holds a checkpoint" : " is a model") + " of another layout than " + given +
                            " asks for; " + (resume ? "resume" : "fine-tune it") +
                            " without them, or train into a new --out",
                        kHelp);
    }
    if (args.Has("finer-input") && resume) {
      // The same command resumes: the checkpoint must be that growth of --init.
      auto from = ReadManifest(args.Get("init"));
      if (!from.ok()) return Fail(from.status());
      auto grown = ApplyFinerInput(args, *from);
      if (!grown.ok()) return UsageError(grown.status().message(), kHelp);
      grown->name = m->name;
      grown->description = m->description;
      grown->diseases = m->diseases;
      grown->preprocess.resample = m->preprocess.resample;  // --resample has its own check above
      for (const AddablePart& part : kAddableParts) part.copy(m->architecture, &grown->architecture);  // checked above
      if (ManifestToJson(*grown) != ManifestToJson(*m)) {
        return UsageError(base + " holds a checkpoint of another layout than --finer-input asks for; resume without it, "
                          "or train into a new --out", kHelp);
      }
    } else if (args.Has("finer-input")) {
      auto grown = ApplyFinerInput(args, to.manifest);
      if (!grown.ok()) return UsageError(grown.status().message(), kHelp);
      to.init_manifest = *m;
      to.manifest = *grown;
    }
    if (!added.empty()) {
      if (!to.init_manifest) to.init_manifest = *m;
      for (const AddablePart* part : added) part->copy(requested, &to.manifest.architecture);
    }
    auto wp = embed::WordPiece::Load(base + "/" + m->vocab, m->tokenizer);
    if (!wp.ok()) return Fail(wp.status());
    for (size_t i = 0; i < (*wp)->size(); ++i) to.vocab.push_back((*wp)->token(static_cast<int64_t>(i)));
    if (!resume) {
      to.init_weights = init + "/" + m->weights;
      to.manifest.name = args.Get("name", m->name);
      to.manifest.description = std::string(kFineTunedFrom) + m->name + "'.";  // kept through a resume
      // Its phrases train on, unless this directory has its own.
      std::error_code ec;
      std::filesystem::create_directories(out, ec);
      if (std::filesystem::exists(init + "/diseases.json") && !std::filesystem::exists(out + "/diseases.json")) {
        std::filesystem::copy_file(init + "/diseases.json", out + "/diseases.json", ec);
      }
      if (ec) return Fail(Status::IOError("cannot copy " + init + "/diseases.json to " + out + ": " + ec.message()));
    }
  } else {
    to.manifest = args.Has("tiny") ? NewModelSpec::TinyManifest() : NewModelSpec::TrainingManifest();
    to.manifest.name = args.Get("name", "ctdb-synthetic");
    Status s = ApplyLayoutFlags(args, &to.manifest);
    if (s.ok()) s = ApplyResampleFlag(args, &to.manifest);
    if (!s.ok()) return UsageError(s.message(), kHelp);
  }
  // A layout that cannot be built fails now, not after reading the studies.
  if (Status s = embed::ValidateManifest(to.manifest); !s.ok()) return UsageError(s.message(), kHelp);
  auto set = load(to.manifest);
  if (!set.ok()) return Fail(set.status());
  loading.Finish();
  auto catalog = CatalogFor(out, to.manifest);
  if (!catalog.ok()) return Fail(catalog.status());
  to.catalog = std::move(catalog).value();
  if (base.empty()) {  // a new model's vocabulary: its reports and the phrases it trains with
    std::vector<std::string> corpus;
    for (const auto& s : set->studies) corpus.push_back(s.findings + "\n" + s.impression);
    for (const auto& p : to.catalog) {
      for (const auto& t : p.positive) corpus.push_back(t);
      for (const auto& t : p.negative) corpus.push_back(t);
    }
    to.vocab = embed::BuildVocab(corpus, to.manifest.tokenizer, 8000);
  }
  if (set->skipped) {
    std::fprintf(stderr, "ctdb train: %zu studies could not be read and are left out, e.g. %s\n", set->skipped,
                 set->problems.front().c_str());
  }
  std::string objectives;
  for (auto [on, name] : {std::pair{to.objectives.siglip, "siglip"}, std::pair{to.objectives.disease, "disease"},
                          std::pair{to.objectives.localization, "localization"},
                          std::pair{to.objectives.anatomy, "anatomy"}, std::pair{to.objectives.augment, "augment"},
                          std::pair{to.objectives.augment_volumes, "augment-volumes"},
                          std::pair{to.objectives.labels, "labels"},
                          std::pair{to.objectives.false_negatives, "false-negative-aware"},
                          std::pair{to.objectives.hard_negatives, "hard-negative batches"},
                          std::pair{to.objectives.attributes, "attributes"},
                          std::pair{to.objectives.lesions, "lesions"},
                          std::pair{to.objectives.candidates && to.manifest.architecture.candidates.count > 0,
                                    "candidates"}}) {
    if (on) objectives += (objectives.empty() ? "" : ", ") + std::string(name);
  }
  if (to.only_evidence) objectives += " (the evidence path alone; every other weight kept)";
  Progress bar("train", 0);
  double last_print = 0;
  const double start = NowSeconds();
  to.progress = [&](const embed::TrainOptions::Progress& p) {
    bar.SetTotal(static_cast<uint64_t>(p.steps));
    bar.Update(static_cast<uint64_t>(p.step));
    // A loss line per epoch end, and at most every 30 s, for logs and non-terminals.
    const double now = NowSeconds();
    if (p.checkpointed || now - last_print > 30) {
      last_print = now;
      std::string line;
      for (const auto& [k, v] : p.losses) line += " " + k + "=" + std::to_string(v).substr(0, 6);
      line += " | cos img=" + std::to_string(p.image_cos).substr(0, 5) + " txt=" + std::to_string(p.text_cos).substr(0, 5);
      std::fprintf(stderr, "\nepoch %d/%d step %lld/%lld%s%s (%.0f s)\n", p.epoch, p.epochs, (long long)p.step,
                   (long long)p.steps, line.c_str(), p.checkpointed ? " [checkpoint]" : "", now - start);
    }
  };
  auto result = embed::Train(*set, to);
  if (!result.ok()) return Fail(result.status());
  bar.Finish();
  if (!result->finished) {
    std::printf("stopped at step %lld with a checkpoint in %s/checkpoint; run the same command to go on\n",
                (long long)result->steps, out.c_str());
    if (!resume) {
      Status ws = WriteManifest(out, to.manifest);  // so the resumed run keeps this layout
      if (!ws.ok()) return Fail(ws);
    }
    return 0;
  }
  embed::ModelManifest m = to.manifest;
  // Provenance: what the data were is the caller's to say (--description);
  // ctdb only knows the folder, the split and the objectives.
  // "Fine-tuned from '<name>'." goes on wherever an earlier run of this
  // directory put it (after a --description, too); the rest is rewritten.
  std::string origin;
  if (const size_t at = m.description.find(kFineTunedFrom); at != std::string::npos) {
    const size_t end = m.description.find("'.", at + kFineTunedFrom.size());
    if (end != std::string::npos) origin = m.description.substr(at, end + 2 - at) + " ";
  }
  m.description = origin + "Trained by `ctdb train` on " + std::to_string(set->studies.size()) +
                  " CT-RATE-layout studies (" + data + ", split " + args.Get("split", "train") +
                  "); objectives: " + objectives + ".";
  if (args.Has("description")) m.description = args.Get("description") + " " + m.description;
  Status s = WriteManifest(out, m);
  if (s.ok() && !std::filesystem::exists(out + "/diseases.json")) s = WriteDiseaseCatalog(out, DefaultCatalogFor(m));
  if (!s.ok()) return Fail(s);
  auto model = Model::Open(out);
  if (!model.ok()) return Fail(model.status());
  if (args.Has("json")) {
    std::printf("{\"model_id\":%s,\"studies\":%zu,\"steps\":%lld,\"resumed_from\":%lld,\"seconds\":%.1f,"
                "\"device\":%s,\"final_losses\":{",
                JsonEscape((*model)->id()).c_str(), set->studies.size(), (long long)result->steps,
                (long long)result->resumed_from, result->seconds, JsonEscape(result->device).c_str());
    bool first = true;
    for (const auto& [k, v] : result->final_losses) {
      std::printf("%s%s:%.5f", first ? "" : ",", JsonEscape(k).c_str(), v);
      first = false;
    }
    std::printf("}}\n");
  } else {
    std::printf("trained %s on %zu studies: %lld steps in %.0f s on %s%s\n", (*model)->id().c_str(),
                set->studies.size(), (long long)result->steps, result->seconds, result->device.c_str(),
                result->resumed_from ? (" (resumed at step " + std::to_string(result->resumed_from) + ")").c_str()
                : result->initialized ? (" (started from " + init + ")").c_str()
                                      : "");
    for (const auto& [k, v] : result->final_losses) std::printf("  last epoch mean %-13s %.4f\n", k.c_str(), v);
  }
  return 0;
}

}  // namespace ctdb::cli
