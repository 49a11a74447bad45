// ctdb synth: synthetic CT studies in CT-RATE's layout.
#include <cstdio>

#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/synth/synth.h"

namespace ctdb::cli {

int CmdSynth(int argc, char** argv) {
  const std::string help =
      "usage: ctdb synth --out DIR [--n 100] [--seed 1] [--valid 0.2] [--inplane 160] [--threads 0]\n"
      "Writes N synthetic chest CT studies in CT-RATE's layout: {train,valid}/<patient>/<scan>/\n"
      "<name>.nii.gz (int16; slope/intercept in the metadata CSV), organ masks, and the reports,\n"
      "metadata and predicted-labels CSVs. Deterministic for a seed. Phantoms for demos, tests\n"
      "and training, not patient data.\n";
  Args args(argc, argv, 0, {"help"});
  int exit;
  if (!Prepare(args, {"out", "n", "seed", "valid", "inplane", "threads", "help"}, help, &exit)) return exit;
  Status s;
  synth::SynthOptions o;
  o.out = args.Get("out");
  if (o.out.empty()) return UsageError("--out DIR is required", help);
  int64_t n, seed, inplane, threads;
  for (auto [name, fb, lo, hi, out] :
       {std::tuple{"n", 100, 1, 1000000, &n}, std::tuple{"seed", 1, 0, INT32_MAX, &seed},
        std::tuple{"inplane", 160, 32, 512, &inplane}, std::tuple{"threads", 0, 0, 256, &threads}}) {
    s = args.GetInt(name, fb, lo, hi, out);
    if (!s.ok()) return UsageError(s.message(), help);
  }
  o.n = static_cast<int>(n);
  o.seed = static_cast<uint64_t>(seed);
  o.inplane = inplane;
  o.threads = static_cast<int>(threads);
  try {
    o.valid_fraction = std::stod(args.Get("valid", "0.2"));
  } catch (const std::exception&) {
    return UsageError("--valid must be a number in [0, 1)", help);
  }
  Progress progress("synth", static_cast<uint64_t>(o.n));
  s = synth::Synthesize(o, [&](int done, int) { progress.Update(static_cast<uint64_t>(done)); });
  if (!s.ok()) return Fail(s);
  progress.Finish();
  std::printf("wrote %d studies to %s\n", o.n, o.out.c_str());
  return 0;
}

}  // namespace ctdb::cli
