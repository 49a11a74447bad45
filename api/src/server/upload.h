// What the server does with files from clients: scratch directories,
// zip archives (a DICOM series), and client-named paths confined to a root.
//
// Thread contract: stateless functions; a ScratchDir belongs to one request.
#pragma once

#include <cstdint>
#include <string>

#include "ctdb/result.h"

namespace ctdb::server {

// A fresh private directory, removed with everything in it on destruction.
class ScratchDir {
 public:
  static Result<ScratchDir> Create(const std::string& base);  // base "" = system temp
  ScratchDir(ScratchDir&& other) noexcept : path_(std::move(other.path_)) { other.path_.clear(); }
  ScratchDir(const ScratchDir&) = delete;
  ~ScratchDir();
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// Unpacks a zip archive's files (stored or deflated) into `dir`. Entry names
// never become paths: files are written as dir/NNNNN.dcm in archive order,
// so "../" names cannot escape. Folders are skipped. InvalidArgument for a
// malformed archive, encrypted or unsupported entries, more than
// `max_entries` files or more than `max_bytes` unpacked (zip bombs).
// Returns the number of files written.
Result<uint64_t> ExtractZip(const std::string& archive, const std::string& dir, uint64_t max_bytes,
                            uint64_t max_entries = 20000);

// `relative` resolved inside `root` (symlinks followed). PermissionDenied
// when it escapes the root or root is empty; NotFound when it does not exist.
Result<std::string> ConfinePath(const std::string& root, const std::string& relative);

}  // namespace ctdb::server
