// What every query-serving subcommand opens (search, classify, ..., serve,
// bench query): the model (--model, else $CTDB_MODEL), the database checked
// against it, and a QueryEngine over both.
#pragma once

#include <memory>
#include <string>

#include "ctdb/ctdb.h"
#include "tools/ctdb/cli_common.h"

namespace ctdb::cli {

struct Session {
  std::unique_ptr<Database> db;
  std::shared_ptr<Model> model;  // null when no model was given
  std::unique_ptr<QueryEngine> engine;
};

struct SessionOptions {
  std::string db;             // required
  std::string model_dir;      // "" = no model
  int model_threads = 0;      // LibTorch threads per encode (0 = all cores)
  int db_threads = 0;         // FAISS/OpenMP threads (0 = all cores)
  bool need_model = false;    // InvalidArgument when model_dir is ""
  QueryEngineOptions engine;  // the query engine's (defaults documented there)
};

// --model DIR, else $CTDB_MODEL, else "".
std::string ModelDirOf(const Args& args);

Result<Session> OpenSession(const SessionOptions& options);

}  // namespace ctdb::cli
