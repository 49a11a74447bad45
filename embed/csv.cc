#include "embed/csv.h"

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ctdb::embed {

Result<std::vector<std::vector<std::string>>> ParseCsv(std::string_view text, const std::string& what) {
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false, after_quote = false, any = false;
  size_t line = 1, quote_line = 0;
  auto end_field = [&] {
    row.push_back(std::move(field));
    field.clear();
    after_quote = false;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"') {
        if (i + 1 < text.size() && text[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
          after_quote = true;
        }
      } else {
        if (c == '\n') ++line;
        field += c;
      }
      continue;
    }
    if (c == ',') {
      end_field();
      any = true;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      if (any || !field.empty() || !row.empty()) {
        end_field();
        rows.push_back(std::move(row));
        row.clear();
      }
      any = false;
      ++line;
    } else if (c == '"' && field.empty() && !after_quote) {
      quoted = true;
      quote_line = line;
      any = true;
    } else if (after_quote) {
      return Status::InvalidArgument(what + ": line " + std::to_string(line) + ": text after a closing quote");
    } else {
      field += c;
      any = true;
    }
  }
  if (quoted) {
    return Status::InvalidArgument(what + ": quote opened on line " + std::to_string(quote_line) + " is never closed");
  }
  if (any || !field.empty() || !row.empty()) {
    end_field();
    rows.push_back(std::move(row));
  }
  return rows;
}

Result<CsvTable> CsvTable::Parse(std::string_view text, const std::string& what) {
  CTDB_ASSIGN_OR_RETURN(auto rows, ParseCsv(text, what));
  if (rows.empty()) return Status::InvalidArgument(what + ": empty CSV (no header)");
  CsvTable t;
  t.header_ = std::move(rows.front());
  for (size_t c = 0; c < t.header_.size(); ++c) t.index_.emplace(t.header_[c], static_cast<int>(c));
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].size() != t.header_.size()) {
      return Status::InvalidArgument(what + ": record " + std::to_string(r) + " has " + std::to_string(rows[r].size()) +
                                     " fields, the header has " + std::to_string(t.header_.size()));
    }
    t.rows_.push_back(std::move(rows[r]));
  }
  return t;
}

Result<CsvTable> CsvTable::ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status::NotFound("cannot open CSV " + path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return Parse(ss.str(), "CSV " + path);
}

int CsvTable::Column(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : it->second;
}

}  // namespace ctdb::embed
