// lmul serve -m MODEL [--host 127.0.0.1] [--port 8080] [--arith POLICY] [--ctx N]
//            [--threads T] [--parallel P] [--queue Q] [--max-body BYTES] [--timeout S]
//            [--max-policies K] [--alias NAME]
// An OpenAI-compatible HTTP server (docs/serve.md): /v1/completions, /v1/chat/completions,
// /v1/models, /health. Logic in serve/ (lmul_serve); this file parses flags and starts it.
#include <cstdio>
#include <memory>
#include <string>

#include "engine/model/model.h"
#include "serve/http.h"
#include "serve/service.h"
#include "tools/lmul/command.h"

namespace {

struct ServeFlags {
  std::string model;
  std::string alias;
  lmul::serve::ServiceOptions service;
  lmul::serve::HttpOptions http;
};

int RunServe(ServeFlags f) {
  const char* sub = "serve";
  if (f.http.port < 0 || f.http.port > 65535) {
    return lmul::cli::PrintError(sub,
                                 "--port: expected 0..65535, got " + std::to_string(f.http.port));
  }
  if (f.http.timeout_s < 1 || f.http.timeout_s > 3600) {
    return lmul::cli::PrintError(sub, "--timeout: expected 1..3600 seconds");
  }
  auto model = lmul::engine::Model::Load(f.model);
  if (!model.ok()) {
    return lmul::cli::PrintError(sub, model.error(),
                                 "scripts/fetch_model.sh downloads the default model");
  }
  if (f.alias.empty()) {
    const size_t slash = f.model.find_last_of('/');
    f.alias = slash == std::string::npos ? f.model : f.model.substr(slash + 1);
  }
  f.service.model_id = f.alias;
  auto service = lmul::serve::Service::Create(**model, f.service);
  if (!service.ok()) {
    return lmul::cli::PrintError(sub, service.error(), "lmul serve --help lists the flags");
  }
  std::fprintf(stderr, "model: %s\n  %s\n", f.model.c_str(), (*model)->config().Summary().c_str());
  std::fprintf(stderr, "arith: %s; ctx %d; parallel %d; queue %d; threads %d\n",
               f.service.arith.c_str(), f.service.ctx, f.service.parallel, f.service.queue,
               f.service.threads);
  const lmul::Status st = lmul::serve::ServeHttp(**service, f.http, [&](int port) {
    std::fprintf(stderr, "listening on http://%s:%d\n", f.http.host.c_str(), port);
    std::fflush(stderr);
  });
  if (!st.ok()) return lmul::cli::PrintError(sub, st.error());
  std::fprintf(stderr, "serve: stopped\n");
  return 0;
}

lmul::cli::Registrar reg(
    "serve", "OpenAI-compatible HTTP server for a GGUF model under an arithmetic policy",
    [](CLI::App* app) {
      auto f = std::make_shared<ServeFlags>();
      app->add_option("-m,--model", f->model, "GGUF model file")->required();
      app->add_option("--host", f->http.host, "address to listen on")->capture_default_str();
      app->add_option("--port", f->http.port, "port (0: any free port, printed)")
          ->capture_default_str();
      app->add_option("--arith", f->service.arith,
                      "default policy: preset (fp32, lmul-attn, ...) or inline SITE=ARITH,...; "
                      "requests may name another with \"lmul_arith\"")
          ->capture_default_str();
      app->add_option("-c,--ctx", f->service.ctx, "tokens per request (prompt + max_tokens)")
          ->capture_default_str();
      app->add_option("-t,--threads", f->service.threads, "GEMM threads per request (0 = all)")
          ->capture_default_str();
      app->add_option("--parallel", f->service.parallel, "requests computed at once")
          ->capture_default_str();
      app->add_option("--queue", f->service.queue, "requests waiting beyond those (then 503)")
          ->capture_default_str();
      app->add_option("--max-body", f->service.max_body_bytes, "request body limit in bytes")
          ->capture_default_str();
      app->add_option("--timeout", f->http.timeout_s, "socket read/write timeout in seconds")
          ->capture_default_str();
      app->add_option("--max-policies", f->service.max_policies,
                      "distinct policies served (each packs the weights once)")
          ->capture_default_str();
      app->add_option("-a,--alias", f->alias, "model id in responses (default: the file name)");
      return [f] { return RunServe(*f); };
    });

}  // namespace
