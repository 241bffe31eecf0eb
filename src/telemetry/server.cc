// The telemetry endpoint's socket (telemetry/endpoint.h; the protocol is
// ppool/telemetry.h's), as DPDK telemetry v2:
// an AF_UNIX SOCK_SEQPACKET listener; a client gets a hello on connect
// ({"version": ..., "pid": N, "max_output_len": N}), then each message it
// sends is one command and each reply one message. One thread serves every
// client with poll(); an eventfd in its poll set stops it. Off until started:
// no thread, no socket, nothing on any pool's path.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "telemetry/endpoint.h"
#include "telemetry/json.h"

namespace ppool::detail {
namespace {

// The longest command read; a longer message gets an error (DPDK reads 1024).
constexpr std::size_t kMaxCommandLen = 1024;
// Clients served at once; one more is told so and closed.
constexpr std::size_t kMaxClients = 64;

struct Server {
  std::string path;
  int listen_fd = -1;
  int stop_fd = -1;  // an eventfd: readable = stop
  dev_t dev = 0;     // the socket file bound, so stop removes only that one
  ino_t ino = 0;
  pid_t pid = 0;  // the process that started it (a forked child has no thread)
  pthread_t thread{};
};

struct Endpoint {
  std::mutex mu;  // start, stop and path; the server thread never takes it
  std::optional<Server> server;
  bool exit_hook = false;
};

Endpoint& endpoint() {
  static Endpoint* e = new Endpoint;  // never destroyed: the exit hook stops the server
  return *e;
}

Error path_error(const std::string& path, std::string_view why) {
  return {Errc::kInvalidArgument, cat({"telemetry: ", path, ": ", why})};
}

Error system_error(const char* what) {
  return {Errc::kOutOfMemory, cat({"telemetry: ", what, ": ", std::strerror(errno)})};
}

sockaddr_un address_of(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());  // checked to fit, NUL-terminated
  return addr;
}

int seqpacket_socket() {
  return socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
}

// Whether a process answers on path: a connect that succeeds. errno is left
// as connect() set it.
bool answers(const sockaddr_un& addr) {
  const int fd = seqpacket_socket();
  if (fd < 0) return false;
  const bool live = connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  const int saved = errno;
  close(fd);
  errno = saved;
  return live;
}

// Bind found path taken: removes it when it is a stale socket of ours (this
// user's, no one listening: a process that died without telemetry_close),
// else says why not. Another user's socket is left alone even when dead: it
// may be a squatter's bait, and removing it is not ours to decide.
Result<void> remove_stale(const std::string& path, const sockaddr_un& addr) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) return {};  // gone meanwhile: bind again
  if (!S_ISSOCK(st.st_mode)) return path_error(path, "exists and is not a socket");
  if (st.st_uid != geteuid())
    return path_error(
        path, cat({"a socket of uid ", std::to_string(st.st_uid),
                   " is there, not one of this process's uid ", std::to_string(geteuid())}));
  if (answers(addr)) return path_error(path, "another process's endpoint answers there");
  if (errno != ECONNREFUSED)
    return path_error(path, cat({"in use (connect: ", std::strerror(errno), ")"}));
  if (unlink(path.c_str()) != 0 && errno != ENOENT)
    return path_error(path, cat({"cannot remove the stale socket: ", std::strerror(errno)}));
  return {};
}

// Binds fd to path (replacing a stale socket file), owner-only, listening.
Result<void> bind_listener(int fd, const std::string& path) {
  const sockaddr_un addr = address_of(path);
  const auto* sa = reinterpret_cast<const sockaddr*>(&addr);
  if (bind(fd, sa, sizeof addr) != 0) {
    if (errno != EADDRINUSE) return path_error(path, cat({"bind: ", std::strerror(errno)}));
    if (Result<void> removed = remove_stale(path, addr); !removed) return removed;
    if (bind(fd, sa, sizeof addr) != 0)
      return path_error(path, cat({"bind: ", std::strerror(errno)}));
  }
  // Before listen() no one can connect, so the mode is set before anyone can.
  if (chmod(path.c_str(), 0600) != 0 || listen(fd, 16) != 0) {
    const std::string why = std::strerror(errno);
    unlink(path.c_str());
    return path_error(path, why);
  }
  return {};
}

// --- The server thread. ---

bool send_reply(int fd, const std::string& reply) {
  return send(fd, reply.data(), reply.size(), MSG_NOSIGNAL | MSG_DONTWAIT) ==
         static_cast<ssize_t>(reply.size());
}

// A new client: the hello, or a refusal when there are too many.
void accept_client(int listen_fd, std::vector<int>& clients) {
  const int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (fd < 0) {
    // Out of fds or memory, the connection stays queued and poll() reports
    // it again at once: wait a little instead of spinning.
    if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
      poll(nullptr, 0, 100);
    return;
  }
  // A SOCK_SEQPACKET message must fit the sender's buffer (less 32 bytes).
  const int sndbuf = static_cast<int>(kMaxOutputLen + 4096);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  if (clients.size() >= kMaxClients) {
    JsonBuilder o('{');
    o.key("error").str(cat({"too many clients (", std::to_string(kMaxClients), ")"}));
    send_reply(fd, o.close());
    close(fd);
    return;
  }
  if (!send_reply(fd, process_info_json())) {
    close(fd);
    return;
  }
  clients.push_back(fd);
}

// Answers the client's next command; false once the client is gone or
// misbehaves (a reply it does not read in time: MSG_DONTWAIT keeps one
// client from stalling the others and telemetry_close()).
bool serve_client(int fd, std::string& buffer) {
  const ssize_t n = recv(fd, buffer.data(), buffer.size(), MSG_DONTWAIT | MSG_TRUNC);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  if (n == 0) return false;  // closed
  std::string reply;
  if (static_cast<std::size_t>(n) > kMaxCommandLen) {
    JsonBuilder o('{');
    o.key("error").str(cat({"command longer than ", std::to_string(kMaxCommandLen), " bytes"}));
    reply = o.close();
  } else {
    reply = telemetry_run(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
  }
  if (send_reply(fd, reply)) return true;
  if (errno != EMSGSIZE) return false;
  // The system caps the socket buffer below kMaxOutputLen (net.core.wmem_max).
  return send_reply(fd,
                    command_error(std::string_view(buffer.data(), static_cast<std::size_t>(n)),
                                  cat({"the reply's ", std::to_string(reply.size()),
                                       " bytes exceed this socket's buffer (net.core.wmem_max)"})));
}

void serve(int listen_fd, int stop_fd) {
  std::vector<int> clients;
  std::vector<pollfd> fds;
  std::string buffer(kMaxCommandLen + 1, '\0');
  for (;;) {
    fds.assign({{stop_fd, POLLIN, 0}, {listen_fd, POLLIN, 0}});
    for (int fd : clients) fds.push_back({fd, POLLIN, 0});
    if (poll(fds.data(), fds.size(), -1) < 0) continue;  // EINTR
    if (fds[0].revents) break;
    std::vector<int> kept;
    for (std::size_t i = 2; i < fds.size(); ++i) {
      const bool ready = fds[i].revents != 0;
      if (!ready || serve_client(fds[i].fd, buffer))
        kept.push_back(fds[i].fd);
      else
        close(fds[i].fd);
    }
    clients.swap(kept);
    if (fds[1].revents & POLLIN) accept_client(listen_fd, clients);
  }
  for (int fd : clients) close(fd);
}

// arg: the Server, whose fds stay as they are until the thread is joined.
void* server_thread(void* arg) {
  const Server* s = static_cast<const Server*>(arg);
  serve(s->listen_fd, s->stop_fd);
  return nullptr;
}

// Starts the thread with every signal blocked: the application's handlers
// (SIGINT, SIGTERM) run on its own threads, never on this one.
bool start_thread(Server& s) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  const int rc = pthread_create(&s.thread, nullptr, server_thread, &s);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = rc;
  return rc == 0;
}

// Stops s's thread, closes its sockets and removes its socket file. In a
// forked child, which shares the parent's sockets but has no thread, it only
// closes the child's copies.
void shut_down(Server& s) {
  if (s.pid == getpid()) {
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(s.stop_fd, &one, sizeof one);
    pthread_join(s.thread, nullptr);
    struct stat st;
    // Only the file bound: another process may have taken the path since.
    if (lstat(s.path.c_str(), &st) == 0 && st.st_dev == s.dev && st.st_ino == s.ino)
      unlink(s.path.c_str());
  }
  close(s.listen_fd);
  close(s.stop_fd);
}

// Opens s's sockets at s.path and starts its thread; on an error the caller
// closes what was opened.
Result<void> open_server(Server& s) {
  s.listen_fd = seqpacket_socket();
  s.stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s.listen_fd < 0 || s.stop_fd < 0) return system_error("socket or eventfd");
  if (Result<void> bound = bind_listener(s.listen_fd, s.path); !bound) return bound;
  struct stat st;
  if (lstat(s.path.c_str(), &st) != 0) return path_error(s.path, std::strerror(errno));
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  if (start_thread(s)) return {};
  Error error = system_error("starting the server thread");
  unlink(s.path.c_str());
  return error;
}

Result<void> start_locked(Endpoint& e, const std::string& path) {
  if (e.server)
    return Error{Errc::kInvalidArgument, cat({"telemetry: already listening on ", e.server->path,
                                              " (asked for ", path, ")"})};
  if (path.empty()) return Error{Errc::kInvalidArgument, "telemetry: the socket path is empty"};
  if (path.size() >= sizeof(sockaddr_un::sun_path))
    return path_error(
        path,
        cat({"a socket path of ", std::to_string(path.size()), " bytes, more than the ",
             std::to_string(sizeof(sockaddr_un::sun_path) - 1), " a Unix socket address holds"}));
  Server& s = e.server.emplace();
  s.path = path;
  s.pid = getpid();
  Result<void> opened = open_server(s);
  if (opened) return opened;
  if (s.listen_fd >= 0) close(s.listen_fd);
  if (s.stop_fd >= 0) close(s.stop_fd);
  e.server.reset();
  return opened;
}

}  // namespace

Result<void> telemetry_listen(const std::string& spec) {
  std::string path = spec;
  if (std::optional<Result<std::string>> dpdk = dpdk_socket_path(spec)) {
    if (!*dpdk) return dpdk->error();
    path = std::move(*dpdk).value();
  }
  Endpoint& e = endpoint();
  std::lock_guard lock(e.mu);
  Result<void> started = start_locked(e, path);
  if (started && !e.exit_hook) {
    e.exit_hook = true;
    std::atexit(telemetry_close);  // so a socket file outlives no process that exits
  }
  return started;
}

void telemetry_listen_from_env() {
  static std::once_flag once;
  std::call_once(once, [] {
    const char* path = std::getenv("PPOOL_TELEMETRY");
    if (!path || !*path || !telemetry_listening_path().empty()) return;
    if (Result<void> started = telemetry_listen(path); !started)
      log(LogLevel::kError, started.error().message);
  });
}

void telemetry_close() {
  Endpoint& e = endpoint();
  std::lock_guard lock(e.mu);
  if (!e.server) return;
  shut_down(*e.server);
  e.server.reset();
}

std::string telemetry_listening_path() {
  Endpoint& e = endpoint();
  std::lock_guard lock(e.mu);
  return e.server ? e.server->path : std::string();
}

}  // namespace ppool::detail
