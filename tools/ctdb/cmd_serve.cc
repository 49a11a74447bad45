// ctdb serve: the REST server and web page, until SIGTERM or SIGINT, which
// drain requests in flight and snapshot the index before exiting.
#include <csignal>
#include <cstdio>
#include <pthread.h>

#include "ctdb/ctdb.h"
#include "ctdb/server.h"
#include "tools/ctdb/cli_common.h"
#include "tools/ctdb/commands.h"
#include "tools/ctdb/query_session.h"

namespace ctdb::cli {
namespace {

const char kHelp[] =
    "usage: ctdb serve --db PATH [--model DIR] [--host 127.0.0.1] [--port 8080]\n"
    "                  [--api-keys FILE] [--insecure] [--threads 8] [--torch-threads 1]\n"
    "                  [--max-body-mb 512] [--timeout 30] [--tls-cert PEM --tls-key PEM]\n"
    "                  [--files-root DIR] [--temp-dir DIR]\n"
    "Serves the REST API under /v1 (see /openapi.json), /healthz, /readyz, /metrics and a\n"
    "search page at /. --model (or $CTDB_MODEL) is needed for text queries and uploads.\n"
    "API keys: FILE lines '<key> read|write', and $CTDB_API_KEYS='key:scope,...'; keys are\n"
    ">= 16 characters. Without keys the server refuses to start unless --insecure, which\n"
    "binds loopback only. --files-root lets clients name server files by relative path.\n"
    "--torch-threads: LibTorch threads per text/volume encode (default 1: requests run in\n"
    "parallel instead; one short text is faster on one thread than on several).\n"
    "SIGTERM/SIGINT: stop accepting, finish requests in flight, snapshot the index, exit 0.\n";

}  // namespace

int CmdServe(int argc, char** argv) {
  Args args(argc, argv, 0, {"help", "insecure"});
  int exit;
  if (!Prepare(args, {"db", "model", "host", "port", "api-keys", "insecure", "threads", "torch-threads",
                      "max-body-mb", "timeout", "tls-cert", "tls-key", "files-root", "temp-dir", "help"},
               kHelp, &exit)) {
    return exit;
  }
  if (!args.Has("db")) return UsageError("--db PATH is required", kHelp);
  int64_t port, threads, torch_threads, body_mb, timeout;
  Status s = args.GetInt("port", 8080, 0, 65535, &port);
  if (s.ok()) s = args.GetInt("threads", 8, 1, 1024, &threads);
  if (s.ok()) s = args.GetInt("torch-threads", 1, 0, 1024, &torch_threads);
  if (s.ok()) s = args.GetInt("max-body-mb", 512, 1, 1 << 20, &body_mb);
  if (s.ok()) s = args.GetInt("timeout", 30, 1, 3600, &timeout);
  if (!s.ok()) return UsageError(s.message(), kHelp);

  // Signals go to the thread that waits for them, not to server threads.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  SessionOptions sso;
  sso.db = args.Get("db");
  sso.model_dir = ModelDirOf(args);
  sso.model_threads = static_cast<int>(torch_threads);
  auto session = OpenSession(sso);
  if (!session.ok()) return Fail(session.status());
  const auto& db = session->db;
  const auto& model = session->model;
  ServerOptions so;
  so.host = args.Get("host", "127.0.0.1");
  so.port = static_cast<int>(port);
  so.api_keys_file = args.Get("api-keys");
  so.insecure = args.Has("insecure");
  so.threads = static_cast<int>(threads);
  so.max_body_bytes = static_cast<size_t>(body_mb) << 20;
  so.read_timeout_s = so.write_timeout_s = static_cast<int>(timeout);
  so.tls_cert_file = args.Get("tls-cert");
  so.tls_key_file = args.Get("tls-key");
  so.files_root = args.Get("files-root");
  so.temp_dir = args.Get("temp-dir");
  auto server = Server::Create(db.get(), model, session->engine.get(), so);
  if (!server.ok()) return Fail(server.status());
  s = (*server)->Start();
  if (!s.ok()) return Fail(s);
  std::printf("ctdb serving %llu studies on %s://%s:%d/ (model %s)%s\n", (unsigned long long)db->Count(),
              so.tls_cert_file.empty() ? "http" : "https", so.host.c_str(), (*server)->port(),
              model ? model->id().c_str() : "none: no text queries or uploads",
              so.insecure ? " [insecure: no API keys]" : "");
  std::fflush(stdout);
  int sig = 0;
  sigwait(&sigs, &sig);
  std::fprintf(stderr, "ctdb serve: %s: draining requests\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  (*server)->Stop();
  s = db->SnapshotIndex();
  if (!s.ok()) return Fail(s);
  std::fprintf(stderr, "ctdb serve: index snapshot written; bye\n");
  return 0;
}

}  // namespace ctdb::cli
