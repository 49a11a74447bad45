// Test helper: writes a stream of studies (and some deletes) to a database,
// printing "put KEY" / "del KEY" after each acknowledged write, until killed.
//   usage: ctdb_crash_writer PATH DIM SEED
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "ctdb/ctdb.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s PATH DIM SEED\n", argv[0]);
    return 2;
  }
  ctdb::Options o;
  o.path = argv[1];
  o.create_if_missing = true;
  o.dimension = static_cast<size_t>(std::atoi(argv[2]));
  o.snapshot_every_writes = 37;  // snapshots land mid-stream, so replay is exercised
  o.sync_writes = false;         // a process kill keeps the OS page cache
  o.index_factory = "HNSW16";
  auto db = ctdb::Database::Open(o);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  std::mt19937_64 rng(std::strtoull(argv[3], nullptr, 10));
  std::normal_distribution<float> g;
  for (uint64_t i = 0;; ++i) {
    ctdb::Study s;
    s.record.key = "k" + std::to_string(i);
    s.record.age_years = static_cast<int>(i % 90);
    s.vectors.image.resize(o.dimension);
    for (float& x : s.vectors.image) x = g(rng);
    ctdb::Status st = (*db)->Put(s);
    if (!st.ok()) {
      std::fprintf(stderr, "put: %s\n", st.ToString().c_str());
      return 1;
    }
    std::printf("put %s\n", s.record.key.c_str());
    if (i % 7 == 3) {
      const std::string victim = "k" + std::to_string(i - 2);
      st = (*db)->Delete(victim);
      if (!st.ok()) {
        std::fprintf(stderr, "delete: %s\n", st.ToString().c_str());
        return 1;
      }
      std::printf("del %s\n", victim.c_str());
    }
    std::fflush(stdout);
  }
}
