// The disease catalog and backups: the parts of Database beyond studies.
#include <cmath>
#include <filesystem>

#include "api/src/database_impl.h"

namespace ctdb {
namespace {

Status CheckPrototype(const std::vector<float>& v, size_t dimension, const std::string& what) {
  if (v.empty()) return Status::Ok();
  if (v.size() != dimension) {
    return Status::InvalidArgument(what + " has dimension " + std::to_string(v.size()) + ", database has " +
                                   std::to_string(dimension));
  }
  for (float x : v) {
    if (!std::isfinite(x)) return Status::InvalidArgument(what + " has a non-finite value");
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<DiseaseEntry>> DatabaseImpl::ListDiseases() const { return store_->ListDiseases(); }

Status DatabaseImpl::PutDisease(const DiseaseEntry& e) {
  if (e.name.empty() || e.name.size() > 200) return Status::InvalidArgument("a disease needs a name of 1-200 bytes");
  if (e.positive.empty()) return Status::InvalidArgument("disease " + e.name + " needs at least one positive phrase");
  for (const auto* list : {&e.positive, &e.negative}) {
    if (list->size() > 1000) return Status::InvalidArgument("disease " + e.name + " has more than 1000 phrases");
    for (const auto& t : *list) {
      if (t.empty() || t.size() > 2000) {
        return Status::InvalidArgument("disease " + e.name + " has an empty or over-long (> 2000 bytes) phrase");
      }
    }
  }
  const size_t d = store_->dimension();
  CTDB_RETURN_IF_ERROR(CheckPrototype(e.positive_prototype, d, e.name + " positive prototype"));
  CTDB_RETURN_IF_ERROR(CheckPrototype(e.negative_prototype, d, e.name + " negative prototype"));
  CTDB_RETURN_IF_ERROR(CheckPrototype(e.exemplar_positive, d, e.name + " positive exemplar"));
  CTDB_RETURN_IF_ERROR(CheckPrototype(e.exemplar_negative, d, e.name + " negative exemplar"));
  std::lock_guard<std::mutex> lock(write_mu_);
  return store_->PutDisease(e);
}

Status DatabaseImpl::DeleteDisease(std::string_view name) {
  std::lock_guard<std::mutex> lock(write_mu_);
  return store_->DeleteDisease(name);
}

Status DatabaseImpl::Backup(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (dir.empty()) return Status::InvalidArgument("backup needs a target directory");
  if (fs::exists(dir, ec)) return Status::AlreadyExists("backup target " + dir + " already exists");
  // Writers wait, so the checkpoint and the snapshots hold the same writes.
  std::lock_guard<std::mutex> lock(write_mu_);
  CTDB_RETURN_IF_ERROR(SnapshotLocked());
  CTDB_RETURN_IF_ERROR(store_->Checkpoint(dir));
  const fs::path from = fs::path(store_->path()) / "index", to = fs::path(dir) / "index";
  fs::create_directories(to, ec);
  if (!ec) fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
  if (ec) return Status::IOError("copying index snapshots to " + to.string() + ": " + ec.message());
  return Status::Ok();
}

Status Database::Restore(const std::string& backup_dir, const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (backup_dir.empty() || path.empty()) return Status::InvalidArgument("restore needs a backup and a target path");
  if (!fs::is_directory(backup_dir, ec) || !fs::exists(fs::path(backup_dir) / "CURRENT", ec)) {
    return Status::NotFound(backup_dir + " is not a ctdb backup (no RocksDB CURRENT file)");
  }
  if (fs::exists(path, ec)) return Status::AlreadyExists("restore target " + path + " already exists; choose a new path");
  // Copy beside the target, prove the copy opens, then move it into place:
  // a failed restore leaves nothing at `path` and the backup untouched.
  const std::string tmp = path + ".restoring";
  fs::remove_all(tmp, ec);
  fs::copy(backup_dir, tmp, fs::copy_options::recursive, ec);
  if (ec) return Status::IOError("copying " + backup_dir + " to " + tmp + ": " + ec.message());
  {
    Options o;
    o.path = tmp;
    auto db = Database::Open(o);
    if (!db.ok()) {
      fs::remove_all(tmp, ec);
      return Status::Corruption("backup " + backup_dir + " does not open: " + db.status().ToString());
    }
  }
  fs::rename(tmp, path, ec);
  if (ec) return Status::IOError("moving " + tmp + " to " + path + ": " + ec.message());
  return Status::Ok();
}

}  // namespace ctdb
