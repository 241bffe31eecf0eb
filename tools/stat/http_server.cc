// tools/stat/http_server.cc - see http_server.h.
#include "stat/http_server.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "support/errno_error.h"
#include "support/signals.h"

namespace ppool::tools {
namespace {

using Clock = std::chrono::steady_clock;

struct Client {
  int fd = -1;
  Clock::time_point deadline;
  std::string in;   // the request so far
  std::string out;  // the reply, once made
  std::size_t sent = 0;
  bool draining = false;  // reply sent and write side shut: reading to EOF
};

const char* reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 503:
      return "Service Unavailable";
    default:
      return "Error";
  }
}

std::string render(const HttpReply& r, bool head) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + reason(r.status) + "\r\n";
  out += "Content-Type: " + r.content_type + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head) out += r.body;
  return out;
}

HttpReply plain(int status, std::string body) {
  HttpReply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// A token of the request line: visible ASCII, no space.
bool is_token(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c > ' ' && c < 127; });
}

void close_client(Client& c) {
  if (c.fd >= 0) close(c.fd);
  c.fd = -1;
}

// Sends what the socket takes. Once all is sent the write side is shut and
// the client is drained until it closes (or its deadline): closing with its
// bytes unread (an oversized request's rest) would send a reset, which may
// discard the reply before the client reads it.
void flush(Client& c) {
  while (c.sent < c.out.size()) {
    const ssize_t n =
        send(c.fd, c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return close_client(c);
    c.sent += static_cast<std::size_t>(n);
  }
  shutdown(c.fd, SHUT_WR);
  c.draining = true;
}

void drain(Client& c) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return close_client(c);  // the client's end, or an error
  }
}

// Reads what has come; makes the reply once the request is whole.
void receive(Client& c, const HttpHandler& handler) {
  char buffer[4096];
  for (;;) {
    const ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) return close_client(c);  // gone before its request was whole
    c.in.append(buffer, static_cast<std::size_t>(n));
    const std::size_t end = c.in.find("\r\n\r\n");
    if (end != std::string::npos) {
      c.out = http_respond(std::string_view(c.in).substr(0, end + 4), handler);
      return flush(c);
    }
    if (c.in.size() > kMaxRequest) {
      c.out = render(plain(400, "request too large\n"), false);
      return flush(c);
    }
  }
}

void accept_all(int listen_fd, std::vector<Client>& clients) {
  for (;;) {
    const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or a connection that died in the queue
    if (clients.size() >= kMaxClients) {
      // The oldest goes: holding a slot cannot keep the next scrape out.
      auto oldest = std::min_element(clients.begin(), clients.end(),
                                     [](auto& a, auto& b) { return a.deadline < b.deadline; });
      close_client(*oldest);
      clients.erase(oldest);
    }
    clients.push_back(
        Client{fd, Clock::now() + std::chrono::seconds(kRequestTimeoutS), {}, {}, 0, false});
  }
}

}  // namespace

std::string http_respond(std::string_view request, const HttpHandler& handler) {
  const std::size_t line_end = request.find("\r\n");
  const std::string_view line = request.substr(0, line_end);
  const std::size_t a = line.find(' ');
  const std::size_t b = a == std::string_view::npos ? a : line.find(' ', a + 1);
  if (b == std::string_view::npos) return render(plain(400, "malformed request line\n"), false);
  const std::string_view method = line.substr(0, a);
  const std::string_view target = line.substr(a + 1, b - a - 1);
  const std::string_view version = line.substr(b + 1);
  if (!is_token(method) || !is_token(target) || target[0] != '/' ||
      !(version == "HTTP/1.1" || version == "HTTP/1.0"))
    return render(plain(400, "malformed request line\n"), false);
  if (method != "GET" && method != "HEAD") {
    HttpReply r = plain(405, "only GET\n");
    return render(r, false);
  }
  return render(handler(target.substr(0, target.find('?'))), method == "HEAD");
}

Result<int> http_listen(const std::string& address, std::string* bound) {
  const std::size_t colon = address.rfind(':');
  if (colon == std::string::npos) return Error{Errc::kInvalidArgument, address + ": not HOST:PORT"};
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (port.empty() ||
      getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found) != 0)
    return Error{Errc::kInvalidArgument, address + ": not an address and port to listen on"};
  int fd = -1;
  int err = 0;
  for (addrinfo* ai = found; ai && fd < 0; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 64) != 0) {
      err = errno;
      close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(found);
  if (fd < 0) return errno_error(address + ": bind", err);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  char h[NI_MAXHOST], p[NI_MAXSERV];
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 &&
      getnameinfo(reinterpret_cast<sockaddr*>(&ss), len, h, sizeof h, p, sizeof p,
                  NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
    // Built by appends: g++ 12 at -O3 warns falsely (-Wrestrict) on "[" + string.
    std::string text = ss.ss_family == AF_INET6 ? "[" : "";
    text += h;
    text += ss.ss_family == AF_INET6 ? "]:" : ":";
    text += p;
    *bound = text;
  } else
    *bound = address;
  return fd;
}

int http_serve(int listen_fd, const HttpHandler& handler) {
  sigset_t waiting;  // the mask while in ppoll: the stop signals let in
  pthread_sigmask(SIG_SETMASK, nullptr, &waiting);
  sigdelset(&waiting, SIGINT);
  sigdelset(&waiting, SIGTERM);
  std::vector<Client> clients;
  std::vector<pollfd> fds;
  while (g_signal.load() == 0) {
    const Clock::time_point now = Clock::now();
    std::erase_if(clients, [&](Client& c) {
      if (c.fd >= 0 && c.deadline <= now) close_client(c);
      return c.fd < 0;
    });
    fds.assign(1, pollfd{listen_fd, POLLIN, 0});
    Clock::time_point next = now + std::chrono::hours(1);
    for (const Client& c : clients) {
      const bool writing = !c.out.empty() && !c.draining;
      fds.push_back(pollfd{c.fd, static_cast<short>(writing ? POLLOUT : POLLIN), 0});
      next = std::min(next, c.deadline);
    }
    const auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(next - now);
    const timespec timeout{static_cast<time_t>(wait.count() / 1'000'000'000),
                           static_cast<long>(wait.count() % 1'000'000'000)};
    const int ready = ppoll(fds.data(), fds.size(), &timeout, &waiting);
    if (ready <= 0) continue;  // EINTR (a signal: the loop checks), or a deadline
    // Clients first (fds[i + 1] is clients[i]), then new ones: accepting
    // may push out the oldest client and change the vector.
    for (std::size_t i = 0; i < clients.size(); ++i) {
      if (fds[i + 1].revents == 0) continue;
      if (clients[i].draining)
        drain(clients[i]);
      else if (clients[i].out.empty())
        receive(clients[i], handler);
      else
        flush(clients[i]);
    }
    std::erase_if(clients, [](const Client& c) { return c.fd < 0; });
    if (fds[0].revents & POLLIN) accept_all(listen_fd, clients);
  }
  for (Client& c : clients) close_client(c);
  return g_signal.load();
}

}  // namespace ppool::tools
