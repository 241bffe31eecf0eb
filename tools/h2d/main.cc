// ppool-h2d: streams a data set host to device in 2 MiB chunks, side by side
// in one run: through pool pages kept registered with the GPU (ppool), from
// pageable memory, with a registration per copy, and from memory registered
// once (the bound). See lanes.cc for what each mode does.
//
//   ppool-h2d [--gib G] [--streams S] [--depth D] [--batch B]
//             [--source-mib M] [--fill memcpy|stream|none]
//
// Prints a table (GB/s = bytes / wall time of the timed part, warm-up
// excluded, and ratios) and, on stdout's last line, one JSON object:
//   {"ppool_gbps": X, "pageable_gbps": X, "register_per_copy_gbps": X,
//    "kept_registered_gbps": X}
//
// Exit status: 0 measured (or no GPU: the reason is printed, the last line
// is {"skipped": "..."} and nothing is measured); 1 a mode failed, the data
// on the GPU was wrong, or a pool or a registration outlived the run; 2 bad
// arguments.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "lanes.h"
#include "ppool/page_pool.h"
#include "support/args.h"
#include "support/json.h"
#include "support/report.h"

namespace {

// The layout is help2man's (man/): see tools/fwd/options.cc.
constexpr const char* kUsage =
    "Usage: ppool-h2d [OPTION]...\n"
    "\n"
    "Streams a data set from host to GPU in 2 MiB chunks, side by side in one run:\n"
    "through pool pages kept registered with the GPU (ppool), from pageable memory,\n"
    "with a registration per copy, and from memory registered once (the bound).\n"
    "Prints a table (GB/s and ratios) and, on stdout's last line, one JSON object.\n"
    "\n"
    "Options:\n"
    "  --gib G           bytes to copy per mode, in GiB (default 4; 0.01..1024)\n"
    "  --streams S       lanes: threads, each with a CUDA stream (default 4; 1..32)\n"
    "  --depth D         ppool: 2 MiB pages in flight per stream (default 16;\n"
    "                    2..1024)\n"
    "  --batch B         ppool: pages whose copies one host function reports (default\n"
    "                    4; 1..64, at most D)\n"
    "  --source-mib M    pageable source per stream, MiB (default 64; 2..16384)\n"
    "  --fill memcpy|stream|none\n"
    "                    ppool: how a page gets its data: memcpy from the source\n"
    "                    (default), non-temporal stores (stream), or none (in place)\n"
    "  -h, --help        this text\n"
    "\n"
    "Exit status:\n"
    "  0  measured, or no GPU: the reason is printed, the JSON is {\"skipped\": ...}\n"
    "     and nothing is measured\n"
    "  1  a mode failed, the data on the GPU was wrong, or a pool or a registration\n"
    "     outlived the run\n"
    "  2  bad arguments\n";

// Fills options from argv; nullopt to go on, else the exit status (0 after
// --help, 2 after a bad argument).
std::optional<int> parse_options(int argc, char** argv, h2d::Options* o) {
  ppool::tools::Args args(argc, argv, "ppool-h2d", kUsage);
  std::string fill;
  while (args.next()) {
    if (args.decimal("--gib", 0.01, 1024, o->gib)) {
    } else if (args.number("--streams", 1, 32, o->streams)) {
    } else if (args.number("--depth", 2, 1024, o->depth)) {
    } else if (args.number("--source-mib", 2, 16384, o->source_mib)) {
    } else if (args.number("--batch", 1, h2d::kMaxBatch, o->batch)) {
    } else if (args.choice("--fill", {"memcpy", "stream", "none"}, fill)) {
      for (h2d::Fill f : {h2d::Fill::kStream, h2d::Fill::kMemcpy, h2d::Fill::kNone})
        if (fill == h2d::to_string(f)) o->fill = f;
    } else {
      args.unknown();
    }
  }
  if (auto status = args.exit_status()) return status;
  if (o->batch > o->depth)
    return args.error("--batch (" + std::to_string(o->batch) + ") may not exceed --depth (" +
                      std::to_string(o->depth) + ")");
  return std::nullopt;
}

void print_table(const h2d::Options& o, const ppool::CudaDmaDevice& dev,
                 const std::vector<h2d::ModeResult>& results) {
  std::printf(
      "ppool-h2d: %.2f GiB per mode host->device in 2 MiB chunks, %u streams, "
      "ppool depth %u, batch %u and fill %s, %zu MiB pageable source per stream\n",
      o.gib, o.streams, o.depth, o.batch, h2d::to_string(o.fill), o.source_mib);
  std::printf("GPU %d: %s, driver CUDA %d.%d\n\n", dev.ordinal(), dev.gpu_name().c_str(),
              dev.driver_version() / 1000, dev.driver_version() % 1000 / 10);
  std::printf("%-18s %10s %12s\n", "mode", "GB/s", "ppool / it");
  const double ppool = results[0].gbps;
  for (std::size_t m = 0; m < results.size(); ++m) {
    const h2d::ModeResult& r = results[m];
    std::printf("%-18s %10.2f %11.2fx", h2d::to_string(h2d::kModes[m]), r.gbps,
                r.gbps > 0 ? ppool / r.gbps : 0.0);
    if (!r.error.empty()) std::printf("  FAILED: %s", r.error.c_str());
    std::printf("\n");
  }
  std::printf("\nppool: %llu pages registered in all (once each, on the pools' slow paths)\n",
              static_cast<unsigned long long>(results[0].pages_registered));
  const double kept = results[3].gbps, pageable = results[1].gbps;
  std::printf("targets: ppool >= 0.95x kept_registered: %.3fx %s; ppool >= 3x pageable: %.2fx %s\n",
              kept > 0 ? ppool / kept : 0.0, ppool >= 0.95 * kept ? "met" : "MISSED",
              pageable > 0 ? ppool / pageable : 0.0, ppool >= 3 * pageable ? "met" : "MISSED");
}

void print_json(const std::vector<h2d::ModeResult>& results) {
  ppool::tools::JsonWriter o('{');
  for (std::size_t m = 0; m < results.size(); ++m)
    o.key(std::string(h2d::to_string(h2d::kModes[m])) + "_gbps").fixed(results[m].gbps, 3);
  ppool::tools::print_json_line(o.close());
}

// Whatever outlived the run, for the exit status.
std::string leftovers(const std::vector<h2d::ModeResult>& results,
                      const ppool::CudaDmaDevice& dev) {
  std::string why;
  for (std::size_t m = 0; m < results.size(); ++m)
    if (!results[m].error.empty())
      why += std::string(h2d::to_string(h2d::kModes[m])) + ": " + results[m].error + "\n";
  if (std::size_t n = ppool::pools_pending_release())
    why += std::to_string(n) + " pools still waiting for pages in flight\n";
  if (std::size_t n = dev.live_mappings())
    why += std::to_string(n) + " pages still registered with the GPU\n";
  return why;
}

}  // namespace

int main(int argc, char** argv) {
  h2d::Options options;
  if (auto status = parse_options(argc, argv, &options)) return *status;

  auto dev = ppool::CudaDmaDevice::create();
  if (!dev) {
    // CI runs this without a GPU: not a failure, but never a silent pass.
    std::printf("ppool-h2d: %s\n", dev.error().message.c_str());
    std::printf("ppool-h2d: the GPU figures need a GPU; nothing measured\n");
    ppool::tools::JsonWriter o('{');
    ppool::tools::print_json_line(o.key("skipped").str(dev.error().message).close());
    return 0;
  }
  std::vector<h2d::Source> sources;
  for (unsigned i = 0; i < options.streams; ++i) sources.emplace_back(i, options.source_mib << 20);

  std::vector<h2d::ModeResult> results;
  for (h2d::Mode mode : h2d::kModes) {
    std::fprintf(stderr, "ppool-h2d: %s...\n", h2d::to_string(mode));
    results.push_back(h2d::run_mode(mode, options, *dev.value(), sources));
  }
  print_table(options, *dev.value(), results);
  const std::string why = leftovers(results, *dev.value());
  if (!why.empty()) std::fprintf(stderr, "ppool-h2d: failed:\n%s", why.c_str());
  print_json(results);
  std::fflush(stdout);
  return why.empty() ? 0 : 1;
}
