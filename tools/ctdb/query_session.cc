#include "tools/ctdb/query_session.h"

#include <cstdlib>

namespace ctdb::cli {

std::string ModelDirOf(const Args& args) {
  if (args.Has("model")) return args.Get("model");
  const char* env = std::getenv("CTDB_MODEL");
  return env ? env : "";
}

Result<Session> OpenSession(const SessionOptions& so) {
  if (so.db.empty()) return Status::InvalidArgument("--db PATH is required");
  if (so.need_model && so.model_dir.empty()) {
    return Status::InvalidArgument("this query encodes text or a volume: pass --model DIR (or set CTDB_MODEL)");
  }
  Session s;
  Options o;
  o.path = so.db;
  o.threads = so.db_threads;
  if (!so.model_dir.empty()) {
    ModelOptions mo;
    mo.threads = so.model_threads;
    CTDB_ASSIGN_OR_RETURN(std::unique_ptr<Model> m, Model::Open(so.model_dir, mo));
    s.model = std::move(m);
    o.model_id = s.model->id();  // a database built with another model is refused
  }
  CTDB_ASSIGN_OR_RETURN(s.db, Database::Open(o));
  CTDB_ASSIGN_OR_RETURN(s.engine, QueryEngine::Open(s.db.get(), s.model, so.engine));
  return s;
}

}  // namespace ctdb::cli
