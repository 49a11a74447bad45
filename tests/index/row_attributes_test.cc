#include <doctest/doctest.h>

#include "index/row_attributes.h"

namespace ctdb::index {
namespace {

StudyRecord Rec(Sex sex, int age, int date, const std::string& maker, std::vector<std::string> labels) {
  StudyRecord r;
  r.key = "k";
  r.sex = sex;
  r.age_years = age;
  r.study_date = date;
  r.manufacturer = maker;
  r.labels = std::move(labels);
  return r;
}

std::vector<size_t> Rows(const Bitmap& b) {
  std::vector<size_t> out;
  for (size_t i = 0; i < b.size(); ++i) {
    if (b.Test(i)) out.push_back(i);
  }
  return out;
}

TEST_CASE("filters select rows by sex, age, date, manufacturer and labels") {
  RowAttributes a;
  a.Set(0, Rec(Sex::kFemale, 45, 20200105, "SIEMENS", {"Pleural effusion"}));
  a.Set(1, Rec(Sex::kMale, 70, 20210610, "Philips", {"Cardiomegaly", "Pleural effusion"}));
  a.Set(2, Rec(Sex::kUnknown, -1, 0, "", {}));
  a.Set(4, Rec(Sex::kFemale, 60, 20221231, "siemens", {"cardiomegaly"}));

  Filter f;
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{0, 1, 2, 4});  // row 3 never set
  f.sex = Sex::kFemale;
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{0, 4});
  f = {};
  f.min_age_years = 50;
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{1, 4});  // unknown age never matches
  f.max_age_years = 65;
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{4});
  f = {};
  f.min_study_date = 20210101;
  f.max_study_date = 20211231;
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{1});
  f = {};
  f.manufacturer = "SIEMENS";
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{0, 4});  // case-insensitive
  f.manufacturer = "Toshiba";
  CHECK(Rows(a.Select(f)).empty());
  f = {};
  f.has_labels = {"Cardiomegaly"};
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{1, 4});
  f.has_labels = {"cardiomegaly", "PLEURAL EFFUSION"};
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{1});
  f.has_labels = {"Emphysema"};
  CHECK(Rows(a.Select(f)).empty());
}

TEST_CASE("erase and overwrite update the attributes") {
  RowAttributes a;
  a.Set(0, Rec(Sex::kFemale, 45, 20200105, "GE", {"Emphysema"}));
  a.Set(1, Rec(Sex::kFemale, 45, 20200105, "GE", {"Emphysema"}));
  a.Erase(0);
  Filter f;
  f.has_labels = {"Emphysema"};
  CHECK(Rows(a.Select(f)) == std::vector<size_t>{1});
  a.Set(1, Rec(Sex::kMale, 45, 20200105, "GE", {}));  // label removed on overwrite
  CHECK(Rows(a.Select(f)).empty());
}

}  // namespace
}  // namespace ctdb::index
