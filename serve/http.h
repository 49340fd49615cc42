// HTTP binding of Service (cpp-httplib): routes, limits, timeouts, shutdown on a signal.
#ifndef LMUL_SERVE_HTTP_H_
#define LMUL_SERVE_HTTP_H_

#include <functional>
#include <string>

#include "base/result.h"
#include "serve/service.h"

namespace lmul::serve {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;     // 0: any free port (reported through on_listening)
  int timeout_s = 30;  // socket read and write timeouts (slow or vanished clients)
};

// Serves until SIGTERM or SIGINT (blocked in every thread; one thread waits for them),
// then stops accepting, tells the service to shut down (waiting and running requests get
// 503 or stop) and returns once the listener has closed. on_listening(port) is called once
// the socket is bound. Errors: bind/listen failures, naming --host/--port.
Status ServeHttp(Service& service, const HttpOptions& options,
                 const std::function<void(int port)>& on_listening);

}  // namespace lmul::serve

#endif  // LMUL_SERVE_HTTP_H_
