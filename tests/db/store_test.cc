#include <doctest/doctest.h>

#include "db/coding.h"
#include "db/store.h"
#include "tests/test_util.h"

namespace ctdb::db {
namespace {

constexpr size_t kDim = 8;

Result<std::unique_ptr<Store>> OpenStore(const std::string& path, bool create, size_t dim = kDim) {
  StoreOptions o;
  o.path = path;
  o.create_if_missing = create;
  o.dimension = dim;
  o.sync_writes = false;
  return Store::Open(o);
}

Study SimpleStudy(const std::string& key, float seed) {
  Study s;
  s.record.key = key;
  s.vectors.image.assign(kDim, seed);
  return s;
}

TEST_CASE("store open: missing, create, exists, dimension checks") {
  test::TempDir dir;
  const std::string path = dir.Sub("db");
  CHECK(OpenStore(path, false).status().IsNotFound());
  CHECK(OpenStore(path, true, 0).status().IsInvalidArgument());
  REQUIRE(OpenStore(path, true).ok());
  auto reopened = OpenStore(path, false, 0);
  REQUIRE(reopened.ok());
  CHECK((*reopened)->dimension() == kDim);
  reopened.value().reset();  // release the directory lock
  reopened = OpenStore(path, false, kDim + 1);
  REQUIRE_FALSE(reopened.ok());
  CHECK(reopened.status().IsInvalidArgument());
  CHECK(reopened.status().message().find("does not match") != std::string::npos);
  StoreOptions o;
  o.path = path;
  o.error_if_exists = true;
  CHECK(Store::Open(o).status().code() == Status::Code::kAlreadyExists);
}

TEST_CASE("store refuses a second opener of the same directory") {
  test::TempDir dir;
  auto first = OpenStore(dir.Sub("db"), true);
  REQUIRE(first.ok());
  auto second = OpenStore(dir.Sub("db"), false);
  REQUIRE_FALSE(second.ok());
  CHECK(second.status().IsIOError());
}

TEST_CASE("store refuses an unknown on-disk format version") {
  test::TempDir dir;
  {
    auto s = OpenStore(dir.Sub("db"), true);
    REQUIRE(s.ok());
    REQUIRE((*s)->PutMeta("format_version", EncodeKeyU64(99)).ok());
  }
  auto s = OpenStore(dir.Sub("db"), false);
  REQUIRE_FALSE(s.ok());
  CHECK(s.status().code() == Status::Code::kFailedPrecondition);
  CHECK(s.status().message().find("format version 99") != std::string::npos);
}

TEST_CASE("store put assigns increasing rows -- replace moves the key to a new row") {
  test::TempDir dir;
  auto st = OpenStore(dir.Sub("db"), true);
  REQUIRE(st.ok());
  Store& s = **st;  // NOLINT
  auto a = s.PutStudy(SimpleStudy("a", 1));
  auto b = s.PutStudy(SimpleStudy("b", 2));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->row == 0);
  CHECK(b->row == 1);
  CHECK_FALSE(a->replaced);
  auto a2 = s.PutStudy(SimpleStudy("a", 3));
  REQUIRE(a2.ok());
  CHECK(a2->row == 2);
  REQUIRE(a2->replaced);
  CHECK(*a2->replaced == 0);
  CHECK(s.study_count() == 2);
  CHECK(s.GetRecord(0).status().IsNotFound());
  CHECK(s.GetVector(0, VectorKind::kImage).status().IsNotFound());
  CHECK(*s.LookupRow("a") == 2);
  CHECK((*s.GetVector(2, VectorKind::kImage))[0] == 3.f);
  // Oplog: put a, put b, delete a(row 0), put a(row 2).
  std::vector<std::pair<OplogOp, uint64_t>> ops;
  REQUIRE(s.ForEachOplog(0, [&](uint64_t, const OplogEntry& e) {
              ops.emplace_back(e.op, e.row);
              return Status::Ok();
            }).ok());
  REQUIRE(ops.size() == 4);
  CHECK(ops[2] == std::pair{OplogOp::kDelete, uint64_t{0}});
  CHECK(ops[3] == std::pair{OplogOp::kPut, uint64_t{2}});
  CHECK(s.last_sequence() == 4);
  REQUIRE(s.TrimOplog(3).ok());
  CHECK(*s.FirstOplogSequence() == 4);
}

TEST_CASE("store delete removes every trace and counters survive reopen") {
  test::TempDir dir;
  {
    auto st = OpenStore(dir.Sub("db"), true);
    REQUIRE(st.ok());
    REQUIRE((*st)->PutStudy(SimpleStudy("a", 1)).ok());
    REQUIRE((*st)->PutStudy(SimpleStudy("b", 1)).ok());
    auto del = (*st)->DeleteStudy("a");
    REQUIRE(del.ok());
    CHECK(del->row == 0);
    CHECK((*st)->DeleteStudy("a").status().IsNotFound());
  }
  auto st = OpenStore(dir.Sub("db"), false);
  REQUIRE(st.ok());
  CHECK((*st)->study_count() == 1);
  CHECK((*st)->next_row() == 2);
  CHECK((*st)->last_sequence() == 3);
  CHECK((*st)->LookupRow("a").status().IsNotFound());
  int n = 0;
  REQUIRE((*st)->ForEachVector(VectorKind::kImage, [&](uint64_t row, const std::vector<float>&) {
                CHECK(row == 1);
                ++n;
                return Status::Ok();
              }).ok());
  CHECK(n == 1);
}

TEST_CASE("store lists keys in order with prefix, paging and limit") {
  test::TempDir dir;
  auto st = OpenStore(dir.Sub("db"), true);
  REQUIRE(st.ok());
  for (const char* k : {"valid_2", "train_3", "train_1", "train_2", "valid_1"}) {
    REQUIRE((*st)->PutStudy(SimpleStudy(k, 1)).ok());
  }
  ListOptions lo;
  lo.limit = 0;
  CHECK(*(*st)->ListKeys(lo) == std::vector<std::string>{"train_1", "train_2", "train_3", "valid_1", "valid_2"});
  lo.prefix = "train";
  lo.limit = 2;
  CHECK(*(*st)->ListKeys(lo) == std::vector<std::string>{"train_1", "train_2"});
  lo.start_after = "train_2";
  CHECK(*(*st)->ListKeys(lo) == std::vector<std::string>{"train_3"});
}

}  // namespace
}  // namespace ctdb::db
