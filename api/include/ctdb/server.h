// ctdb::Server: the REST API (JSON under /v1), Prometheus metrics, OpenAPI
// document and search web page over a Database, its QueryEngine and Model.
//
//   ctdb::ServerOptions so;  so.port = 8080;  so.api_keys_file = "/etc/ctdb/keys";
//   auto server = ctdb::Server::Create(db.get(), model, engine.get(), so);
//   (*server)->Start();   ...   (*server)->Stop();   // drains requests in flight
//
// Thread contract: Start/Stop/Wait from one controlling thread; requests
// are served on the server's own thread pool. Database, QueryEngine and
// Model must outlive the Server.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "ctdb/database.h"
#include "ctdb/model.h"
#include "ctdb/query.h"

namespace ctdb {

struct ServerOptions {
  // Address to bind. Default: "127.0.0.1" (loopback).
  std::string host = "127.0.0.1";
  // TCP port; 0 picks a free one (see Server::port()). Default: 8080.
  int port = 8080;
  // API keys, one per line: "<key> read|write" ('#' starts a comment);
  // write implies read. Keys must be >= 16 characters. Default: none.
  std::string api_keys_file;
  // Environment variable holding more keys as "key:scope,key:scope".
  // Default: "CTDB_API_KEYS".
  std::string api_keys_env = "CTDB_API_KEYS";
  // Serve without keys. Only allowed with a loopback host; every request
  // then has write scope. Default: false (no keys = refuse to start).
  bool insecure = false;
  // Largest request body accepted (uploads included); larger gets 413.
  // Default: 512 MiB.
  size_t max_body_bytes = size_t{512} << 20;
  // Worker threads serving requests. Default: 8.
  int threads = 8;
  // Socket read / write timeouts in seconds. Default: 30 / 30.
  int read_timeout_s = 30;
  int write_timeout_s = 30;
  // TLS: both set = HTTPS with this PEM certificate and private key.
  // Default: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Directory whose files clients may name by relative path ({"path": ...}
  // in search and ingest requests); paths escaping it are refused. Empty =
  // clients can only upload. Default: "".
  std::string files_root;
  // Scratch space for uploads (removed after each request). Default: the
  // system temp directory.
  std::string temp_dir;
};

class Server {
 public:
  // Validates the options and reads the API keys. InvalidArgument for bad
  // options (no keys without insecure, insecure on a non-loopback host, one
  // TLS file without the other, short keys); NotFound for a missing key file.
  static Result<std::unique_ptr<Server>> Create(Database* db, std::shared_ptr<Model> model, QueryEngine* engine,
                                                const ServerOptions& options);
  virtual ~Server() = default;

  // Binds and starts serving on a background thread. IOError when the port
  // cannot be bound or TLS files do not load.
  virtual Status Start() = 0;
  // The bound port (after Start).
  virtual int port() const = 0;
  // Stops accepting, finishes requests in flight (/readyz turns 503 first),
  // then returns. Idempotent.
  virtual void Stop() = 0;
  // Blocks until the server has stopped.
  virtual void Wait() = 0;
};

}  // namespace ctdb
