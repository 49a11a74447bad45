// Metadata predicates applied to searches. All set fields must hold (AND).
//
// Thread contract: plain value type.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "ctdb/result.h"
#include "ctdb/study.h"

namespace ctdb {

struct Filter {
  std::optional<Sex> sex;            // exact match; unknown-sex studies never match
  std::optional<int> min_age_years;  // inclusive; unknown-age studies never match
  std::optional<int> max_age_years;  // inclusive
  std::optional<int> min_study_date; // YYYYMMDD, inclusive; unknown dates never match
  std::optional<int> max_study_date; // YYYYMMDD, inclusive
  std::optional<std::string> manufacturer;  // case-insensitive exact match
  std::vector<std::string> has_labels;      // every one must be a positive label
  // Every one must be stated as present in the report (parsed statements),
  // case-insensitive, e.g. "Pleural effusion". Negated mentions do not count.
  std::vector<std::string> report_findings;

  bool empty() const {
    return !sex && !min_age_years && !max_age_years && !min_study_date &&
           !max_study_date && !manufacturer && has_labels.empty() && report_findings.empty();
  }
};

// Parses the CLI/REST filter syntax: comma-separated terms
//   sex=F|M, age=40-60 (also age=40- or age=-60), date=20200101-20201231,
//   manufacturer=SIEMENS, label=Pleural effusion (repeatable),
//   finding=Lung nodule (stated present in the report; repeatable).
// "" parses to an empty filter. Bad terms -> InvalidArgument naming the term.
Result<Filter> ParseFilter(const std::string& text);

}  // namespace ctdb
