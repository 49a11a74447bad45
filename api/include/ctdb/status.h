// Status: the outcome of every public ctdb call. No exception crosses the
// public API; errors come back as a Status (or inside a Result<T>).
//
// Thread contract: a Status is a value type; distinct objects may be used from
// different threads without synchronization.
#pragma once

#include <string>
#include <string_view>
#include <utility>

namespace ctdb {

class [[nodiscard]] Status {
 public:
  // Values are part of the CLI exit-code contract (exit code = 10 + code);
  // never renumber them.
  enum class Code : int {
    kOk = 0,
    kNotFound = 1,
    kInvalidArgument = 2,   // bad input from the caller
    kCorruption = 3,        // bad bytes on disk
    kIOError = 4,           // the file system or RocksDB failed
    kNotSupported = 5,      // valid request this build cannot serve
    kAlreadyExists = 6,
    kFailedPrecondition = 7,  // e.g. database opened with another model
    kInternal = 8,          // a third-party library failed unexpectedly
    kPermissionDenied = 9,  // the caller may not do this (scope, path outside a root)
    kUnauthenticated = 10,  // no or unknown credentials
    kUnavailable = 11,      // shutting down, or not ready yet
  };

  Status() = default;  // OK

  static Status Ok() { return Status(); }
  static Status NotFound(std::string_view msg) { return {Code::kNotFound, msg}; }
  static Status InvalidArgument(std::string_view msg) { return {Code::kInvalidArgument, msg}; }
  static Status Corruption(std::string_view msg) { return {Code::kCorruption, msg}; }
  static Status IOError(std::string_view msg) { return {Code::kIOError, msg}; }
  static Status NotSupported(std::string_view msg) { return {Code::kNotSupported, msg}; }
  static Status AlreadyExists(std::string_view msg) { return {Code::kAlreadyExists, msg}; }
  static Status FailedPrecondition(std::string_view msg) { return {Code::kFailedPrecondition, msg}; }
  static Status Internal(std::string_view msg) { return {Code::kInternal, msg}; }
  static Status PermissionDenied(std::string_view msg) { return {Code::kPermissionDenied, msg}; }
  static Status Unauthenticated(std::string_view msg) { return {Code::kUnauthenticated, msg}; }
  static Status Unavailable(std::string_view msg) { return {Code::kUnavailable, msg}; }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: dimension must be > 0"; "OK" when ok().
  std::string ToString() const;
  // Stable lower-case name of a code, e.g. "invalid_argument" (used by REST).
  static const char* CodeName(Code code);

  // Returns a copy whose message is "<prefix>: <message>"; OK stays OK.
  Status WithContext(std::string_view prefix) const;

 private:
  Status(Code code, std::string_view msg) : code_(code), message_(msg) {}
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace ctdb

// Propagates a non-OK Status to the caller.
#define CTDB_RETURN_IF_ERROR(expr)           \
  do {                                       \
    ::ctdb::Status _ctdb_st = (expr);        \
    if (!_ctdb_st.ok()) return _ctdb_st;     \
  } while (0)
