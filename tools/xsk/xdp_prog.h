// The XDP program ppool-xsk attaches: every frame to the AF_XDP socket of its
// receive queue (an XSKMAP indexed by rx_queue_index), XDP_PASS where that
// queue has no socket.
//
// Written as five raw BPF instructions and loaded with bpf_prog_load(), not
// compiled from C: libxdp's default program and xdp-tools' programs are BPF
// objects that need the kernel's BTF, which some kernels (this one) do not
// expose. The program needs none.
#pragma once

#include <string>

namespace xsk {

class XdpRedirect {
 public:
  XdpRedirect() = default;
  XdpRedirect(const XdpRedirect&) = delete;
  XdpRedirect& operator=(const XdpRedirect&) = delete;
  ~XdpRedirect() { detach(); }

  // Creates the XSKMAP (queues entries) and loads the program; false and why.
  bool load(unsigned queues, std::string* error);
  // Attaches to ifindex in driver mode (native XDP; veth has it), falling back
  // to generic (skb) mode when the driver has none. mode says which.
  bool attach(int ifindex, std::string* error);
  // Puts the socket fd at queue's slot of the map.
  bool add_socket(unsigned queue, int socket_fd, std::string* error);
  // Detaches (if attached) and closes the program and the map.
  void detach();

  const char* mode() const { return mode_; }

 private:
  int map_fd_ = -1, prog_fd_ = -1, ifindex_ = 0;
  unsigned flags_ = 0;
  const char* mode_ = "none";
};

}  // namespace xsk
