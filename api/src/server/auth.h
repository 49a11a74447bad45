// Bearer API keys with read and write scopes (write implies read).
//
// Thread contract: immutable after Load; Check is thread-safe.
#pragma once

#include <map>
#include <string>

#include "ctdb/result.h"

namespace ctdb::server {

enum class Scope { kNone = 0, kRead = 1, kWrite = 2 };

class ApiKeys {
 public:
  // Keys from `file` (lines "<key> read|write", '#' comments; "" = none) and
  // from the environment variable `env` ("key:scope,key:scope"; "" = none).
  // InvalidArgument names the bad line; keys shorter than 16 characters are
  // refused (guessable).
  static Result<ApiKeys> Load(const std::string& file, const std::string& env);
  // Parses one "key:scope,..." list (also used by Load for the environment).
  Status AddList(const std::string& list, const std::string& where);

  // Scope granted by an "Authorization: Bearer <key>" header value; kNone
  // for a missing, malformed or unknown key. Compares in constant time.
  Scope Check(const std::string& authorization) const;
  size_t size() const { return keys_.size(); }

 private:
  Status Add(const std::string& key, const std::string& scope, const std::string& where);
  std::map<std::string, Scope> keys_;
};

}  // namespace ctdb::server
