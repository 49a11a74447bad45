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

}  // namespace ctdb
