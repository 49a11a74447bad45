#include "ctdb/status.h"

#include "ctdb/study.h"

namespace ctdb {

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kNotFound: return "not_found";
    case Code::kInvalidArgument: return "invalid_argument";
    case Code::kCorruption: return "corruption";
    case Code::kIOError: return "io_error";
    case Code::kNotSupported: return "not_supported";
    case Code::kAlreadyExists: return "already_exists";
    case Code::kFailedPrecondition: return "failed_precondition";
    case Code::kInternal: return "internal";
    case Code::kPermissionDenied: return "permission_denied";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kUnavailable: return "unavailable";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  static const char* const kTitles[] = {"OK",           "NotFound",      "InvalidArgument",
                                        "Corruption",   "IOError",       "NotSupported",
                                        "AlreadyExists", "FailedPrecondition", "Internal",
                                        "PermissionDenied", "Unauthenticated", "Unavailable"};
  int c = static_cast<int>(code_);
  std::string title = (c >= 0 && c < 12) ? kTitles[c] : "Unknown";
  return title + ": " + message_;
}

Status Status::WithContext(std::string_view prefix) const {
  if (ok()) return *this;
  std::string msg(prefix);
  msg += ": ";
  msg += message_;
  return Status(code_, msg);
}

const char* VectorKindName(VectorKind kind) {
  switch (kind) {
    case VectorKind::kImage: return "image";
    case VectorKind::kReport: return "report";
  }
  return "unknown";
}

const char* ExistenceName(Existence e) {
  switch (e) {
    case Existence::kPresent: return "present";
    case Existence::kAbsent: return "absent";
    case Existence::kUncertain: return "uncertain";
  }
  return "unknown";
}

}  // namespace ctdb
