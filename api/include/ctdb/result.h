// Result<T>: a value or the Status explaining why there is none.
//
// Thread contract: a value type, like Status.
#pragma once

#include <cassert>
#include <optional>
#include <utility>

#include "ctdb/status.h"

namespace ctdb {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit from a value or from a non-OK Status, so functions can
  // `return value;` or `return Status::NotFound(...)`.
  Result(T value) : value_(std::move(value)) {}  // NOLINT
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK status has no value");
    if (status_.ok()) status_ = Status::Internal("Result built from OK status without a value");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }

  // Precondition: ok(). On a temporary Result these return the value itself
  // (moved out), so `for (auto& x : *db->Search(...))` does not dangle.
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T operator*() && { return std::move(*this).value(); }

 private:
  Status status_;  // OK when value_ is set
  std::optional<T> value_;
};

}  // namespace ctdb

// Assigns the value of a Result expression to `lhs`, or returns its Status.
#define CTDB_CONCAT_INNER(a, b) a##b
#define CTDB_CONCAT(a, b) CTDB_CONCAT_INNER(a, b)
#define CTDB_ASSIGN_OR_RETURN(lhs, expr) \
  CTDB_ASSIGN_OR_RETURN_IMPL(CTDB_CONCAT(_ctdb_res_, __LINE__), lhs, expr)
#define CTDB_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()
