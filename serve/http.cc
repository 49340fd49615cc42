#include "serve/http.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

namespace lmul::serve {
namespace {

constexpr const char* kJson = "application/json";

void Send(httplib::Response& res, const Reply& r) {
  res.status = r.status;
  res.set_content(r.body, kJson);
}

}  // namespace

Status ServeHttp(Service& service, const HttpOptions& options,
                 const std::function<void(int port)>& on_listening) {
  // Block the shutdown signals in this thread and every thread it starts; one thread waits.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  httplib::Server svr;
  const ServiceOptions& so = service.options();
  // Handler threads: every running and waiting request holds one, plus a few for requests
  // answered at once (health, errors, 503). Connections beyond them wait in the accept queue.
  const int n_threads = so.parallel + so.queue + 4;
  svr.new_task_queue = [n_threads] { return new httplib::ThreadPool(n_threads); };
  svr.set_payload_max_length(static_cast<size_t>(so.max_body_bytes));
  svr.set_read_timeout(options.timeout_s, 0);
  svr.set_write_timeout(options.timeout_s, 0);
  svr.set_keep_alive_timeout(5);
  svr.set_error_handler([&so](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e{res.status, "", "", "invalid_request_error"};
    if (res.status == 413) {
      e.message = "body: larger than " + std::to_string(so.max_body_bytes) + " bytes (--max-body)";
      e.param = "body";
    } else if (res.status == 404) {
      e.message = "no such endpoint";
    } else {
      e.message = "request refused (HTTP " + std::to_string(res.status) + ")";
    }
    res.set_content(Dump(ErrorJson(e)), kJson);
  });
  svr.set_exception_handler([](const httplib::Request&, httplib::Response& res,
                               std::exception_ptr) {
    res.status = 500;
    res.set_content(Dump(ErrorJson(ApiError{500, "internal error", "", "server_error"})), kJson);
  });

  svr.Get("/health",
          [&](const httplib::Request&, httplib::Response& res) { Send(res, service.Health()); });
  svr.Get("/v1/models",
          [&](const httplib::Request&, httplib::Response& res) { Send(res, service.Models()); });
  svr.Get("/tokenizer_info", [&](const httplib::Request&, httplib::Response& res) {
    Send(res, service.TokenizerInfo());
  });
  svr.Post("/tokenize", [&](const httplib::Request& req, httplib::Response& res) {
    Send(res, service.Tokenize(req.body));
  });
  svr.Post("/detokenize", [&](const httplib::Request& req, httplib::Response& res) {
    Send(res, service.Detokenize(req.body));
  });
  const auto post = [&](bool chat) {
    return [&service, chat](const httplib::Request& req, httplib::Response& res) {
      std::shared_ptr<Service::Job> job;
      const Reply r =
          chat ? service.ChatCompletions(req.body, &job) : service.Completions(req.body, &job);
      if (!r.stream) {
        Send(res, r);
        return;
      }
      res.status = 200;
      res.set_header("Cache-Control", "no-cache");
      res.set_chunked_content_provider(
          "text/event-stream", [&service, job](size_t, httplib::DataSink& sink) {
            service.RunStream(*job, [&sink](std::string_view chunk) {
              return sink.is_writable() && sink.write(chunk.data(), chunk.size());
            });
            sink.done();
            return true;
          });
    };
  };
  svr.Post("/v1/completions", post(false));
  svr.Post("/completions", post(false));
  svr.Post("/v1/chat/completions", post(true));
  svr.Post("/chat/completions", post(true));

  int port = options.port;
  if (port == 0) {
    port = svr.bind_to_any_port(options.host);
    if (port < 0) return MakeError("--host " + options.host + ": cannot bind");
  } else if (!svr.bind_to_port(options.host, port)) {
    return MakeError("--host " + options.host + " --port " + std::to_string(port) +
                     ": cannot bind (address in use or not local?)");
  }

  std::atomic<bool> by_signal{false};
  std::thread signal_thread([&svr, &service, &by_signal, sigs] {
    int sig = 0;
    sigwait(&sigs, &sig);
    if (!service.shutting_down()) {
      by_signal = true;
      std::fprintf(stderr, "serve: %s: shutting down\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    }
    service.Shutdown();  // waiting requests get 503, running ones stop at their next token
    svr.stop();
  });
  if (on_listening) on_listening(port);
  const bool ok = svr.listen_after_bind();
  if (!by_signal) {
    // The listener ended without a signal (an error): wake the signal thread.
    service.Shutdown();
    pthread_kill(signal_thread.native_handle(), SIGTERM);
  }
  signal_thread.join();
  if (!ok && !by_signal) return MakeError("--port " + std::to_string(port) + ": listen failed");
  return Status::Ok();
}

}  // namespace lmul::serve
