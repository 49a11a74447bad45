#include "index/row_attributes.h"

#include <algorithm>
#include <cctype>

namespace ctdb::index {

std::string RowAttributes::Lower(const std::string& s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

uint32_t RowAttributes::InternManufacturer(const std::string& name) {
  std::string key = Lower(name);
  auto it = manufacturer_ids_.find(key);
  if (it != manufacturer_ids_.end()) return it->second;
  uint32_t id = static_cast<uint32_t>(manufacturers_.size());
  manufacturers_.push_back(key);
  manufacturer_ids_.emplace(std::move(key), id);
  return id;
}

void RowAttributes::Set(uint64_t row, const StudyRecord& rec) {
  if (row >= live_.size()) {
    const size_t n = row + 1;
    live_.Resize(n);
    sex_.resize(n, 0);
    age_.resize(n, -1);
    date_.resize(n, 0);
    manufacturer_.resize(n, 0);
  }
  live_.Set(row);
  sex_[row] = static_cast<uint8_t>(rec.sex);
  age_[row] = static_cast<int16_t>(std::clamp(rec.age_years, -1, 32767));
  date_[row] = rec.study_date;
  manufacturer_[row] = InternManufacturer(rec.manufacturer);
  auto set_names = [row](std::unordered_map<std::string, Bitmap>* lists, const std::vector<std::string>& names) {
    for (auto& [name, rows] : *lists) {
      if (row < rows.size()) rows.Clear(row);
    }
    for (const auto& name : names) {
      Bitmap& rows = (*lists)[Lower(name)];
      if (rows.size() <= row) rows.Resize(std::max<size_t>(row + 1, rows.size() * 2));
      rows.Set(row);
    }
  };
  set_names(&labels_, rec.labels);
  std::vector<std::string> present;
  for (const auto& st : rec.statements) {
    if (st.existence == Existence::kPresent) present.push_back(st.finding);
  }
  set_names(&findings_, present);
}

void RowAttributes::Erase(uint64_t row) {
  if (row >= live_.size()) return;
  live_.Clear(row);
  for (auto* lists : {&labels_, &findings_}) {
    for (auto& [name, rows] : *lists) {
      if (row < rows.size()) rows.Clear(row);
    }
  }
}

Bitmap RowAttributes::Select(const Filter& f) const {
  Bitmap out = live_;
  const size_t n = live_.size();
  for (const auto& [wanted, lists] : {std::pair{&f.has_labels, &labels_}, std::pair{&f.report_findings, &findings_}}) {
    for (const auto& name : *wanted) {
      auto it = lists->find(Lower(name));
      if (it == lists->end()) return Bitmap(n);  // no row has it
      out.And(it->second);
    }
  }
  uint32_t man = 0;
  if (f.manufacturer) {
    auto it = manufacturer_ids_.find(Lower(*f.manufacturer));
    if (it == manufacturer_ids_.end()) return Bitmap(n);
    man = it->second;
  }
  const bool scalar = f.sex || f.min_age_years || f.max_age_years || f.min_study_date || f.max_study_date ||
                      f.manufacturer;
  if (!scalar) return out;
  const uint8_t sex = f.sex ? static_cast<uint8_t>(*f.sex) : 0;
  for (size_t r = 0; r < n; ++r) {
    if (!out.Test(r)) continue;
    bool keep = true;
    if (f.sex) keep = sex_[r] == sex;
    if (keep && (f.min_age_years || f.max_age_years)) {
      const int a = age_[r];
      keep = a >= 0 && (!f.min_age_years || a >= *f.min_age_years) && (!f.max_age_years || a <= *f.max_age_years);
    }
    if (keep && (f.min_study_date || f.max_study_date)) {
      const int d = date_[r];
      keep = d > 0 && (!f.min_study_date || d >= *f.min_study_date) && (!f.max_study_date || d <= *f.max_study_date);
    }
    if (keep && f.manufacturer) keep = manufacturer_[r] == man;
    if (!keep) out.Clear(r);
  }
  return out;
}

size_t RowAttributes::MemoryBytes() const {
  size_t b = live_.MemoryBytes() + sex_.capacity() + age_.capacity() * 2 + date_.capacity() * 4 +
             manufacturer_.capacity() * 4;
  for (const auto* lists : {&labels_, &findings_}) {
    for (const auto& [name, rows] : *lists) b += name.size() + rows.MemoryBytes();
  }
  return b;
}

}  // namespace ctdb::index
