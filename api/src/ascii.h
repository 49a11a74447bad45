// ASCII case folding for names compared without case (diseases, filter
// terms, file extensions). Deliberately not locale-aware.
#pragma once

#include <cctype>
#include <string>

namespace ctdb {

inline std::string AsciiLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// a == b ignoring ASCII case, without copies (hot loops).
inline bool AsciiEqualsIgnoreCase(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  }
  return true;
}

}  // namespace ctdb
