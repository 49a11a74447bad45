// RowAttributes: the filterable metadata of every row, held column-wise in
// memory so a Filter becomes a row bitmap without touching storage.
//
// Thread contract: const methods are thread-safe; Set/Erase need exclusive
// access (the Database holds its index lock).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ctdb/filter.h"
#include "ctdb/study.h"
#include "index/bitmap.h"

namespace ctdb::index {

class RowAttributes {
 public:
  // Records (or overwrites) the attributes of `row`.
  void Set(uint64_t row, const StudyRecord& record);
  // Forgets `row`; it matches no filter afterwards.
  void Erase(uint64_t row);

  // Bitmap over rows [0, num_rows()) of live rows passing `filter`.
  Bitmap Select(const Filter& filter) const;

  size_t num_rows() const { return live_.size(); }
  size_t MemoryBytes() const;

 private:
  uint32_t InternManufacturer(const std::string& name);
  static std::string Lower(const std::string& s);

  Bitmap live_;
  std::vector<uint8_t> sex_;
  std::vector<int16_t> age_;       // -1 unknown
  std::vector<int32_t> date_;      // YYYYMMDD, 0 unknown
  std::vector<uint32_t> manufacturer_;  // id into manufacturers_; 0 = none
  std::vector<std::string> manufacturers_{""};
  std::unordered_map<std::string, uint32_t> manufacturer_ids_{{"", 0}};
  // Inverted lists: lower-cased label -> rows having it; lower-cased finding
  // -> rows whose report states it present.
  std::unordered_map<std::string, Bitmap> labels_;
  std::unordered_map<std::string, Bitmap> findings_;
};

}  // namespace ctdb::index
