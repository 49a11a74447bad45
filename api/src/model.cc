// ctdb::Model over an embed::Encoder loaded from a model directory.
#include "ctdb/model.h"

#include "api/src/model_manifest_json.h"
#include "api/src/study_pipeline.h"
#include "embed/ctrate.h"
#include "embed/disease_catalog.h"

#include <mutex>

namespace ctdb {
namespace {

class ModelImpl final : public Model {
 public:
  ModelImpl(std::string dir, std::unique_ptr<embed::Encoder> encoder) : dir_(std::move(dir)), encoder_(std::move(encoder)) {
    const auto& m = encoder_->manifest();
    info_.id = encoder_->id();
    info_.name = m.name;
    info_.version = m.version;
    info_.format = m.format;
    info_.description = m.description;
    info_.dimension = static_cast<size_t>(m.dimension);
    info_.spacing_mm = m.preprocess.spacing_mm;
    info_.resample = embed::ResampleName(m.preprocess.resample);
    info_.size = m.preprocess.size;
    info_.slab_mm = m.slab_mm;
    info_.max_tokens = static_cast<int>(m.max_tokens);
    info_.diseases = m.diseases;
    info_.volume_flops = encoder_->VolumeFlops();
    info_.logit_scale = encoder_->LogitScale();
  }

  const ModelInfo& info() const override { return info_; }

  Result<std::vector<std::vector<float>>> EmbedTexts(const std::vector<std::string>& texts) override {
    return encoder_->EncodeTexts(texts);
  }

  Result<StudyVectors> EmbedVolume(const Preview& volume) override {
    const size_t n = static_cast<size_t>(volume.shape[0] * volume.shape[1] * volume.shape[2]);
    if (n == 0 || volume.voxels.size() != n) return Status::InvalidArgument("volume is empty or does not match its shape");
    CTDB_ASSIGN_OR_RETURN(PreparedStudy p,
                          PrepareStudy(VolumeFromPreview(volume), StudyRecord{}, encoder_->manifest(), false));
    p.study.record.key = "volume";
    CTDB_RETURN_IF_ERROR(EncodePrepared(*encoder_, &p));
    return std::move(p.study.vectors);
  }

  Result<Study> EmbedStudyFile(const std::string& path, const StudyRecord& record,
                               const VolumeReadOptions& read) override {
    CTDB_ASSIGN_OR_RETURN(embed::Volume v, ReadVolumeFile(path, read));
    CTDB_ASSIGN_OR_RETURN(PreparedStudy p, PrepareStudy(v, record, encoder_->manifest()));
    CTDB_RETURN_IF_ERROR(EncodePrepared(*encoder_, &p));
    return std::move(p.study);
  }

  Result<std::vector<DiseasePrototype>> DiseasePrototypes() override {
    std::lock_guard<std::mutex> lock(prototypes_mu_);
    if (!prototypes_.empty()) return prototypes_;
    CTDB_ASSIGN_OR_RETURN(std::vector<DiseasePrototype> out, DiseasePhrases());
    for (auto& p : out) {
      CTDB_ASSIGN_OR_RETURN(p.p_positive, MeanEmbedding(p.positive));
      CTDB_ASSIGN_OR_RETURN(p.p_negative, MeanEmbedding(p.negative));
    }
    prototypes_ = out;
    return out;
  }

  Result<std::vector<DiseasePrototype>> DiseasePhrases() override {
    std::vector<embed::DiseasePrompts> catalog;
    auto file = ReadDiseaseCatalog(dir_);
    if (file.ok()) {
      catalog = std::move(file).value();
    } else if (file.status().IsNotFound()) {
      std::vector<std::string> names = info_.diseases;
      if (names.empty()) names.assign(embed::kCtRateLabels, embed::kCtRateLabels + embed::kNumCtRateLabels);
      for (const auto& n : names) catalog.push_back(embed::DefaultPromptsFor(n));
    } else {
      return file.status();
    }
    std::vector<DiseasePrototype> out;
    for (auto& d : catalog) {
      DiseasePrototype p;
      p.name = d.name;
      p.positive = std::move(d.positive);
      p.negative = std::move(d.negative);
      p.calibration_scale = d.calibration_scale;
      p.calibration_bias = d.calibration_bias;
      p.calibration_studies = d.calibration_studies;
      out.push_back(std::move(p));
    }
    return out;
  }

  embed::Encoder& encoder() { return *encoder_; }

 private:
  Result<std::vector<float>> MeanEmbedding(const std::vector<std::string>& texts) {
    CTDB_ASSIGN_OR_RETURN(auto e, encoder_->EncodeTexts(texts));
    std::vector<float> mean(static_cast<size_t>(encoder_->manifest().dimension), 0.0f);
    for (const auto& v : e) {
      for (size_t i = 0; i < v.size() && i < mean.size(); ++i) mean[i] += v[i] / static_cast<float>(e.size());
    }
    return mean;
  }

  const std::string dir_;
  std::unique_ptr<embed::Encoder> encoder_;
  ModelInfo info_;
  std::mutex prototypes_mu_;
  std::vector<DiseasePrototype> prototypes_;  // guarded by prototypes_mu_; empty until first asked
};

}  // namespace

Result<std::unique_ptr<Model>> Model::Open(const std::string& dir, const ModelOptions& options) {
  CTDB_ASSIGN_OR_RETURN(embed::ModelManifest manifest, ReadManifest(dir));
  embed::EncoderRuntime rt;
  rt.threads = options.threads;
  rt.views = options.views;
  auto enc = embed::LoadEncoder(dir, manifest, rt);
  if (!enc.ok()) return enc.status().WithContext("model " + dir);
  return std::unique_ptr<Model>(new ModelImpl(dir, std::move(enc).value()));
}

embed::Encoder& EncoderOf(Model& model) { return static_cast<ModelImpl&>(model).encoder(); }

}  // namespace ctdb
