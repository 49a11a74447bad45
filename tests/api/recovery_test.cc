// Failure paths: corrupt snapshots, corrupt records, a writer killed with
// SIGKILL in the middle of a stream of writes.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

#include "ctdb/ctdb.h"
#include "db/coding.h"
#include "db/store.h"
#include "tests/test_util.h"

namespace ctdb {
namespace {

constexpr size_t kDim = 16;

Options Opts(const std::string& path) {
  Options o;
  o.path = path;
  o.create_if_missing = true;
  o.dimension = kDim;
  o.sync_writes = false;
  return o;
}

std::vector<std::string> TopKeys(Database& db, const float* q) {
  std::vector<std::string> keys;
  auto hits = db.Search(VectorKind::kImage, std::vector<float>(q, q + kDim), {});
  REQUIRE(hits.ok());
  for (const auto& h : *hits) keys.push_back(h.key);
  return keys;
}

// Every stored study is found first by its own vector, and the index holds
// exactly the stored studies.
void CheckIndexMatchesStore(Database& db) {
  ListOptions lo;
  lo.limit = 0;
  auto keys = db.ListKeys(lo);
  REQUIRE(keys.ok());
  CHECK(keys->size() == db.Count());
  auto stats = db.Stats();
  REQUIRE(stats.ok());
  CHECK(stats->image_index.live == db.Count());
  for (const auto& key : *keys) {
    auto study = db.Get(key);
    REQUIRE(study.ok());
    SearchOptions so;
    so.k = 1;
    so.exact = true;
    auto hits = db.Search(VectorKind::kImage, study->vectors.image, so);
    REQUIRE(hits.ok());
    REQUIRE(hits->size() == 1);
    CHECK((*hits)[0].key == key);
  }
}

TEST_CASE("a corrupt or missing index snapshot is rebuilt from the stored vectors") {
  test::TempDir dir;
  const auto v = test::RandomUnitVectors(300, kDim, 21);
  std::vector<std::string> expect;
  {
    auto db = Database::Open(Opts(dir.Sub("db")));
    REQUIRE(db.ok());
    for (size_t i = 0; i < 300; ++i) REQUIRE((*db)->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
    expect = TopKeys(**db, v.data());
  }
  const std::string snap = dir.Sub("db/index/image.snapshot");
  REQUIRE(std::filesystem::exists(snap));
  std::string bytes = test::ReadFileBytes(snap);
  bytes[bytes.size() / 3] ^= 0x40;
  test::WriteFileBytes(snap, bytes);
  {
    auto db = Database::Open(Opts(dir.Sub("db")));
    REQUIRE(db.ok());
    CHECK((*db)->Stats()->recovery.rebuilt);
    CHECK((*db)->Stats()->recovery.note.find("checksum") != std::string::npos);
    CHECK(TopKeys(**db, v.data()) == expect);
    CheckIndexMatchesStore(**db);
  }
  {
    auto db = Database::Open(Opts(dir.Sub("db")));  // clean reopen: snapshot used as is
    REQUIRE(db.ok());
    CHECK_FALSE((*db)->Stats()->recovery.rebuilt);
    CHECK((*db)->Stats()->recovery.replayed == 0);
  }
  std::filesystem::remove(snap);
  test::WriteFileBytes(dir.Sub("db/index/report.snapshot"), "garbage");
  auto db = Database::Open(Opts(dir.Sub("db")));
  REQUIRE(db.ok());
  CHECK(TopKeys(**db, v.data()) == expect);
  CheckIndexMatchesStore(**db);
}

TEST_CASE("corrupted record bytes give Corruption naming the row, never a crash") {
  test::TempDir dir;
  const auto v = test::RandomUnitVectors(3, kDim, 22);
  {
    auto db = Database::Open(Opts(dir.Sub("db")));
    REQUIRE(db.ok());
    for (size_t i = 0; i < 3; ++i) REQUIRE((*db)->Put(test::MakeStudy("s" + std::to_string(i), &v[i * kDim], kDim)).ok());
  }
  {
    db::StoreOptions so;
    so.path = dir.Sub("db");
    auto store = db::Store::Open(so);
    REQUIRE(store.ok());
    // Row 1's record: valid-looking start, garbage after.
    REQUIRE((*store)->RawPutForTesting("records", db::EncodeKeyU64(1), std::string("\x01\x05\x00\x00\x00zz", 7)).ok());
    // Row 2's image vector: truncated.
    REQUIRE((*store)->RawPutForTesting("vectors", std::string(1, '\0') + db::EncodeKeyU64(2), "\x01\x02").ok());
    auto rec = (*store)->GetRecord(1);
    REQUIRE_FALSE(rec.ok());
    CHECK(rec.status().IsCorruption());
    CHECK(rec.status().message().find("row 1") != std::string::npos);
    auto vec = (*store)->GetStudy(2);
    CHECK(vec.status().IsCorruption());
  }
  // Opening must not crash: the bad bytes surface as Corruption.
  auto db = Database::Open(Opts(dir.Sub("db")));
  REQUIRE_FALSE(db.ok());
  CHECK(db.status().IsCorruption());
}

// Reads the acknowledged writes a child printed before it was killed.
struct Acks {
  std::set<std::string> live;     // acknowledged put, not later deleted
  std::set<std::string> deleted;  // acknowledged delete
  size_t lines = 0;
};

Acks RunAndKill(const std::string& path, uint64_t seed, size_t kill_after_lines) {
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    const std::string dim = std::to_string(kDim), s = std::to_string(seed);
    execl(CTDB_CRASH_WRITER, CTDB_CRASH_WRITER, path.c_str(), dim.c_str(), s.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  FILE* in = fdopen(fds[0], "r");
  Acks acks;
  char line[256];
  while (acks.lines < kill_after_lines && std::fgets(line, sizeof(line), in)) {
    std::string l(line);
    if (!l.empty() && l.back() == '\n') l.pop_back();
    if (l.rfind("put ", 0) == 0) {
      acks.live.insert(l.substr(4));
      acks.deleted.erase(l.substr(4));
    } else if (l.rfind("del ", 0) == 0) {
      acks.live.erase(l.substr(4));
      acks.deleted.insert(l.substr(4));
    }
    ++acks.lines;
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  std::fclose(in);
  CHECK(WIFSIGNALED(status));
  REQUIRE(acks.lines == kill_after_lines);  // the child really wrote that much
  return acks;
}

TEST_CASE("SIGKILL mid-stream loses no acknowledged write and index == store after reopen") {
  test::TempDir dir;
  const std::string path = dir.Sub("db");
  Acks total;
  // Several kills at different points, each resuming the same database.
  const size_t kill_points[] = {150, 401, 77};
  uint64_t seed = 1;
  uint64_t replayed_total = 0;
  for (size_t kill_after : kill_points) {
    CAPTURE(kill_after);
    // Each run restarts keys at k0, replacing earlier studies with the same key.
    Acks a = RunAndKill(path, seed++, kill_after);
    Options o;
    o.path = path;
    auto db = Database::Open(o);
    REQUIRE_MESSAGE(db.ok(), db.status().ToString());
    for (const auto& key : a.live) {
      auto rec = (*db)->GetRecord(key);
      CHECK_MESSAGE(rec.ok(), "acknowledged put lost: " << key);
    }
    for (const auto& key : a.deleted) {
      // A delete can be undone only by a later put of the same key in this run.
      if (!a.live.count(key)) CHECK_MESSAGE((*db)->GetRecord(key).status().IsNotFound(), "deleted key back: " << key);
    }
    CheckIndexMatchesStore(**db);
    auto stats = (*db)->Stats();
    REQUIRE(stats.ok());
    // Snapshots land every 37 writes, so the kill leaves an oplog tail that
    // recovery replays on top of the last snapshot instead of rebuilding.
    CHECK_MESSAGE(!stats->recovery.rebuilt, stats->recovery.note);
    replayed_total += stats->recovery.replayed;
  }
  CHECK(replayed_total > 0);
}

}  // namespace
}  // namespace ctdb
