#include "db/record_codec.h"

#include <cmath>

#include "db/coding.h"

namespace ctdb::db {
namespace {

Status Truncated(const Reader& r) { return r.Error("truncated or malformed fields"); }

}  // namespace

std::string EncodeRecord(const StudyRecord& rec) {
  Writer w(kRecordVersion);
  w.PutString(rec.key);
  w.PutString(rec.patient_id);
  w.PutU8(static_cast<uint8_t>(rec.sex));
  w.PutI32(rec.age_years);
  w.PutI32(rec.study_date);
  w.PutString(rec.manufacturer);
  for (double s : rec.spacing_mm) w.PutF64(s);
  for (int64_t s : rec.shape) w.PutI64(s);
  w.PutString(rec.source_uri);
  w.PutString(rec.findings);
  w.PutString(rec.impression);
  w.PutStrings(rec.labels);
  w.PutU32(static_cast<uint32_t>(rec.extra.size()));
  for (const auto& [k, v] : rec.extra) {
    w.PutString(k);
    w.PutString(v);
  }
  w.PutString(rec.model_id);
  w.PutU32(static_cast<uint32_t>(rec.statements.size()));
  for (const auto& st : rec.statements) {
    w.PutString(st.finding);
    w.PutString(st.region);
    w.PutU8(static_cast<uint8_t>(st.existence));
    w.PutU32(st.sentence);
  }
  return w.Finish();
}

Result<StudyRecord> DecodeRecord(std::string_view value, std::string_view what) {
  Reader r;
  CTDB_RETURN_IF_ERROR(Reader::Open(value, kRecordVersion, std::string(what), &r));
  StudyRecord rec;
  uint8_t sex;
  if (!r.GetString(&rec.key) || !r.GetString(&rec.patient_id) || !r.GetU8(&sex) ||
      !r.GetI32(&rec.age_years) || !r.GetI32(&rec.study_date) || !r.GetString(&rec.manufacturer)) {
    return Truncated(r);
  }
  if (sex > 2) return r.Error("invalid sex code " + std::to_string(sex));
  rec.sex = static_cast<Sex>(sex);
  for (double& s : rec.spacing_mm) if (!r.GetF64(&s)) return Truncated(r);
  for (int64_t& s : rec.shape) if (!r.GetI64(&s)) return Truncated(r);
  if (!r.GetString(&rec.source_uri) || !r.GetString(&rec.findings) || !r.GetString(&rec.impression)) {
    return Truncated(r);
  }
  if (!r.GetStrings(&rec.labels)) return Truncated(r);
  uint32_t n;
  if (!r.GetU32(&n) || n > r.remaining() / 8) return Truncated(r);
  for (uint32_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.GetString(&k) || !r.GetString(&v)) return Truncated(r);
    rec.extra.emplace(std::move(k), std::move(v));
  }
  if (!r.GetString(&rec.model_id)) return Truncated(r);
  if (r.version() < 2) {  // version 1 records have no statements
    if (!r.done()) return r.Error("trailing bytes");
    return rec;
  }
  if (!r.GetU32(&n) || n > r.remaining() / 13) return Truncated(r);
  rec.statements.resize(n);
  for (auto& st : rec.statements) {
    uint8_t e;
    if (!r.GetString(&st.finding) || !r.GetString(&st.region) || !r.GetU8(&e) || !r.GetU32(&st.sentence)) {
      return Truncated(r);
    }
    if (e > 2) return r.Error("invalid existence code " + std::to_string(e));
    st.existence = static_cast<Existence>(e);
  }
  if (!r.done()) return r.Error("trailing bytes");
  if (rec.key.empty()) return r.Error("empty key");
  return rec;
}

std::string EncodeVector(const std::vector<float>& v) {
  Writer w(kVectorVersion);
  w.PutFloats(v);
  return w.Finish();
}

Result<std::vector<float>> DecodeVector(std::string_view value, std::string_view what) {
  Reader r;
  CTDB_RETURN_IF_ERROR(Reader::Open(value, kVectorVersion, std::string(what), &r));
  std::vector<float> v;
  if (!r.GetFloats(&v, kMaxDimension) || !r.done()) return Truncated(r);
  return v;
}

namespace {

// A counted list of items: [u32 count][item]...; read_item returns false on truncation.
template <typename T, typename WriteItem>
std::string EncodeList(const std::vector<T>& items, WriteItem write_item) {
  Writer w(kVectorVersion);
  w.PutU32(static_cast<uint32_t>(items.size()));
  for (const T& item : items) write_item(w, item);
  return w.Finish();
}

template <typename T, typename ReadItem>
Result<std::vector<T>> DecodeList(std::string_view value, std::string_view what, ReadItem read_item) {
  Reader r;
  CTDB_RETURN_IF_ERROR(Reader::Open(value, kVectorVersion, std::string(what), &r));
  uint32_t n;
  // Every item takes at least 8 bytes: bounds the allocation by the value size.
  if (!r.GetU32(&n) || n > kMaxFeaturesPerStudy || n > r.remaining() / 8) return Truncated(r);
  std::vector<T> out(n);
  for (T& item : out) {
    if (!read_item(r, item)) return Truncated(r);
  }
  if (!r.done()) return r.Error("trailing bytes");
  return out;
}

}  // namespace

std::string EncodeSlabs(const std::vector<SlabFeature>& slabs) {
  return EncodeList(slabs, [](Writer& w, const SlabFeature& s) {
    w.PutF32(s.z_mm);
    w.PutFloats(s.vector);
  });
}

Result<std::vector<SlabFeature>> DecodeSlabs(std::string_view value, std::string_view what) {
  return DecodeList<SlabFeature>(value, what, [](Reader& r, SlabFeature& s) {
    return r.GetF32(&s.z_mm) && r.GetFloats(&s.vector, kMaxDimension);
  });
}

std::string EncodeNamedFeatures(const std::vector<NamedFeature>& features) {
  return EncodeList(features, [](Writer& w, const NamedFeature& f) {
    w.PutString(f.name);
    w.PutFloats(f.vector);
  });
}

Result<std::vector<NamedFeature>> DecodeNamedFeatures(std::string_view value, std::string_view what) {
  return DecodeList<NamedFeature>(value, what, [](Reader& r, NamedFeature& f) {
    return r.GetString(&f.name) && r.GetFloats(&f.vector, kMaxDimension);
  });
}

std::string EncodeDetections(const std::vector<Detection>& detections) {
  return EncodeList(detections, [](Writer& w, const Detection& d) {
    w.PutString(d.finding);
    w.PutF32(d.score);
    for (float p : d.position_mm) w.PutF32(p);
  });
}

Result<std::vector<Detection>> DecodeDetections(std::string_view value, std::string_view what) {
  return DecodeList<Detection>(value, what, [](Reader& r, Detection& d) {
    if (!r.GetString(&d.finding) || !r.GetF32(&d.score)) return false;
    for (float& p : d.position_mm) {
      if (!r.GetF32(&p) || !std::isfinite(p)) return false;
    }
    return !d.finding.empty() && d.score >= 0 && d.score <= 1;  // NaN fails too
  });
}

std::string EncodeDisease(const DiseaseEntry& e) {
  Writer w(kDiseaseVersion);
  w.PutString(e.name);
  w.PutStrings(e.positive);
  w.PutStrings(e.negative);
  for (const auto* v : {&e.positive_prototype, &e.negative_prototype, &e.exemplar_positive, &e.exemplar_negative}) {
    w.PutFloats(*v);
  }
  w.PutU64(e.exemplar_studies);
  w.PutString(e.model_id);
  w.PutF64(e.logit_scale);
  w.PutF64(e.calibration_scale);
  w.PutF64(e.calibration_bias);
  w.PutU64(e.calibration_studies);
  return w.Finish();
}

Result<DiseaseEntry> DecodeDisease(std::string_view value, std::string_view what) {
  Reader r;
  CTDB_RETURN_IF_ERROR(Reader::Open(value, kDiseaseVersion, std::string(what), &r));
  DiseaseEntry e;
  if (!r.GetString(&e.name) || !r.GetStrings(&e.positive) || !r.GetStrings(&e.negative)) return Truncated(r);
  for (auto* v : {&e.positive_prototype, &e.negative_prototype, &e.exemplar_positive, &e.exemplar_negative}) {
    if (!r.GetFloats(v, kMaxDimension)) return Truncated(r);
  }
  if (!r.GetU64(&e.exemplar_studies) || !r.GetString(&e.model_id) || !r.GetF64(&e.logit_scale)) return Truncated(r);
  if (r.version() >= 2) {  // version 1 entries are uncalibrated
    if (!r.GetF64(&e.calibration_scale) || !r.GetF64(&e.calibration_bias) || !r.GetU64(&e.calibration_studies)) {
      return Truncated(r);
    }
    if (!std::isfinite(e.calibration_scale) || !std::isfinite(e.calibration_bias)) {
      return r.Error("non-finite calibration");
    }
  }
  if (!r.done()) return r.Error("trailing bytes");
  return e;
}

std::string EncodePreview(const Preview& p) {
  Writer w(kPreviewVersion);
  for (int64_t s : p.shape) w.PutI64(s);
  for (double s : p.spacing_mm) w.PutF64(s);
  w.PutF64(p.z0_mm);
  w.PutU64(p.voxels.size());
  w.PutRaw(p.voxels.data(), p.voxels.size() * sizeof(int16_t));
  return w.Finish();
}

Result<Preview> DecodePreview(std::string_view value, std::string_view what) {
  Reader r;
  CTDB_RETURN_IF_ERROR(Reader::Open(value, kPreviewVersion, std::string(what), &r));
  Preview p;
  for (int64_t& s : p.shape) if (!r.GetI64(&s)) return Truncated(r);
  for (double& s : p.spacing_mm) if (!r.GetF64(&s)) return Truncated(r);
  if (!r.GetF64(&p.z0_mm)) return Truncated(r);
  uint64_t n;
  if (!r.GetU64(&n)) return Truncated(r);
  for (int64_t s : p.shape) {
    if (s < 0 || s > kMaxPreviewVoxels) return r.Error("invalid preview shape");
  }
  if (n > uint64_t(kMaxPreviewVoxels) || n != uint64_t(p.shape[0] * p.shape[1] * p.shape[2]) ||
      n * 2 != r.remaining()) {
    return r.Error("preview voxel count does not match its shape");
  }
  p.voxels.resize(n);
  if (!r.GetRaw(p.voxels.data(), n * 2)) return Truncated(r);
  return p;
}

std::string EncodeOplogEntry(const OplogEntry& e) {
  Writer w(kOplogVersion);
  w.PutU8(static_cast<uint8_t>(e.op));
  w.PutU64(e.row);
  w.PutString(e.key);
  return w.Finish();
}

Result<OplogEntry> DecodeOplogEntry(std::string_view value, std::string_view what) {
  Reader r;
  CTDB_RETURN_IF_ERROR(Reader::Open(value, kOplogVersion, std::string(what), &r));
  OplogEntry e;
  uint8_t op;
  if (!r.GetU8(&op) || !r.GetU64(&e.row) || !r.GetString(&e.key) || !r.done()) return Truncated(r);
  if (op != 1 && op != 2) return r.Error("unknown oplog op " + std::to_string(op));
  e.op = static_cast<OplogOp>(op);
  return e;
}

}  // namespace ctdb::db
