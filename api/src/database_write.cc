#include <cmath>

#include "api/src/database_impl.h"
#include "api/src/normalize.h"
#include "embed/report_parser.h"

namespace ctdb {
namespace {

constexpr size_t kMaxKeyBytes = 1024;

// Validates a vector's dimension and returns it scaled to unit L2 norm.
Status NormalizeInto(const std::vector<float>& in, size_t d, const std::string& what, std::vector<float>* out) {
  if (in.size() != d) {
    return Status::InvalidArgument(what + " has dimension " + std::to_string(in.size()) + ", database has " +
                                   std::to_string(d));
  }
  out->resize(d);
  return NormalizeL2(in.data(), d, what, out->data());
}

// A copy of `study` with every embedding validated and L2-normalized.
Result<Study> ValidateStudy(const Study& in, size_t d) {
  const std::string& key = in.record.key;
  if (key.empty()) return Status::InvalidArgument("study key is empty");
  if (key.size() > kMaxKeyBytes) return Status::InvalidArgument("study key longer than 1024 bytes");
  const std::string who = "study '" + key + "': ";
  if (in.vectors.image.empty()) return Status::InvalidArgument(who + "image vector is required");
  if (in.record.age_years < -1 || in.record.age_years > 150) {
    return Status::InvalidArgument(who + "age_years must be -1 (unknown) or 0..150");
  }
  const int date = in.record.study_date;
  if (date != 0 && (date < 18000101 || date > 29991231 || (date / 100) % 100 < 1 || (date / 100) % 100 > 12 ||
                    date % 100 < 1 || date % 100 > 31)) {
    return Status::InvalidArgument(who + "study_date must be YYYYMMDD or 0, got " + std::to_string(date));
  }
  Study out;
  out.record = in.record;
  if (out.record.statements.empty() && (!out.record.findings.empty() || !out.record.impression.empty())) {
    out.record.statements = embed::ParseStatements(out.record.findings, out.record.impression);
  }
  out.preview = in.preview;
  CTDB_RETURN_IF_ERROR(NormalizeInto(in.vectors.image, d, who + "image vector", &out.vectors.image));
  if (!in.vectors.report.empty()) {
    CTDB_RETURN_IF_ERROR(NormalizeInto(in.vectors.report, d, who + "report vector", &out.vectors.report));
  }
  out.vectors.slabs.resize(in.vectors.slabs.size());
  for (size_t i = 0; i < in.vectors.slabs.size(); ++i) {
    const auto& s = in.vectors.slabs[i];
    if (!std::isfinite(s.z_mm)) return Status::InvalidArgument(who + "slab z is not finite");
    out.vectors.slabs[i].z_mm = s.z_mm;
    CTDB_RETURN_IF_ERROR(NormalizeInto(s.vector, d, who + "slab " + std::to_string(i), &out.vectors.slabs[i].vector));
  }
  auto named = [&](const std::vector<NamedFeature>& src, const char* what, std::vector<NamedFeature>* dst) {
    dst->resize(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      (*dst)[i].name = src[i].name;
      CTDB_RETURN_IF_ERROR(NormalizeInto(src[i].vector, d, who + what + " '" + src[i].name + "'", &(*dst)[i].vector));
    }
    return Status::Ok();
  };
  CTDB_RETURN_IF_ERROR(named(in.vectors.diseases, "disease feature", &out.vectors.diseases));
  CTDB_RETURN_IF_ERROR(named(in.vectors.sentences, "sentence feature", &out.vectors.sentences));
  if (in.vectors.detections.size() > 10000) return Status::InvalidArgument(who + "more than 10000 detections");
  for (const Detection& det : in.vectors.detections) {
    if (det.finding.empty()) return Status::InvalidArgument(who + "a detection has no finding name");
    if (!(det.score >= 0 && det.score <= 1)) {
      return Status::InvalidArgument(who + "detection score of " + det.finding + " must be in [0, 1]");
    }
    for (float p : det.position_mm) {
      if (!std::isfinite(p)) return Status::InvalidArgument(who + "detection position of " + det.finding + " is not finite");
    }
  }
  out.vectors.detections = in.vectors.detections;
  const Preview& p = in.preview;
  if (!p.voxels.empty() || p.shape[0] || p.shape[1] || p.shape[2]) {
    for (int a = 0; a < 3; ++a) {
      if (p.shape[a] <= 0 || p.shape[a] > 4096) return Status::InvalidArgument(who + "preview shape out of range");
      if (!(p.spacing_mm[a] > 0)) return Status::InvalidArgument(who + "preview spacing must be > 0 mm");
    }
    if (static_cast<int64_t>(p.voxels.size()) != p.shape[0] * p.shape[1] * p.shape[2]) {
      return Status::InvalidArgument(who + "preview has " + std::to_string(p.voxels.size()) +
                                     " voxels, shape says " + std::to_string(p.shape[0] * p.shape[1] * p.shape[2]));
    }
  }
  return out;
}

}  // namespace

Status DatabaseImpl::Put(const Study& study) {
  CTDB_ASSIGN_OR_RETURN(Study clean, ValidateStudy(study, store_->dimension()));
  const std::string& model = options_.model_id;
  if (!model.empty()) {
    if (clean.record.model_id.empty()) {
      clean.record.model_id = model;
    } else if (clean.record.model_id != model) {
      return Status::InvalidArgument("study '" + clean.record.key + "' has vectors of model " +
                                     clean.record.model_id + "; this database holds model " + model);
    }
  }
  std::lock_guard<std::mutex> lock(write_mu_);
  CTDB_ASSIGN_OR_RETURN(db::PutResult put, store_->PutStudy(clean));
  CTDB_RETURN_IF_ERROR(ApplyPut(put, clean));
  if (options_.snapshot_every_writes && ++writes_since_snapshot_ >= options_.snapshot_every_writes) {
    CTDB_RETURN_IF_ERROR(SnapshotLocked());
  }
  return Status::Ok();
}

Status DatabaseImpl::ApplyPut(const db::PutResult& put, const Study& study) {
  std::unique_lock<RwLock> lock(index_mu_);
  if (put.replaced) {
    for (auto& ix : indexes_) {
      if (ix->Contains(*put.replaced)) CTDB_RETURN_IF_ERROR(ix->Remove(*put.replaced));
    }
    attributes_.Erase(*put.replaced);
    row_keys_[*put.replaced].clear();
  }
  // The store already holds the study; an index failure here is repaired on reopen.
  CTDB_RETURN_IF_ERROR(indexes_[0]->Add(put.row, study.vectors.image.data()));
  if (!study.vectors.report.empty()) CTDB_RETURN_IF_ERROR(indexes_[1]->Add(put.row, study.vectors.report.data()));
  attributes_.Set(put.row, study.record);
  if (put.row >= row_keys_.size()) row_keys_.resize(put.row + 1);
  row_keys_[put.row] = study.record.key;
  return Status::Ok();
}

Status DatabaseImpl::Delete(std::string_view key) {
  if (key.empty()) return Status::InvalidArgument("study key is empty");
  std::lock_guard<std::mutex> lock(write_mu_);
  CTDB_ASSIGN_OR_RETURN(db::DeleteResult del, store_->DeleteStudy(key));
  {
    std::unique_lock<RwLock> ilock(index_mu_);
    for (auto& ix : indexes_) {
      if (ix->Contains(del.row)) CTDB_RETURN_IF_ERROR(ix->Remove(del.row));
    }
    attributes_.Erase(del.row);
    row_keys_[del.row].clear();
  }
  if (options_.snapshot_every_writes && ++writes_since_snapshot_ >= options_.snapshot_every_writes) {
    CTDB_RETURN_IF_ERROR(SnapshotLocked());
  }
  return Status::Ok();
}

Status DatabaseImpl::SnapshotLocked() {
  const uint64_t seq = store_->last_sequence();
  {
    // Save only reads the indexes: searches may go on meanwhile.
    std::shared_lock<RwLock> lock(index_mu_);
    for (int k = 0; k < kNumVectorKinds; ++k) {
      CTDB_RETURN_IF_ERROR(indexes_[k]->Save(SnapshotFile(static_cast<VectorKind>(k)), seq));
    }
  }
  CTDB_RETURN_IF_ERROR(store_->TrimOplog(seq));
  writes_since_snapshot_ = 0;
  std::unique_lock<RwLock> lock(index_mu_);
  snapshot_sequence_ = seq;
  return Status::Ok();
}

Status DatabaseImpl::SnapshotIndex() {
  std::lock_guard<std::mutex> lock(write_mu_);
  return SnapshotLocked();
}

Status DatabaseImpl::Compact() {
  std::lock_guard<std::mutex> lock(write_mu_);
  {
    std::unique_lock<RwLock> ilock(index_mu_);
    for (auto& ix : indexes_) CTDB_RETURN_IF_ERROR(ix->Rebuild());
  }
  CTDB_RETURN_IF_ERROR(SnapshotLocked());
  return store_->Compact();
}

}  // namespace ctdb
