// Opens a database through the installed library, stores studies, searches.
// Exits 0 only if the nearest study to each vector is itself.
#include <cstdio>
#include <string>

#include <ctdb/ctdb.h>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer DBPATH\n");
    return 2;
  }
  ctdb::Options options;
  options.path = argv[1];
  options.create_if_missing = true;
  options.dimension = 4;
  auto db = ctdb::Database::Open(options);
  if (!db.ok()) {
    std::fprintf(stderr, "open: %s\n", db.status().ToString().c_str());
    return 1;
  }
  const float vecs[3][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0.6f, 0.8f, 0, 0}};
  for (int i = 0; i < 3; ++i) {
    ctdb::Study s;
    s.record.key = "study-" + std::to_string(i);
    s.vectors.image.assign(vecs[i], vecs[i] + 4);
    ctdb::Status st = (*db)->Put(s);
    if (!st.ok()) {
      std::fprintf(stderr, "put: %s\n", st.ToString().c_str());
      return 1;
    }
  }
  for (int i = 0; i < 3; ++i) {
    auto hits = (*db)->Search(ctdb::VectorKind::kImage, std::vector<float>(vecs[i], vecs[i] + 4), {});
    if (!hits.ok() || hits->empty() || (*hits)[0].key != "study-" + std::to_string(i)) {
      std::fprintf(stderr, "search %d returned the wrong study\n", i);
      return 1;
    }
    std::printf("query %d -> %s (score %.3f), %zu hits\n", i, (*hits)[0].key.c_str(), (*hits)[0].score, hits->size());
  }
  std::printf("consumer OK: ctdb %s, %llu studies\n", ctdb::kVersionString, (unsigned long long)(*db)->Count());
  return 0;
}
