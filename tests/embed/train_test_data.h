// A handful of synthetic studies loaded for training, their vocabulary, and
// TrainOptions for a short run into the temporary directory: shared by the
// tests that train (trainer, peaks readout).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "api/src/model_builder.h"
#include "embed/train_data.h"
#include "embed/trainer.h"
#include "tests/test_util.h"
#include "tools/synth/synth.h"

namespace ctdb::embed::test {

struct TrainData {
  ctdb::test::TempDir dir;
  ModelManifest m = NewModelSpec::TinyManifest();
  TrainingSet set;
  std::vector<std::string> vocab;
  TrainData() {
    synth::SynthOptions so;
    so.out = dir.Sub("data");
    so.n = 12;
    so.seed = 8;
    so.inplane = 48;
    so.valid_fraction = 0;
    REQUIRE(synth::Synthesize(so).ok());
    auto s = LoadTrainingSet(so.out, "train", 0, m, 2);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    set = std::move(s).value();
    std::vector<std::string> corpus;
    for (const auto& st : set.studies) corpus.push_back(st.findings + "\n" + st.impression);
    vocab = BuildVocab(corpus, m.tokenizer, 2000);
  }
  TrainOptions Options(const std::string& out, int epochs) const {
    TrainOptions o;
    o.out = dir.Sub(out);
    o.manifest = m;
    o.vocab = vocab;
    o.epochs = epochs;
    o.batch = 6;
    o.warmup_steps = 2;
    return o;
  }
};

}  // namespace ctdb::embed::test
