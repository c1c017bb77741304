// poolnet-bench: poolnet's pooling kernels (public engine API, PoolBackend::kAuto) against oneDNN's
// pooling primitive on the same shapes, layouts and thread count, with a multi-threaded memcpy of
// a 512 MiB buffer (the L3's size where that is larger) as the bandwidth roofline.
//
// Method: every configuration is first run once per system untimed (warm-up, first touch), then
// timed N times round-robin (poolnet, oneDNN, poolnet, oneDNN, ...); the median is reported.
// Inputs (and outputs) rotate among enough buffers that together they exceed twice the L3 cache,
// so no repetition reads what the previous one left in cache. Bytes counted: forward = input read
// + output written; backward = grad_output read + grad_input written, plus for max pooling the
// 1-byte argmax per output that both systems saved in their training forward (poolnet:
// pool_forward_argmax, oneDNN: the forward_training workspace, u8 for windows under 256 cells).
// Max backward is timed as training runs it: from the saved argmax, without reading the input.
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <oneapi/dnnl/dnnl.hpp>

#include "poolnet/error.hpp"
#include "io/atomic_file.hpp"
#include "poolnet/pooling.hpp"

namespace {

using poolnet::DataFormat;
using poolnet::Padding;
using poolnet::PoolOp;
using Dims = std::vector<std::int64_t>;

// The last-level cache of this machine (sysconf, else sysfs; 32 MiB when neither says): rotations
// and the copy must exceed it, and it ranges from 32 MiB (a desktop) to 480 MiB (a server CPU).
std::size_t l3_bytes() {
  static const std::size_t bytes = [] {
    long n = sysconf(_SC_LEVEL3_CACHE_SIZE);
    if (n <= 0) {
      std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index3/size");
      std::string text;
      if (f >> text && !text.empty()) {
        char* end = nullptr;
        n = std::strtol(text.c_str(), &end, 10);
        if (end && *end == 'K') n <<= 10;
        if (end && *end == 'M') n <<= 20;
      }
    }
    return n > 0 ? static_cast<std::size_t>(n) : std::size_t{32} << 20;
  }();
  return bytes;
}
// The copy's source (and destination): 512 MiB, or the L3 where it is larger, so that the two
// together exceed twice the L3.
std::size_t copy_bytes() { return std::max<std::size_t>(std::size_t{512} << 20, (l3_bytes() + 4095) / 4096 * 4096); }

// ---------------------------------------------------------------------------------------------
// Buffers

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

class Buffer {
 public:
  explicit Buffer(std::size_t floats) : size_(floats) {
    std::size_t bytes = std::max<std::size_t>(64, (floats * sizeof(float) + 63) / 64 * 64);
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes)));
    if (!data_) throw std::bad_alloc();
  }
  float* data() const { return data_.get(); }
  std::size_t size() const { return size_; }

  // Random values in [-1, 1), generated in parallel (touches every page on its thread).
  void fill_random(std::uint64_t seed) {
    float* p = data_.get();
    const auto n = static_cast<std::int64_t>(size_);
#pragma omp parallel
    {
      std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(omp_get_thread_num()) * 0xBF58476D1CE4E5B9ull + 1;
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < n; ++i) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = static_cast<float>(static_cast<double>(s >> 40) * (2.0 / 16777216.0) - 1.0);
      }
    }
  }
  void fill_zero() {
    float* p = data_.get();
    const auto n = static_cast<std::int64_t>(size_);
#pragma omp parallel for schedule(static)
    for (std::int64_t i = 0; i < n; ++i) p[i] = 0.0f;
  }

 private:
  std::unique_ptr<float, FreeDeleter> data_;
  std::size_t size_ = 0;
};

// How many buffers of `bytes` each make a rotation whose total is at least twice the L3.
std::size_t rotation_count(std::size_t bytes) {
  return std::max<std::size_t>(2, (2 * l3_bytes() + bytes - 1) / std::max<std::size_t>(bytes, 1));
}

std::vector<Buffer> make_buffers(std::size_t count, std::size_t floats, bool random, std::uint64_t seed) {
  std::vector<Buffer> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    out.emplace_back(floats);
    if (random) {
      out.back().fill_random(seed + i);
    } else {
      out.back().fill_zero();
    }
  }
  return out;
}

double now_ms() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double, std::milli>(clock::now().time_since_epoch()).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---------------------------------------------------------------------------------------------
// Configurations and results

struct Config {
  std::string op_name;   // "max", "avg", "global_max", "global_avg"
  int rank = 2;
  Dims shape_cl;         // channels_last notation: N, spatial..., C
  Dims pool;             // rank entries (ignored for global)
  Dims strides;
  Padding padding = Padding::kValid;
  DataFormat format = DataFormat::kChannelsLast;
  bool backward = false;
  bool training = false;  // forward: the training pass, saving the argmax (oneDNN: its workspace)
};

struct Row {
  std::string system, op, shape, data_format, direction;
  int threads = 0;
  double median_ms = 0, gbps = 0;
  double fraction = 0;                 // of the copy bandwidth
  std::optional<double> ratio;         // onednn_ms / poolnet_ms, poolnet rows
  std::string note;                    // warning text (agreement check)
};

bool is_global(const Config& c) { return c.op_name.rfind("global", 0) == 0; }
bool is_max(const Config& c) { return c.op_name == "max" || c.op_name == "global_max"; }

std::string join_dims(const Dims& d, const char* sep) {
  std::string s;
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i) s += sep;
    s += std::to_string(d[i]);
  }
  return s;
}

std::string op_label(const Config& c) {
  if (is_global(c)) return c.op_name;
  const bool uniform = std::all_of(c.strides.begin(), c.strides.end(), [&](std::int64_t v) { return v == c.strides[0]; });
  const std::string strides = uniform ? std::to_string(c.strides[0]) : join_dims(c.strides, "x");
  std::string s = c.op_name + "_" + join_dims(c.pool, "x") + "/" + strides + "_" +
                  std::string(poolnet::to_string(c.padding));
  return s;
}

std::string shape_label(const Config& c) { return "(" + join_dims(c.shape_cl, ",") + ")"; }

poolnet::PoolSpec make_spec(const Config& c) {
  poolnet::PoolSpec spec;
  spec.op = is_max(c) ? PoolOp::kMax : PoolOp::kAverage;
  spec.spatial_rank = c.rank;
  spec.global = is_global(c);
  spec.window = is_global(c) ? Dims(static_cast<std::size_t>(c.rank), 1) : c.pool;
  spec.strides = is_global(c) ? Dims(static_cast<std::size_t>(c.rank), 1) : c.strides;
  spec.padding = c.padding;
  spec.data_format = c.format;
  return spec;
}

// Input shape in the config's data format.
Dims layout_shape(const Config& c) {
  if (c.format == DataFormat::kChannelsLast) return c.shape_cl;
  Dims d{c.shape_cl.front(), c.shape_cl.back()};
  d.insert(d.end(), c.shape_cl.begin() + 1, c.shape_cl.end() - 1);
  return d;
}

// ---------------------------------------------------------------------------------------------
// One configuration: both systems, interleaved.

struct Measured {
  double poolnet_ms = 0, onednn_ms = 0;
  double bytes = 0;
  std::string mismatch;  // non-empty when the forward outputs disagree
};

dnnl::memory::format_tag dnnl_tag(int rank, DataFormat f) {
  using T = dnnl::memory::format_tag;
  const bool cl = f == DataFormat::kChannelsLast;
  switch (rank) {
    case 1: return cl ? T::nwc : T::ncw;
    case 2: return cl ? T::nhwc : T::nchw;
    default: return cl ? T::ndhwc : T::ncdhw;
  }
}

// dnnl dims are N, C, spatial... regardless of layout.
Dims dnnl_dims(const poolnet::PoolPlan& plan, bool output) {
  Dims d{plan.batch, plan.channels};
  const int r = plan.spec.spatial_rank;
  for (int i = 0; i < r; ++i) {
    const auto& ax = plan.axes[static_cast<std::size_t>(poolnet::kMaxSpatialRank - r + i)];
    d.push_back(output ? ax.out : ax.in);
  }
  return d;
}

std::string compare_outputs(const float* a, const float* b, std::size_t n, bool exact) {
  std::size_t bad = 0;
  std::size_t first = 0;
  double worst = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - static_cast<double>(b[i]));
    const double tol = exact ? 0.0 : 1e-5 * std::max(1.0, std::fabs(static_cast<double>(b[i])));
    if (!(d <= tol)) {
      if (bad == 0) first = i;
      ++bad;
      worst = std::max(worst, d);
    }
  }
  if (bad == 0) return {};
  std::ostringstream os;
  os << bad << " of " << n << " outputs differ (first at " << first << ": poolnet " << a[first]
     << ", onednn " << b[first] << "; max |diff| " << worst << ")";
  return os.str();
}

Measured run_config(const Config& c, int reps, dnnl::engine& eng, dnnl::stream& strm) {
  const poolnet::PoolPlan plan = poolnet::plan_pooling(make_spec(c), poolnet::Shape(layout_shape(c)), "poolnet-bench");
  const auto in_n = static_cast<std::size_t>(plan.input_shape.elements());
  const auto out_n = static_cast<std::size_t>(plan.output_shape.elements());
  const std::size_t rot = rotation_count(in_n * sizeof(float));

  // oneDNN descriptors.
  const int r = c.rank;
  dnnl::memory::dims strides, kernel, pad_l, pad_r;
  for (int i = 0; i < r; ++i) {
    const auto& ax = plan.axes[static_cast<std::size_t>(poolnet::kMaxSpatialRank - r + i)];
    strides.push_back(ax.stride);
    kernel.push_back(ax.window);
    pad_l.push_back(ax.pad_before);
    pad_r.push_back(ax.pad_after);
  }
  const auto tag = dnnl_tag(r, c.format);
  const dnnl::memory::desc src_md(dnnl_dims(plan, false), dnnl::memory::data_type::f32, tag);
  const dnnl::memory::desc dst_md(dnnl_dims(plan, true), dnnl::memory::data_type::f32, tag);
  const auto alg = is_max(c) ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;

  const dnnl::pooling_forward::desc inf_d(dnnl::prop_kind::forward_inference, alg, src_md, dst_md, strides,
                                          kernel, pad_l, pad_r);
  const dnnl::pooling_forward::primitive_desc inf_pd(inf_d, eng);
  dnnl::pooling_forward inf_prim(inf_pd);

  std::vector<Buffer> inputs = make_buffers(rot, in_n, true, 1000);
  Measured m;

  // Agreement check (once, untimed): forward outputs of both systems on inputs[0].
  {
    Buffer a(out_n), b(out_n);
    poolnet::pool_forward(plan, inputs[0].data(), a.data(), poolnet::PoolBackend::kAuto);
    dnnl::memory s(src_md, eng, inputs[0].data()), d(dst_md, eng, b.data());
    inf_prim.execute(strm, {{DNNL_ARG_SRC, s}, {DNNL_ARG_DST, d}});
    strm.wait();
    m.mismatch = compare_outputs(a.data(), b.data(), out_n, is_max(c));
  }

  std::function<void(std::size_t)> run_poolnet, run_onednn;
  std::vector<Buffer> outputs, grad_outputs, grad_inputs;
  std::vector<dnnl::memory> src_mem, dst_mem, ddst_mem, dsrc_mem, ws_mem;
  std::optional<dnnl::pooling_backward> bwd_prim;
  std::vector<std::vector<std::uint8_t>> argmaxes;
  std::vector<float> outputs_scratch(c.backward ? out_n : 0);

  if (!c.backward) {
    outputs = make_buffers(rot, out_n, false, 0);
    for (std::size_t i = 0; i < rot; ++i) {
      src_mem.emplace_back(src_md, eng, inputs[i].data());
      dst_mem.emplace_back(dst_md, eng, outputs[i].data());
    }
    m.bytes = static_cast<double>((in_n + out_n) * sizeof(float));
  }
  if (c.training) {
    // Both training passes: ours saves the argmax (1 byte per output for windows of up to 255
    // cells), oneDNN's its workspace. GB/s counts ours: input, output and argmax once.
    const dnnl::pooling_forward::desc tr_d(dnnl::prop_kind::forward_training, alg, src_md, dst_md, strides,
                                           kernel, pad_l, pad_r);
    const dnnl::pooling_forward::primitive_desc tr_pd(tr_d, eng);
    auto tr_prim = std::make_shared<dnnl::pooling_forward>(tr_pd);
    for (std::size_t i = 0; i < rot; ++i) {
      ws_mem.emplace_back(tr_pd.workspace_desc(), eng);
      argmaxes.emplace_back(out_n * poolnet::argmax_bytes(plan));
    }
    m.bytes += static_cast<double>(out_n * poolnet::argmax_bytes(plan));
    run_poolnet = [&](std::size_t i) {
      poolnet::pool_forward_argmax(plan, inputs[i].data(), outputs[i].data(), argmaxes[i].data(),
                                   poolnet::PoolBackend::kAuto);
    };
    run_onednn = [&, tr_prim](std::size_t i) {
      tr_prim->execute(strm, {{DNNL_ARG_SRC, src_mem[i]}, {DNNL_ARG_DST, dst_mem[i]}, {DNNL_ARG_WORKSPACE, ws_mem[i]}});
      strm.wait();
    };
  } else if (!c.backward) {
    run_poolnet = [&](std::size_t i) {
      poolnet::pool_forward(plan, inputs[i].data(), outputs[i].data(), poolnet::PoolBackend::kAuto);
    };
    run_onednn = [&](std::size_t i) {
      inf_prim.execute(strm, {{DNNL_ARG_SRC, src_mem[i]}, {DNNL_ARG_DST, dst_mem[i]}});
      strm.wait();
    };
  } else {
    grad_outputs = make_buffers(rot, out_n, true, 2000);
    grad_inputs = make_buffers(rot, in_n, false, 0);
    // poolnet's saved argmax per input buffer (untimed, like oneDNN's workspace below).
    if (is_max(c) && !is_global(c)) {
      for (std::size_t i = 0; i < rot; ++i) {
        argmaxes.emplace_back(out_n * poolnet::argmax_bytes(plan));
        poolnet::pool_forward_argmax(plan, inputs[i].data(), outputs_scratch.data(), argmaxes.back().data());
      }
    }
    outputs = make_buffers(1, out_n, false, 0);  // forward_training's dst (workspace pass only)
    const dnnl::pooling_forward::desc tr_d(dnnl::prop_kind::forward_training, alg, src_md, dst_md, strides,
                                           kernel, pad_l, pad_r);
    const dnnl::pooling_forward::primitive_desc tr_pd(tr_d, eng);
    const dnnl::pooling_backward::desc b_d(alg, src_md, dst_md, strides, kernel, pad_l, pad_r);
    const dnnl::pooling_backward::primitive_desc b_pd(b_d, eng, tr_pd);
    bwd_prim.emplace(b_pd);
    dnnl::pooling_forward tr_prim(tr_pd);
    const bool has_ws = is_max(c);
    dnnl::memory fwd_dst(dst_md, eng, outputs[0].data());
    for (std::size_t i = 0; i < rot; ++i) {
      src_mem.emplace_back(src_md, eng, inputs[i].data());
      ddst_mem.emplace_back(dst_md, eng, grad_outputs[i].data());
      dsrc_mem.emplace_back(src_md, eng, grad_inputs[i].data());
      if (has_ws) {
        // The workspace of a forward_training pass on this input (untimed).
        ws_mem.emplace_back(tr_pd.workspace_desc(), eng);
        tr_prim.execute(strm, {{DNNL_ARG_SRC, src_mem[i]}, {DNNL_ARG_DST, fwd_dst}, {DNNL_ARG_WORKSPACE, ws_mem[i]}});
      }
    }
    strm.wait();
    // Global max backward has no workspace in either system: both read the input.
    const bool global_max = is_max(c) && is_global(c);
    m.bytes = static_cast<double>((out_n + in_n + (global_max ? in_n : 0)) * sizeof(float)) +
              static_cast<double>(argmaxes.empty() ? 0 : out_n * poolnet::argmax_bytes(plan));
    run_poolnet = [&](std::size_t i) {
      if (!argmaxes.empty()) {
        poolnet::pool_backward_argmax(plan, argmaxes[i].data(), grad_outputs[i].data(), grad_inputs[i].data(),
                                      poolnet::PoolBackend::kAuto);
      } else {
        poolnet::pool_backward(plan, inputs[i].data(), grad_outputs[i].data(), grad_inputs[i].data(),
                               poolnet::PoolBackend::kAuto);
      }
    };
    run_onednn = [&, has_ws](std::size_t i) {
      if (has_ws) {
        bwd_prim->execute(strm, {{DNNL_ARG_DIFF_DST, ddst_mem[i]}, {DNNL_ARG_DIFF_SRC, dsrc_mem[i]},
                                 {DNNL_ARG_WORKSPACE, ws_mem[i]}});
      } else {
        bwd_prim->execute(strm, {{DNNL_ARG_DIFF_DST, ddst_mem[i]}, {DNNL_ARG_DIFF_SRC, dsrc_mem[i]}});
      }
      strm.wait();
    };
  }

  // Warm-up (untimed), then round-robin timed repetitions.
  run_poolnet(rot - 1);
  run_onednn(rot - 1);
  std::vector<double> tp, to;
  std::size_t next = 0;
  for (int rep = 0; rep < reps; ++rep) {
    double t0 = now_ms();
    run_poolnet(next);
    tp.push_back(now_ms() - t0);
    next = (next + 1) % rot;
    t0 = now_ms();
    run_onednn(next);
    to.push_back(now_ms() - t0);
    next = (next + 1) % rot;
  }
  m.poolnet_ms = median(tp);
  m.onednn_ms = median(to);
  return m;
}

// Streaming copy of a 512 MiB buffer, split across the OpenMP threads.
double copy_ms(int reps) {
  const std::size_t kCopyBytes = copy_bytes();
  const std::size_t n = kCopyBytes / sizeof(float);
  Buffer src(n), dst(n);
  src.fill_random(7);
  dst.fill_zero();
  auto run = [&] {
    const char* s = reinterpret_cast<const char*>(src.data());
    char* d = reinterpret_cast<char*>(dst.data());
#pragma omp parallel
    {
      const auto t = static_cast<std::size_t>(omp_get_thread_num());
      const auto nt = static_cast<std::size_t>(omp_get_num_threads());
      const std::size_t chunk = (kCopyBytes / nt + 4095) / 4096 * 4096;
      const std::size_t begin = std::min(kCopyBytes, t * chunk);
      const std::size_t end = std::min(kCopyBytes, begin + chunk);
      if (end > begin) std::memcpy(d + begin, s + begin, end - begin);
    }
  };
  run();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) {
    const double t0 = now_ms();
    run();
    t.push_back(now_ms() - t0);
  }
  return median(t);
}

// ---------------------------------------------------------------------------------------------
// Output

std::string fmt(double v, int prec) {
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}

void print_table(const std::vector<Row>& rows) {
  const std::vector<std::string> head{"system", "op", "shape", "data_format", "direction", "threads",
                                      "median_ms", "GB/s", "frac_copy", "onednn/poolnet"};
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : rows) {
    if (!r.note.empty()) {
      cells.push_back({"WARNING", r.op, r.shape, r.data_format, r.direction, std::to_string(r.threads),
                       "-", "-", "-", r.note});
      continue;
    }
    cells.push_back({r.system, r.op, r.shape, r.data_format, r.direction, std::to_string(r.threads),
                     fmt(r.median_ms, 3), fmt(r.gbps, 2), fmt(r.fraction, 2),
                     r.ratio ? fmt(*r.ratio, 2) : ""});
  }
  std::vector<std::size_t> w(head.size());
  for (std::size_t i = 0; i < head.size(); ++i) w[i] = head[i].size();
  for (const auto& row : cells)
    for (std::size_t i = 0; i + 1 < row.size(); ++i) w[i] = std::max(w[i], row[i].size());
  auto line = [&](const std::vector<std::string>& row) {
    std::string s;
    for (std::size_t i = 0; i < row.size(); ++i) {
      std::string cell = row[i];
      if (i + 1 < row.size()) cell.resize(w[i], ' ');
      s += cell;
      if (i + 1 < row.size()) s += "  ";
    }
    while (!s.empty() && s.back() == ' ') s.pop_back();
    std::cout << s << "\n";
  };
  line(head);
  for (const auto& row : cells) line(row);
  std::cout.flush();
}

nlohmann::json rows_json(const std::vector<Row>& rows) {
  nlohmann::json a = nlohmann::json::array();
  for (const Row& r : rows) {
    if (!r.note.empty()) continue;
    a.push_back({{"system", r.system}, {"op", r.op}, {"shape", r.shape}, {"data_format", r.data_format},
                 {"direction", r.direction}, {"threads", r.threads}, {"median_ms", r.median_ms},
                 {"gbps", r.gbps}});
  }
  return a;
}

// ---------------------------------------------------------------------------------------------
// Suite

std::vector<Config> default_configs(bool quick) {
  std::vector<Dims> shapes;
  if (quick) {
    shapes = {{128, 26, 26, 32}};
  } else {
    shapes = {{32, 112, 112, 64}, {128, 26, 26, 32}, {256, 11, 11, 64}, {64, 4096, 64}, {8, 32, 56, 56, 32}};
  }
  std::vector<Config> out;
  for (const Dims& s : shapes) {
    const int rank = static_cast<int>(s.size()) - 2;
    const auto rr = static_cast<std::size_t>(rank);
    struct OpDef {
      const char* op;
      std::int64_t pool, stride;
      Padding pad;
      bool backward, training;
    };
    const OpDef ops[] = {{"max", 2, 2, Padding::kValid, false, false},
                         {"max", 3, 2, Padding::kSame, false, false},
                         {"avg", 2, 2, Padding::kValid, false, false},
                         {"global_max", 1, 1, Padding::kValid, false, false},
                         {"global_avg", 1, 1, Padding::kValid, false, false},
                         {"max", 2, 2, Padding::kValid, false, true},  // the training forward (argmax)
                         {"max", 2, 2, Padding::kValid, true, false},
                         {"avg", 2, 2, Padding::kValid, true, false}};
    for (const OpDef& o : ops) {
      for (DataFormat f : {DataFormat::kChannelsLast, DataFormat::kChannelsFirst}) {
        Config c;
        c.op_name = o.op;
        c.rank = rank;
        c.shape_cl = s;
        c.pool = Dims(rr, o.pool);
        c.strides = Dims(rr, o.stride);
        c.padding = o.pad;
        c.format = f;
        c.backward = o.backward;
        c.training = o.training;
        out.push_back(c);
      }
    }
  }
  return out;
}

Dims parse_list(const std::string& text, const char* what) {
  Dims d;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    try {
      std::size_t used = 0;
      const long long v = std::stoll(item, &used);
      if (used != item.size() || v <= 0) throw std::invalid_argument("bad");
      d.push_back(v);
    } catch (const std::exception&) {
      throw poolnet::ArgumentError(std::string("--") + what + ": '" + text +
                                   "' is not a comma-separated list of positive integers");
    }
  }
  if (d.empty()) throw poolnet::ArgumentError(std::string("--") + what + ": empty list");
  return d;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"poolnet-bench: poolnet's pooling kernels vs oneDNN's pooling primitive vs memcpy"};
  int threads = 0, reps = 7, rank = 2;
  std::string json_path, op, shape_text, pool_text, strides_text, padding_text = "valid",
                                                                  format_text = "channels_last",
                                                                  direction = "forward";
  bool quick = false;
  app.add_option("--threads", threads, "OpenMP threads for both systems (default: all)")->check(CLI::PositiveNumber);
  app.add_option("--reps", reps, "Timed repetitions per system; the median is reported")
      ->check(CLI::Range(1, 1000));
  app.add_option("--json", json_path, "Also write the rows as a JSON array to FILE");
  auto* quick_opt = app.add_flag("--quick", quick, "Only the (128,26,26,32) shape");
  auto* op_opt = app.add_option("--op", op, "Single-row mode: max|avg|global_max|global_avg")
                     ->check(CLI::IsMember({"max", "avg", "global_max", "global_avg"}));
  app.add_option("--rank", rank, "Single-row mode: spatial rank")->check(CLI::Range(1, 3));
  app.add_option("--shape", shape_text, "Single-row mode: input shape N,spatial...,C (channels_last order)");
  app.add_option("--pool", pool_text, "Single-row mode: window, one entry or one per spatial axis");
  app.add_option("--strides", strides_text, "Single-row mode: strides (default: the window)");
  app.add_option("--padding", padding_text, "Single-row mode: valid|same");
  app.add_option("--data-format", format_text, "Single-row mode: channels_last|channels_first");
  app.add_option("--direction", direction,
                 "Single-row mode: forward|forward_training (max: saving the argmax)|backward")
      ->check(CLI::IsMember({"forward", "forward_training", "backward"}));
  op_opt->excludes(quick_opt);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "poolnet-bench: " << e.what() << "\nRun with --help for usage.\n";
    return 2;
  }

  std::vector<Config> configs;
  try {
    const bool single = !op.empty();
    for (const char* name : {"--rank", "--shape", "--pool", "--strides", "--padding", "--data-format", "--direction"}) {
      if (!single && app.count(name) > 0)
        throw poolnet::ArgumentError(std::string(name) + " needs --op (single-row mode)");
    }
    if (single) {
      if (shape_text.empty()) throw poolnet::ArgumentError("--op needs --shape");
      Config c;
      c.op_name = op;
      c.rank = rank;
      c.shape_cl = parse_list(shape_text, "shape");
      if (static_cast<int>(c.shape_cl.size()) != rank + 2)
        throw poolnet::ArgumentError("--shape " + shape_text + " has " + std::to_string(c.shape_cl.size()) +
                                     " entries; --rank " + std::to_string(rank) + " needs " +
                                     std::to_string(rank + 2) + " (N, spatial..., C)");
      const auto rr = static_cast<std::size_t>(rank);
      auto widen = [&](Dims d, const char* what) {
        if (d.size() == 1) d.assign(rr, d[0]);
        if (d.size() != rr)
          throw poolnet::ArgumentError(std::string("--") + what + " needs 1 or " + std::to_string(rank) + " entries");
        return d;
      };
      if (is_global(c)) {
        c.pool = c.strides = Dims(rr, 1);
      } else {
        if (pool_text.empty()) throw poolnet::ArgumentError("--op " + op + " needs --pool");
        c.pool = widen(parse_list(pool_text, "pool"), "pool");
        c.strides = strides_text.empty() ? c.pool : widen(parse_list(strides_text, "strides"), "strides");
      }
      c.padding = poolnet::parse_padding(padding_text);
      c.format = poolnet::parse_data_format(format_text);
      c.backward = direction == "backward";
      c.training = direction == "forward_training";
      if (c.training && (c.op_name != "max"))
        throw poolnet::ArgumentError("--direction forward_training needs --op max (windowed max pooling saves an argmax)");
      (void)poolnet::plan_pooling(make_spec(c), poolnet::Shape(layout_shape(c)), "poolnet-bench");
      configs.push_back(c);
    } else {
      configs = default_configs(quick);
    }
  } catch (const poolnet::Error& e) {
    std::cerr << "poolnet-bench: " << e.what() << "\n";
    return 2;
  }

  if (threads > 0) omp_set_num_threads(threads);
  threads = omp_get_max_threads();

  try {
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    dnnl::stream strm(eng);

    std::vector<Row> rows;
    const double cms = copy_ms(reps);
    const double copy_gbps = 2.0 * static_cast<double>(copy_bytes()) / (cms * 1e6);
    rows.push_back({"copy", "memcpy", std::to_string(copy_bytes() >> 20) + "MiB", "-", "forward", threads, cms,
                    copy_gbps, 1.0, std::nullopt, ""});
    std::cerr << "poolnet SIMD target: " << poolnet::pool_simd_target() << "; threads: " << threads
              << "; L3: " << (l3_bytes() >> 20) << " MiB (inputs rotate over at least twice that)\n";
    std::cerr << "copy: " << fmt(cms, 2) << " ms, " << fmt(copy_gbps, 2) << " GB/s\n";

    for (const Config& c : configs) {
      const Measured m = run_config(c, reps, eng, strm);
      Row base;
      base.op = op_label(c);
      base.shape = shape_label(c);
      base.data_format = std::string(poolnet::to_string(c.format));
      base.direction = c.backward ? "backward" : c.training ? "forward_training" : "forward";
      base.threads = threads;
      if (!m.mismatch.empty()) {
        Row w = base;
        w.note = "forward outputs disagree: " + m.mismatch;
        rows.push_back(w);
        std::cerr << "WARNING " << base.op << " " << base.shape << " " << base.data_format << ": " << w.note << "\n";
      }
      Row p = base, o = base;
      p.system = "poolnet";
      p.median_ms = m.poolnet_ms;
      p.gbps = m.bytes / (m.poolnet_ms * 1e6);
      p.fraction = p.gbps / copy_gbps;
      p.ratio = m.onednn_ms / m.poolnet_ms;
      o.system = "onednn";
      o.median_ms = m.onednn_ms;
      o.gbps = m.bytes / (m.onednn_ms * 1e6);
      o.fraction = o.gbps / copy_gbps;
      rows.push_back(p);
      rows.push_back(o);
      std::cerr << "." << std::flush;
    }
    std::cerr << "\n";
    print_table(rows);
    if (!json_path.empty()) poolnet::io::write_file_atomically(json_path, rows_json(rows).dump(2) + "\n");
  } catch (const dnnl::error& e) {
    std::cerr << "poolnet-bench: oneDNN error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "poolnet-bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
