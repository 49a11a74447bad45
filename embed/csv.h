// CSV (RFC 4180) as real report exports write it: quoted fields holding
// commas, doubled quotes and newlines; CRLF or LF; an optional UTF-8 BOM.
//
// Thread contract: stateless functions, thread-safe; CsvTable is a value.
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "ctdb/result.h"

namespace ctdb::embed {

// Rows of fields. InvalidArgument (naming `what` and the line) for an
// unterminated quote or text after a closing quote.
Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text, const std::string& what);

// A CSV with a header row.
class CsvTable {
 public:
  // Every row must have as many fields as the header (InvalidArgument).
  static Result<CsvTable> Parse(std::string_view text, const std::string& what);
  static Result<CsvTable> ReadFile(const std::string& path);  // NotFound, InvalidArgument

  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  // Column index by exact name; -1 if absent.
  int Column(const std::string& name) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
  std::unordered_map<std::string, int> index_;
};

}  // namespace ctdb::embed
