#include "api/src/server/auth.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ctdb::server {
namespace {

std::string Trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

// Equal strings in time independent of where they first differ.
bool ConstantTimeEqual(const std::string& a, const std::string& b) {
  unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

}  // namespace

Status ApiKeys::Add(const std::string& key, const std::string& scope, const std::string& where) {
  if (key.size() < 16) return Status::InvalidArgument(where + ": API keys must be at least 16 characters");
  if (key.find_first_of(" \t,:") != std::string::npos) {
    return Status::InvalidArgument(where + ": API keys cannot contain spaces, commas or colons");
  }
  if (scope == "read") keys_[key] = Scope::kRead;
  else if (scope == "write") keys_[key] = Scope::kWrite;
  else return Status::InvalidArgument(where + ": scope must be read or write, not '" + scope + "'");
  return Status::Ok();
}

Status ApiKeys::AddList(const std::string& list, const std::string& where) {
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = Trim(item);
    if (item.empty()) continue;
    const size_t colon = item.rfind(':');
    if (colon == std::string::npos) return Status::InvalidArgument(where + ": expected key:scope entries");
    CTDB_RETURN_IF_ERROR(Add(Trim(item.substr(0, colon)), Trim(item.substr(colon + 1)), where));
  }
  return Status::Ok();
}

Result<ApiKeys> ApiKeys::Load(const std::string& file, const std::string& env) {
  ApiKeys keys;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Status::NotFound("cannot read API key file " + file);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      const size_t hash = line.find('#');
      if (hash != std::string::npos) line.resize(hash);
      line = Trim(line);
      if (line.empty()) continue;
      std::istringstream ls(line);
      std::string key, scope, extra;
      ls >> key >> scope >> extra;
      const std::string where = file + ":" + std::to_string(n);
      if (scope.empty() || !extra.empty()) return Status::InvalidArgument(where + ": expected '<key> read|write'");
      CTDB_RETURN_IF_ERROR(keys.Add(key, scope, where));
    }
  }
  if (!env.empty()) {
    if (const char* v = std::getenv(env.c_str())) CTDB_RETURN_IF_ERROR(keys.AddList(v, "$" + env));
  }
  return keys;
}

Scope ApiKeys::Check(const std::string& authorization) const {
  const std::string prefix = "Bearer ";
  if (authorization.size() <= prefix.size() || authorization.compare(0, prefix.size(), prefix) != 0) {
    return Scope::kNone;
  }
  const std::string presented = Trim(authorization.substr(prefix.size()));
  Scope found = Scope::kNone;
  for (const auto& [key, scope] : keys_) {  // every key compared: no early exit
    if (ConstantTimeEqual(key, presented)) found = scope;
  }
  return found;
}

}  // namespace ctdb::server
