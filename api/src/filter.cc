#include "ctdb/filter.h"

#include <cctype>
#include <charconv>

#include "api/src/ascii.h"

namespace ctdb {
namespace {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool ParseInt(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// "a-b", "a-", "-b" or "a" (= a-a); either side may be empty but not both.
bool ParseRange(std::string_view s, std::optional<int>* lo, std::optional<int>* hi) {
  size_t dash = s.find('-');
  if (dash == std::string_view::npos) {
    int v;
    if (!ParseInt(s, &v)) return false;
    *lo = v;
    *hi = v;
    return true;
  }
  std::string_view a = s.substr(0, dash), b = s.substr(dash + 1);
  if (a.empty() && b.empty()) return false;
  int v;
  if (!a.empty()) {
    if (!ParseInt(a, &v)) return false;
    *lo = v;
  }
  if (!b.empty()) {
    if (!ParseInt(b, &v)) return false;
    *hi = v;
  }
  return !(*lo && *hi && **lo > **hi);
}

}  // namespace

Result<Filter> ParseFilter(const std::string& text) {
  Filter f;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string::npos) comma = text.size();
    std::string term = Trim(std::string_view(text).substr(start, comma - start));
    start = comma + 1;
    if (term.empty()) {
      if (comma == text.size()) break;
      continue;
    }
    size_t eq = term.find('=');
    if (eq == std::string::npos) {
      return Status::InvalidArgument("filter term '" + term + "' is not name=value");
    }
    const std::string name = AsciiLower(Trim(std::string_view(term).substr(0, eq)));
    std::string value = Trim(std::string_view(term).substr(eq + 1));
    if (value.empty()) return Status::InvalidArgument("filter term '" + term + "' has no value");
    if (name == "sex") {
      char c = static_cast<char>(std::toupper(static_cast<unsigned char>(value[0])));
      if (value.size() == 1 && c == 'F') f.sex = Sex::kFemale;
      else if (value.size() == 1 && c == 'M') f.sex = Sex::kMale;
      else return Status::InvalidArgument("filter sex must be F or M, got '" + value + "'");
    } else if (name == "age") {
      if (!ParseRange(value, &f.min_age_years, &f.max_age_years)) {
        return Status::InvalidArgument("filter age must be like 40-60, 40- or -60, got '" + value + "'");
      }
    } else if (name == "date") {
      auto valid = [](const std::optional<int>& v) { return !v || (*v >= 18000101 && *v <= 29991231); };
      if (!ParseRange(value, &f.min_study_date, &f.max_study_date) || !valid(f.min_study_date) ||
          !valid(f.max_study_date)) {
        return Status::InvalidArgument(
            "filter date must be like 20200101-20201231 (YYYYMMDD), got '" + value + "'");
      }
    } else if (name == "manufacturer") {
      f.manufacturer = value;
    } else if (name == "label") {
      f.has_labels.push_back(value);
    } else if (name == "finding") {
      f.report_findings.push_back(value);
    } else {
      return Status::InvalidArgument("unknown filter field '" + name +
                                     "' (expected sex, age, date, manufacturer, label, finding)");
    }
  }
  return f;
}

}  // namespace ctdb
