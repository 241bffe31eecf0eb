// The XDP redirect program (ppool/xsk_redirect.h).
#include "ppool/xsk_redirect.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace ppool {
namespace {

// The failing call and its cause, coded as the header says: what the
// kernel could not allocate, what the caller got wrong, the rest refused.
Error errno_error(const char* what, int err, const std::string& detail = {}) {
  err = err < 0 ? -err : err;
  Errc code = Errc::kUnsupported;
  switch (err) {
    case ENOMEM:
      code = Errc::kOutOfMemory;
      break;
    case EINVAL:
    case E2BIG:
    case EBADF:
    case ENODEV:
      code = Errc::kInvalidArgument;
      break;
    default:
      break;
  }
  return Error{code, std::string(what) + ": " + std::strerror(err) + detail};
}

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off,
              std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

}  // namespace

Result<void> XskRedirect::load(unsigned queues) {
  map_fd_ =
      bpf_map_create(BPF_MAP_TYPE_XSKMAP, "ppool_xsks", sizeof(int), sizeof(int), queues, nullptr);
  if (map_fd_ < 0) {
    return errno_error("bpf_map_create(XSKMAP)", errno,
                       " (needs CAP_NET_ADMIN/CAP_BPF and a kernel with AF_XDP)");
  }
  // r2 = ctx->rx_queue_index; r1 = &map; r3 = XDP_PASS (the action when the
  // slot is empty); r0 = bpf_redirect_map(r1, r2, r3); exit.
  const bpf_insn prog[] = {
      insn(BPF_LDX | BPF_W | BPF_MEM, BPF_REG_2, BPF_REG_1, offsetof(xdp_md, rx_queue_index), 0),
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, map_fd_),
      insn(0, 0, 0, 0, 0),  // the second half of the 64-bit immediate
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_3, 0, 0, XDP_PASS),
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_redirect_map),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static char log[4096];
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .log_size = sizeof log, .log_buf = log);
  prog_fd_ = bpf_prog_load(BPF_PROG_TYPE_XDP, "ppool_xsk", "GPL", prog,
                           sizeof prog / sizeof prog[0], &opts);
  if (prog_fd_ < 0) {
    return errno_error("bpf_prog_load(XDP)", errno, log[0] ? std::string(": ") + log : "");
  }
  return {};
}

Result<void> XskRedirect::attach(int ifindex, bool generic_only) {
  int ret = 0;
  for (unsigned flags : {XDP_FLAGS_DRV_MODE, XDP_FLAGS_SKB_MODE}) {
    if (generic_only && flags == XDP_FLAGS_DRV_MODE) continue;
    ret = bpf_xdp_attach(ifindex, prog_fd_, flags, nullptr);
    if (ret == 0) {
      ifindex_ = ifindex;
      flags_ = flags;
      mode_ = flags == XDP_FLAGS_DRV_MODE ? "driver" : "generic";
      return {};
    }
  }
  return errno_error("bpf_xdp_attach", ret);
}

Result<void> XskRedirect::add_socket(unsigned queue, int socket_fd) {
  int key = static_cast<int>(queue);
  if (bpf_map_update_elem(map_fd_, &key, &socket_fd, BPF_ANY) != 0)
    return errno_error("XSKMAP update", errno);
  return {};
}

void XskRedirect::detach() {
  if (ifindex_) bpf_xdp_detach(ifindex_, flags_, nullptr);
  ifindex_ = 0;
  if (prog_fd_ >= 0) close(prog_fd_);
  if (map_fd_ >= 0) close(map_fd_);
  prog_fd_ = map_fd_ = -1;
}

}  // namespace ppool
