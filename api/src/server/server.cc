#include <chrono>
#include <cstdio>

#include "api/src/server/json_codec.h"
#include "api/src/server/server_impl.h"

namespace ctdb {
namespace server {
namespace {

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace

int HttpStatusFor(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk: return 200;
    case Status::Code::kNotFound: return 404;
    case Status::Code::kInvalidArgument: return 400;
    case Status::Code::kAlreadyExists: return 409;
    case Status::Code::kFailedPrecondition: return 409;
    case Status::Code::kNotSupported: return 501;
    case Status::Code::kPermissionDenied: return 403;
    case Status::Code::kUnauthenticated: return 401;
    case Status::Code::kUnavailable: return 503;
    default: return 500;
  }
}

std::string ErrorBody(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void ServerImpl::Route(const std::string& method, const std::string& pattern, const std::string& name, Scope need,
                       Handler handler) {
  auto wrapped = [this, method, name, need, handler](const httplib::Request& req, httplib::Response& res) {
    const auto t0 = std::chrono::steady_clock::now();
    Reply reply;
    Status s;
    if (need != Scope::kNone && !options_.insecure) {
      const Scope have = keys_.Check(req.get_header_value("Authorization"));
      if (have == Scope::kNone) {
        res.set_header("WWW-Authenticate", "Bearer");
        s = Status::Unauthenticated("missing or unknown API key (send Authorization: Bearer <key>)");
      } else if (need == Scope::kWrite && have != Scope::kWrite) {
        s = Status::PermissionDenied("this API key has read scope; " + method + " " + name + " needs write");
      }
    }
    if (s.ok() && draining_ && name != "/healthz") s = Status::Unavailable("server is shutting down");
    if (s.ok()) {
      try {
        s = handler(req, &reply);
      } catch (const json::exception& e) {
        s = Status::InvalidArgument(std::string("malformed JSON: ") + e.what());
      } catch (const std::exception& e) {
        s = Status::Internal(e.what());
      }
    }
    if (s.ok()) {
      res.status = reply.status;
      res.set_content(reply.body, reply.content_type.c_str());
    } else {
      res.status = HttpStatusFor(s);
      res.set_content(ErrorBody(Status::CodeName(s.code()), s.message()), "application/json");
    }
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    metrics_.Observe(method, name, res.status, sec);
  };
  if (method == "GET") http_->Get(pattern, wrapped);
  else if (method == "POST") http_->Post(pattern, wrapped);
  else if (method == "PUT") http_->Put(pattern, wrapped);
  else if (method == "DELETE") http_->Delete(pattern, wrapped);
}

void ServerImpl::AddInfrastructureRoutes() {
  Route("GET", "/healthz", "/healthz", Scope::kNone, [](const httplib::Request&, Reply* r) {
    r->body = R"({"status":"ok"})";
    return Status::Ok();
  });
  Route("GET", "/readyz", "/readyz", Scope::kNone, [this](const httplib::Request&, Reply* r) {
    CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db_->Stats());
    r->body = json{{"status", "ready"}, {"studies", st.studies}, {"model", model_ ? model_->id() : ""}}.dump();
    return Status::Ok();
  });
  Route("GET", "/metrics", "/metrics", Scope::kRead, [this](const httplib::Request&, Reply* r) {
    CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db_->Stats());
    r->body = metrics_.Render(st);
    r->content_type = "text/plain; version=0.0.4";
    return Status::Ok();
  });
  Route("GET", "/openapi.json", "/openapi.json", Scope::kNone, [](const httplib::Request&, Reply* r) {
    r->body = OpenApiDocument();
    return Status::Ok();
  });
  Route("GET", "/", "/", Scope::kNone, [](const httplib::Request&, Reply* r) {
    r->body = WebPage();
    r->content_type = "text/html; charset=utf-8";
    return Status::Ok();
  });
  Route("GET", "/v1/stats", "/v1/stats", Scope::kRead, [this](const httplib::Request&, Reply* r) {
    CTDB_ASSIGN_OR_RETURN(DatabaseStats st, db_->Stats());
    r->body = StatsJson(st);
    return Status::Ok();
  });
}

Status ServerImpl::Start() {
  if (http_) return Status::FailedPrecondition("server already started");
  const bool tls = !options_.tls_cert_file.empty();
  if (tls) {
    auto ssl = std::make_unique<httplib::SSLServer>(options_.tls_cert_file.c_str(), options_.tls_key_file.c_str());
    if (!ssl->is_valid()) {
      return Status::IOError("cannot load TLS certificate " + options_.tls_cert_file + " / key " +
                             options_.tls_key_file);
    }
    http_ = std::move(ssl);
  } else {
    http_ = std::make_unique<httplib::Server>();
  }
  const int threads = options_.threads;
  http_->new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  http_->set_payload_max_length(options_.max_body_bytes);
  // Without TCP_NODELAY a keep-alive client waits out Nagle + delayed ACK:
  // every response took >= 40 ms on loopback.
  http_->set_tcp_nodelay(true);
  http_->set_read_timeout(options_.read_timeout_s, 0);
  http_->set_write_timeout(options_.write_timeout_s, 0);
  // Errors httplib raises itself (unknown route, body too large) get the
  // same JSON shape as ours.
  http_->set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const char* code = res.status == 404 ? "not_found" : res.status == 413 ? "payload_too_large" : "bad_request";
    const std::string msg = res.status == 404   ? "no route " + req.method + " " + req.path + " (see /openapi.json)"
                            : res.status == 413 ? "request body larger than " + std::to_string(options_.max_body_bytes) +
                                                      " bytes"
                                                : "request rejected (HTTP " + std::to_string(res.status) + ")";
    res.set_content(ErrorBody(code, msg), "application/json");
    metrics_.Observe(req.method, "(unmatched)", res.status, 0);
  });
  AddInfrastructureRoutes();
  AddQueryRoutes();
  AddStudyRoutes();
  if (options_.port == 0) {
    port_ = http_->bind_to_any_port(options_.host);
    if (port_ < 0) return Status::IOError("cannot bind " + options_.host);
  } else {
    if (!http_->bind_to_port(options_.host, options_.port)) {
      return Status::IOError("cannot bind " + options_.host + ":" + std::to_string(options_.port) +
                             " (in use, or not permitted)");
    }
    port_ = options_.port;
  }
  thread_ = std::thread([this] { http_->listen_after_bind(); });
  return Status::Ok();
}

void ServerImpl::Stop() {
  if (stopped_.exchange(true)) return;
  draining_ = true;
  // httplib's stop() closes the listening socket; its thread pool then
  // finishes the requests it holds before listen_after_bind returns.
  if (http_) http_->stop();
  if (thread_.joinable()) thread_.join();
}

void ServerImpl::Wait() {
  if (thread_.joinable()) thread_.join();
}

}  // namespace server

Result<std::unique_ptr<Server>> Server::Create(Database* db, std::shared_ptr<Model> model, QueryEngine* engine,
                                               const ServerOptions& o) {
  if (db == nullptr || engine == nullptr) return Status::InvalidArgument("server needs a database and a query engine");
  if (o.port < 0 || o.port > 65535) return Status::InvalidArgument("port must be in [0, 65535]");
  if (o.threads < 1 || o.threads > 1024) return Status::InvalidArgument("threads must be in [1, 1024]");
  if (o.max_body_bytes < 1024) return Status::InvalidArgument("max body size must be >= 1024 bytes");
  if (o.read_timeout_s < 1 || o.write_timeout_s < 1) return Status::InvalidArgument("timeouts must be >= 1 s");
  if (o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    return Status::InvalidArgument("TLS needs both a certificate and a key file");
  }
  CTDB_ASSIGN_OR_RETURN(server::ApiKeys keys, server::ApiKeys::Load(o.api_keys_file, o.api_keys_env));
  if (o.insecure && !server::IsLoopback(o.host)) {
    return Status::InvalidArgument("--insecure (no API keys) binds loopback only, not " + o.host);
  }
  if (!o.insecure && keys.size() == 0) {
    return Status::InvalidArgument("no API keys: give a key file or $" + o.api_keys_env +
                                   ", or --insecure for a loopback-only server without keys");
  }
  return std::unique_ptr<Server>(new server::ServerImpl(db, std::move(model), engine, o, std::move(keys)));
}

}  // namespace ctdb
