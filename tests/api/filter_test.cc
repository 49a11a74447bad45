#include <doctest/doctest.h>

#include "ctdb/filter.h"

namespace ctdb {
namespace {

TEST_CASE("ParseFilter reads every field") {
  auto f = ParseFilter(" sex=f , age=40-60, date=20200101-20201231, manufacturer=GE MEDICAL SYSTEMS,"
                       "label=Pleural effusion,label=Cardiomegaly,finding=Lung nodule");
  REQUIRE(f.ok());
  CHECK(*f->sex == Sex::kFemale);
  CHECK(*f->min_age_years == 40);
  CHECK(*f->max_age_years == 60);
  CHECK(*f->min_study_date == 20200101);
  CHECK(*f->max_study_date == 20201231);
  CHECK(*f->manufacturer == "GE MEDICAL SYSTEMS");
  CHECK(f->has_labels == std::vector<std::string>{"Pleural effusion", "Cardiomegaly"});
  CHECK(f->report_findings == std::vector<std::string>{"Lung nodule"});
  auto open = ParseFilter("age=70-");
  REQUIRE(open.ok());
  CHECK(*open->min_age_years == 70);
  CHECK_FALSE(open->max_age_years);
  CHECK(ParseFilter("")->empty());
}

TEST_CASE("ParseFilter rejects bad terms with a message naming them") {
  for (const char* bad : {"sex=X", "age=abc", "age=60-40", "age=-", "colour=red", "sex", "date=2020-", "label="}) {
    CAPTURE(bad);
    auto f = ParseFilter(bad);
    REQUIRE_FALSE(f.ok());
    CHECK(f.status().IsInvalidArgument());
  }
  CHECK(ParseFilter("colour=red").status().message().find("colour") != std::string::npos);
}

}  // namespace
}  // namespace ctdb
