#include <doctest/doctest.h>

#include "embed/csv.h"

namespace ctdb::embed {
namespace {

TEST_CASE("CSV: quoted commas, doubled quotes, newlines, CRLF, BOM, empty fields") {
  const std::string text =
      "\xEF\xBB\xBFVolumeName,Findings_EN,Impressions_EN\r\n"
      "train_1_a_1.nii.gz,\"Nodule, 6 mm, in the \"\"right\"\" upper lobe (series 2, image 143).\nNo effusion.\","
      "Nodule.\r\n"
      "train_2_a_1.nii.gz,,\"\"\n"
      "\n";
  auto t = CsvTable::Parse(text, "reports");
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  CHECK(t->header() == std::vector<std::string>{"VolumeName", "Findings_EN", "Impressions_EN"});
  REQUIRE(t->rows().size() == 2);
  CHECK(t->rows()[0][1] == "Nodule, 6 mm, in the \"right\" upper lobe (series 2, image 143).\nNo effusion.");
  CHECK(t->rows()[0][2] == "Nodule.");
  CHECK(t->rows()[1][1].empty());
  CHECK(t->rows()[1][2].empty());
  CHECK(t->Column("Impressions_EN") == 2);
  CHECK(t->Column("Nope") == -1);
}

TEST_CASE("CSV errors name the file and line") {
  auto open = ParseCsv("a,b\n1,\"never closed\n2,3\n", "x.csv");
  REQUIRE_FALSE(open.ok());
  CHECK(open.status().message().find("line 2") != std::string::npos);
  CHECK(open.status().message().find("x.csv") != std::string::npos);
  CHECK(ParseCsv("a,\"b\"c\n", "y.csv").status().IsInvalidArgument());
  auto ragged = CsvTable::Parse("a,b\n1,2,3\n", "z.csv");
  CHECK(ragged.status().IsInvalidArgument());
  CHECK(ragged.status().message().find("3 fields") != std::string::npos);
  CHECK(CsvTable::Parse("", "e.csv").status().IsInvalidArgument());
  CHECK(CsvTable::ReadFile("/nonexistent/file.csv").status().IsNotFound());
}

}  // namespace
}  // namespace ctdb::embed
