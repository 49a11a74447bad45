// Shared helpers of the ctdb CLI: argument parsing, exit codes, JSON output,
// progress bars.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ctdb/status.h"

namespace ctdb::cli {

// Exit codes: 0 success, 2 usage error, 10 + Status::Code for failures.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;
int ExitCodeFor(const Status& status);

// Prints "ctdb: <status>" to stderr and returns its exit code.
int Fail(const Status& status);
int UsageError(const std::string& message, const std::string& help);

// --name value, --name=value and bare --flag (a flag given a value is an
// error); everything else is positional.
class Args {
 public:
  // `flags` are the boolean options (take no value).
  Args(int argc, char** argv, int first, std::set<std::string> flags);
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  // InvalidArgument when the value is not an integer in [lo, hi].
  Status GetInt(const std::string& name, int64_t fallback, int64_t lo, int64_t hi, int64_t* out) const;
  // InvalidArgument when the value is not a number in [lo, hi].
  Status GetDouble(const std::string& name, double fallback, double lo, double hi, double* out) const;
  const std::vector<std::string>& positional() const { return positional_; }
  // InvalidArgument naming the first option not in `known`.
  Status CheckKnown(const std::set<std::string>& known) const;

 private:
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
  std::string error_;
};

// The common prelude of a subcommand: false with *exit set when the command
// is done already (a parse error or unknown option: usage, exit 2; --help:
// help, exit 0).
bool Prepare(const Args& args, const std::set<std::string>& known, const std::string& help, int* exit);

std::string JsonEscape(const std::string& s);

// "a,b,,c" -> {"a", "b", "", "c"}: every field, empty ones included (so a
// list option can refuse them); "" -> {""}.
std::vector<std::string> SplitOn(const std::string& text, char sep);

// A one-line progress bar on stderr with rate and ETA; silent when stderr
// is not a terminal, except for a final summary line.
class Progress {
 public:
  Progress(std::string label, uint64_t total);
  void SetTotal(uint64_t total) { total_ = total; }
  void Update(uint64_t done);
  void Finish();

 private:
  std::string label_;
  uint64_t total_;
  double start_;
  double last_print_ = 0;
  bool tty_;
};

double NowSeconds();

}  // namespace ctdb::cli
