// Internals of ctdb::Server shared by server.cc (lifecycle, auth, errors,
// infrastructure endpoints) and routes.cc (the /v1 API).
#pragma once

#include <httplib.h>

#include <atomic>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "api/src/server/auth.h"
#include "api/src/server/metrics.h"
#include "api/src/server/upload.h"
#include "ctdb/server.h"

namespace ctdb::server {

using json = nlohmann::json;

// What a handler answers when it succeeds.
struct Reply {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

using Handler = std::function<Status(const httplib::Request&, Reply*)>;

class ServerImpl final : public Server {
 public:
  ServerImpl(Database* db, std::shared_ptr<Model> model, QueryEngine* engine, ServerOptions options, ApiKeys keys)
      : db_(db), model_(std::move(model)), engine_(engine), options_(std::move(options)), keys_(std::move(keys)) {}
  ~ServerImpl() override { Stop(); }

  Status Start() override;
  int port() const override { return port_; }
  void Stop() override;
  void Wait() override;

 private:
  // Registers a route: checks scope, times it, turns a failed Status or a
  // malformed body into a JSON error, counts it in the metrics.
  void Route(const std::string& method, const std::string& pattern, const std::string& name, Scope need,
             Handler handler);
  void AddInfrastructureRoutes();  // server.cc
  void AddQueryRoutes();           // routes.cc
  void AddStudyRoutes();           // routes.cc
  // An uploaded volume written into `dir`: a NIfTI or DICOM file, or a zip
  // unpacked into a series folder. Returns the path to read.
  Result<std::string> SaveUpload(const httplib::MultipartFormData& file, const ScratchDir& dir) const;

  Database* const db_;
  const std::shared_ptr<Model> model_;
  QueryEngine* const engine_;
  const ServerOptions options_;
  const ApiKeys keys_;
  Metrics metrics_;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::atomic<bool> draining_{false};
  std::atomic<bool> stopped_{false};
  int port_ = 0;
};

// Request helpers (routes.cc).
Result<json> ParseJsonBody(const httplib::Request& req);
Status JsonError(const std::string& field, const std::string& want);
// HTTP status for a Status code.
int HttpStatusFor(const Status& s);
std::string ErrorBody(const std::string& code, const std::string& message);

// Static documents (openapi.cc, web_page.cc).
const std::string& OpenApiDocument();
const std::string& WebPage();

}  // namespace ctdb::server
