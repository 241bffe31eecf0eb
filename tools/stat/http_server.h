// tools/stat/http_server.h - the little HTTP/1.1 server behind
// `ppool-stat --listen`: GET of one path, answered and closed. It serves
// Prometheus, which scrapes with one GET a connection, so it keeps no
// connection alive and reads no request body.
// One thread, every client on poll(): a request must arrive whole within
// kRequestTimeoutS and kMaxRequest bytes (400 otherwise, or closed), and at
// kMaxClients a new connection pushes out the oldest, so a client that
// floods or holds its connection open costs the others nothing but its
// slot. A request's reply is made on this thread (reading the endpoints):
// one slow endpoint delays the other clients by up to ppool-stat's 5 s
// reply timeout.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "ppool/base.h"

namespace ppool::tools {

inline constexpr std::size_t kMaxRequest = 8 * 1024;  // request line and headers
inline constexpr int kRequestTimeoutS = 10;           // from accept to the close
inline constexpr std::size_t kMaxClients = 32;

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// The reply for a GET (or HEAD) of path; the query string is cut off.
using HttpHandler = std::function<HttpReply(std::string_view path)>;

// A listening TCP socket on "HOST:PORT" ("127.0.0.1:9464", "[::1]:9464",
// "localhost:0", ":9464" for every address), non-blocking.
// @return its fd, with *bound set to the address it has ("127.0.0.1:40123"
//   after port 0); kInvalidArgument for an address that does not parse or
//   resolve; the failed socket call's errors (support/errno_error.h).
Result<int> http_listen(const std::string& address, std::string* bound);

// Serves clients on listen_fd until SIGINT or SIGTERM (support/signals.h's
// handlers must be installed, the signals blocked: they are let in only
// while the server waits in ppoll, so none is lost between a check and the
// wait). Closes every client; listen_fd stays the caller's.
// @return the signal that stopped it.
int http_serve(int listen_fd, const HttpHandler& handler);

// The reply's bytes for one request's text (request line and headers, up
// to and including the blank line): a 400 for a malformed one, 405 for a
// method other than GET or HEAD, else the handler's. Split out to be
// tested without sockets.
[[nodiscard]] std::string http_respond(std::string_view request, const HttpHandler& handler);

}  // namespace ppool::tools
