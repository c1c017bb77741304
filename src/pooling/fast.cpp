// The fast backend's driver: it partitions the work among OpenMP threads (every thread owns
// disjoint output, so results never depend on the thread count) and hands rows to the SIMD
// microkernels of simd_kernels.hpp.
//
// Both layouts share one loop nest: a channels_last tensor is `batch` images of `channels`
// interleaved channels (the kernels vectorize across channels); a channels_first tensor is
// batch x channels images of one channel (the kernels vectorize along the cols).
#include "pooling/fast.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <numeric>
#include <vector>

#include <hwy/cache_control.h>

#include "pooling/simd_kernels.hpp"

namespace poolnet::fast {
namespace {

struct View {
  std::int64_t images;    // independent images
  std::int64_t channels;  // interleaved channels per image (1 for channels_first)
  std::array<AxisGeometry, kMaxSpatialRank> axes;
  std::int64_t in_image, out_image;  // floats per image
};

View view_of(const PoolPlan& plan) {
  View v;
  const bool last = plan.spec.data_format == DataFormat::kChannelsLast;
  v.images = last ? plan.batch : plan.batch * plan.channels;
  v.channels = last ? plan.channels : 1;
  v.axes = plan.axes;
  v.in_image = plan.spatial_in() * v.channels;
  v.out_image = plan.spatial_out() * v.channels;
  return v;
}

// Outputs at least this large are written with non-temporal stores: a write of half the L3 evicts
// most of it anyway, and skipping the read-for-ownership of every line saves a third of the traffic
// of a write.
constexpr std::int64_t kDefaultStreamBytes = std::int64_t{16} << 20;
std::atomic<std::int64_t> stream_bytes{kDefaultStreamBytes};

// Software prefetches the optimizer cannot drop. GCC 12 deleted the loop nest of
// prefetch_task_rows (only __builtin_prefetch inside) once AxisGeometry's window bounds became
// inline, and channels_first 112x112 rows ran without it: average 2x2/2 6.6-7.5 -> 8.7-9.7 ms.
inline void prefetch_l1(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht0 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 3);
#endif
}
inline void prefetch_l2(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetcht1 %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 0, 2);
#endif
}

// How many streams of input one thread should read at once. The Intel Xeon of the third to ninth
// sessions kept more misses in flight with more streams (four quarters of an image or of a run of
// slices side by side: 11x11 planes' global average 0.49 -> 0.28 ms); on the AMD EPYC (Zen 5) of
// the tenth, the same order ran at half the speed of two streams (simd::global_max_slices), and a
// plain read of 1 GiB by 2 threads went at 78 GB/s as two streams per thread, 53-70 GB/s as four
// and 52-55 GB/s as six.
std::int64_t default_memory_streams() {
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_is("amd")) return 2;
#endif
  return 4;
}
std::atomic<std::int64_t> memory_streams{default_memory_streams()};

// Below this many input floats a parallel region costs more than it saves.
constexpr std::int64_t kMinParallelWork = std::int64_t{1} << 15;

bool parallel_worth(const View& v) { return v.images * v.in_image >= kMinParallelWork; }

// The calling thread's share of tasks [0, n) (static schedule: one contiguous run per thread),
// in an order that takes memory_streams parts of the run in turn when `interleaved` (quarters, or
// halves on AMD): where consecutive tasks read small consecutive pieces of memory (channels_first
// planes of a few KiB), that many streams are read at once instead of one. On the Zen 5 of the
// tenth session, halves against quarters, 4 interleaved rounds: (128,32,26,26) max 2x2/2 400 ->
// 365 us, average 443 -> 414 us, max 3x3/2 'same' 508 -> 466 us.
struct TaskShare {
  std::int64_t first, count, parts, part;
  std::int64_t at(std::int64_t k) const {  // the k-th task of the order
    return k < parts * part ? first + (k % parts) * part + k / parts : first + k;
  }
};
TaskShare task_share(std::int64_t n, bool interleaved) {
  const std::int64_t threads = omp_get_num_threads(), t = omp_get_thread_num();
  const std::int64_t first = n * t / threads, count = n * (t + 1) / threads - first;
  const std::int64_t parts = interleaved ? std::max<std::int64_t>(1, memory_streams.load()) : 1;
  return {first, count, parts, count / parts};
}
// Planes up to this size are read in parts (task_share). Quarters, Xeon, 2 threads, 4 interleaved rounds of
// poolnet-bench, (128,32,26,26): max 2x2/2 0.68 -> 0.57 ms, average 0.62 -> 0.60 ms, 3x3/2 'same'
// 0.78 -> 0.68 ms. 3D volumes of 400 KiB measured the same or slower (6.5 -> 6.8 ms), and the
// transposed bands of 11x11 planes, bound by the transposes, the same.
constexpr std::int64_t kQuarteredMaxPlaneBytes = std::int64_t{16} << 10;
bool quartered(const View& v) { return v.in_image * 4 <= kQuarteredMaxPlaneBytes; }

simd::Axis cols_of(const View& v) {
  const AxisGeometry& w = v.axes[2];
  return {w.in, w.window, w.stride, w.out, w.pad_before};
}

std::int64_t window_cells(const PoolPlan& plan) {
  return plan.axes[0].window * plan.axes[1].window * plan.axes[2].window;
}

// Per-thread scratch that only grows, so that steady-state calls (every training step) do not
// allocate. Slot tells apart buffers that are live at the same time. Zero-filled on every call,
// like the fresh vectors it replaces.
template <typename T, int Slot>
T* thread_scratch(std::size_t n) {
  thread_local std::vector<T> buffer;
  if (buffer.size() < n) buffer.resize(n);
  std::fill_n(buffer.data(), n, T{});
  return buffer.data();
}

// Where a thread keeps the window rows of the output row it works on (simd::ForwardRow::rows and
// row_ids): on its stack for windows of up to kOnStack rows (all but huge 3D windows), else in its
// heap scratch. Taken from the heap scratch, the same rows ran 1.4x slower: channels_first
// 112x112 max 2x2/2 through pool_forward, 7.2-7.6 -> 5.3 ms in 5 interleaved rounds, with the
// kernel rereading the pointers every 896 bytes of input. The cause was not pinned down (no
// hardware counters in this VM); giving the heap buffer cache lines of its own did not help.
class WindowRowStorage {
 public:
  explicit WindowRowStorage(std::size_t rows) {
    if (rows > kOnStack) {
      ptrs_ = thread_scratch<const float*, 0>(rows);
      ids_ = thread_scratch<std::int32_t, 0>(rows);
    }
  }
  WindowRowStorage(const WindowRowStorage&) = delete;
  WindowRowStorage& operator=(const WindowRowStorage&) = delete;
  const float** ptrs() { return ptrs_ ? ptrs_ : stack_ptrs_; }
  std::int32_t* ids() { return ids_ ? ids_ : stack_ids_; }

 private:
  static constexpr std::size_t kOnStack = 64;
  alignas(64) const float* stack_ptrs_[kOnStack];
  alignas(64) std::int32_t stack_ids_[kOnStack];
  const float** ptrs_ = nullptr;
  std::int32_t* ids_ = nullptr;
};

// The gather table of a channels_first plane (simd::PlaneTable), shared by all planes of a plan.
struct PlaneTableStorage {
  std::vector<std::int32_t> index, real;
  std::vector<float> count;
  simd::PlaneTable table{};

  void rebuild(const View& v, std::size_t lanes) {
    const AxisGeometry& D = v.axes[0];
    const AxisGeometry& H = v.axes[1];
    const AxisGeometry& W = v.axes[2];
    const auto outputs = static_cast<std::size_t>(D.out * H.out * W.out);
    const auto cells = static_cast<std::size_t>(D.window * H.window * W.window);
    const std::size_t groups = (outputs + lanes - 1) / lanes;
    index.assign(groups * cells * lanes, 0);
    real.assign(groups * cells * lanes, 0);
    count.assign(groups * lanes, 1.0f);
    std::size_t o = 0;
    for (std::int64_t od = 0; od < D.out; ++od)
      for (std::int64_t oh = 0; oh < H.out; ++oh)
        for (std::int64_t ow = 0; ow < W.out; ++ow, ++o) {
          const std::size_t g = o / lanes, lane = o % lanes;
          const std::int64_t d0 = od * D.stride - D.pad_before, h0 = oh * H.stride - H.pad_before,
                             w0 = ow * W.stride - W.pad_before;
          const std::int64_t first_real =
              (D.window_begin(od) * H.in + H.window_begin(oh)) * W.in + W.window_begin(ow);
          count[g * lanes + lane] = static_cast<float>((D.window_end(od) - D.window_begin(od)) *
                                                       (H.window_end(oh) - H.window_begin(oh)) *
                                                       (W.window_end(ow) - W.window_begin(ow)));
          std::size_t k = 0;
          for (std::int64_t kd = 0; kd < D.window; ++kd)
            for (std::int64_t kh = 0; kh < H.window; ++kh)
              for (std::int64_t kw = 0; kw < W.window; ++kw, ++k) {
                const std::int64_t d = d0 + kd, h = h0 + kh, w = w0 + kw;
                const bool is_real = d >= 0 && d < D.in && h >= 0 && h < H.in && w >= 0 && w < W.in;
                const std::size_t at = (g * cells + k) * lanes + lane;
                index[at] = static_cast<std::int32_t>(is_real ? (d * H.in + h) * W.in + w : first_real);
                real[at] = is_real ? -1 : 0;
              }
        }
    table = {outputs, cells, index.data(), real.data(), count.data()};
  }
};

// For non-overlapping windows on a channels_first plane: per input cell, the output whose window
// holds it (or none) and its index in that window (simd::ReversePlaneTable).
struct ReverseTableStorage {
  std::vector<std::int32_t> output, base, relative, code;
  std::vector<float> count;
  bool every_vector_has_base = false;
  simd::ReversePlaneTable table{};

  void rebuild(const View& v, std::size_t lanes) {
    const AxisGeometry& D = v.axes[0];
    const AxisGeometry& H = v.axes[1];
    const AxisGeometry& W = v.axes[2];
    const auto inputs = static_cast<std::size_t>(v.in_image);
    const std::size_t padded = (inputs + lanes - 1) / lanes * lanes;
    output.assign(padded, 0);
    code.assign(padded, -1);
    count.assign(static_cast<std::size_t>(v.out_image), 1.0f);
    std::size_t o = 0;
    for (std::int64_t od = 0; od < D.out; ++od)
      for (std::int64_t oh = 0; oh < H.out; ++oh)
        for (std::int64_t ow = 0; ow < W.out; ++ow, ++o) {
          const std::int64_t d0 = od * D.stride - D.pad_before, h0 = oh * H.stride - H.pad_before,
                             w0 = ow * W.stride - W.pad_before;
          count[o] = static_cast<float>((D.window_end(od) - D.window_begin(od)) *
                                        (H.window_end(oh) - H.window_begin(oh)) *
                                        (W.window_end(ow) - W.window_begin(ow)));
          for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
            for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h)
              for (std::int64_t w = W.window_begin(ow); w < W.window_end(ow); ++w) {
                const auto i = static_cast<std::size_t>((d * H.in + h) * W.in + w);
                output[i] = static_cast<std::int32_t>(o);
                code[i] = static_cast<std::int32_t>(((d - d0) * H.window + (h - h0)) * W.window + (w - w0));
              }
        }
    // Per vector of inputs: the outputs it takes from, when they lie within 2 vectors (a
    // two-vector permute instead of a gather: small planes, windows up to a vector wide).
    base.assign(padded / lanes, -1);
    relative.assign(padded, 0);
    std::int32_t furthest = 0;
    for (std::size_t b = 0; b < padded / lanes; ++b) {
      std::int32_t lo = std::numeric_limits<std::int32_t>::max(), hi = -1;
      for (std::size_t i = b * lanes; i < (b + 1) * lanes; ++i)
        if (code[i] >= 0) {
          lo = std::min(lo, output[i]);
          hi = std::max(hi, output[i]);
        }
      if (hi < 0) lo = hi = 0;
      if (hi - lo >= static_cast<std::int32_t>(2 * lanes)) continue;
      base[b] = lo;
      furthest = std::max(furthest, lo);
      for (std::size_t i = b * lanes; i < (b + 1) * lanes; ++i) relative[i] = code[i] >= 0 ? output[i] - lo : 0;
    }
    every_vector_has_base = std::find(base.begin(), base.end(), -1) == base.end();
    table = {inputs, output.data(), base.data(), relative.data(), code.data(),
             static_cast<std::size_t>(furthest) + 2 * lanes};
  }
};

// The calling thread's table (PlaneTableStorage or ReverseTableStorage), rebuilt for this view in
// storage that only grows, so that steady-state calls do not allocate.
template <typename TableStorage>
const TableStorage& thread_table(const View& v, std::size_t lanes) {
  thread_local TableStorage storage;
  storage.rebuild(v, lanes);
  return storage;
}

// channels_first planes with fewer output cols than two vectors take the plane kernels when their
// gather table is small (it is read once per plane; it must stay in cache).
bool use_plane_kernels(const View& v, std::size_t lanes) {
  if (v.channels != 1 || v.axes[2].out >= static_cast<std::int64_t>(2 * lanes)) return false;
  const std::int64_t outputs = v.axes[0].out * v.axes[1].out * v.axes[2].out;
  const std::int64_t cells = v.axes[0].window * v.axes[1].window * v.axes[2].window;
  return outputs * cells * 8 <= (std::int64_t{1} << 18) && v.in_image < (std::int64_t{1} << 31);
}

// Windowed forward, max (optionally saving the argmax) or average: one task per output row.
// The real input rows of output row (od, oh)'s window in one channels_last image (`row_floats`
// apart) and their first cell indices in the window; returns how many.
std::size_t window_rows(const View& v, const float* image, std::int64_t row_floats, std::int64_t od,
                        std::int64_t oh, const float** row_ptrs, std::int32_t* row_ids) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  std::size_t n = 0;
  const std::int64_t d0 = od * D.stride - D.pad_before, h0 = oh * H.stride - H.pad_before;
  for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
    for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h) {
      row_ptrs[n] = image + (d * H.in + h) * row_floats;
      row_ids[n] = static_cast<std::int32_t>(((d - d0) * H.window + (h - h0)) * W.window);
      ++n;
    }
  return n;
}

// Max without argmax over 2D windows of 3x3 with stride 2 (and no depth window): output rows run
// as a chain (simd::forward_row_max_window3_chain), the row shared by consecutive windows reduced
// once.
bool window3_row_chain_applies(const PoolPlan& plan, const View& v, const std::uint8_t* argmax) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  return plan.spec.op == PoolOp::kMax && !argmax && W.window == 3 && W.stride == 2 && D.window == 1 &&
         H.window == 3 && H.stride == 2 && H.in > 1;
}
// Output row oh's window ends on the input row where output row oh + 1's begins.
bool shares_window_row(const AxisGeometry& H, std::int64_t oh) {
  return oh + 1 < H.out && H.window_end(oh) - 1 == H.window_begin(oh + 1);
}
// Max without argmax over 3D windows of 3x3x3 with stride 2, channels_last: output rows in order
// through simd::forward_row_max_window3_volume, each input row's and each depth's maxima reduced
// once (the direct kernel reduced 27 cells per output).
bool window3_volume_applies(const PoolPlan& plan, const View& v, const std::uint8_t* argmax) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  return plan.spec.op == PoolOp::kMax && !argmax && v.channels > 1 && W.window == 3 && W.stride == 2 &&
         H.window == 3 && H.stride == 2 && D.window == 3 && D.stride == 2;
}
void forward_output_row(const View& v, bool is_max, const float* input, std::int64_t task, float* out,
                        std::uint8_t* argmax, bool stream, const float** row_ptrs, std::int32_t* row_ids);

// A thread's output rows [lo, hi) of a window3_volume_applies plan. Rows of one image may pass
// maxima on to later ones (simd::Window3Volume); an image whose cells may hold a NaN is redone
// row by row through the exact kernels.
void window3_volume_rows(const View& v, const float* input, float* output, std::int64_t lo, std::int64_t hi,
                         bool stream, const float** row_ptrs, std::int32_t* row_ids) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const std::int64_t out_row = v.axes[2].out * v.channels, row_floats = v.axes[2].in * v.channels;
  float* rows_top_storage = thread_scratch<float, 0>(static_cast<std::size_t>(3 * out_row));
  float* const rows_top[3] = {rows_top_storage, rows_top_storage + out_row, rows_top_storage + 2 * out_row};
  float* depth_tops = thread_scratch<float, 1>(static_cast<std::size_t>(H.out * out_row));
  // Per output row oh: whether depth_tops holds maxima for row (od + 1, oh) (saved by row (od, oh)).
  std::uint8_t* depth_top_saved = thread_scratch<std::uint8_t, 0>(static_cast<std::size_t>(H.out));
  bool rows_top_saved = false, rows_top_with_depth_top = false, suspect = false;
  std::int64_t image_lo = lo;
  auto settle = [&](std::int64_t end) {  // the rows of one image, [image_lo, end)
    if (suspect) {
      for (std::int64_t task = image_lo; task < end; ++task)
        forward_output_row(v, true, input, task, output + task * out_row, nullptr, stream, row_ptrs, row_ids);
    }
    suspect = false;
    image_lo = end;
  };
  for (std::int64_t task = lo; task < hi; ++task) {
    const std::int64_t image = task / (D.out * H.out), od = (task / H.out) % D.out, oh = task % H.out;
    if (task > lo && od == 0 && oh == 0) settle(task);
    window_rows(v, input + image * v.in_image, row_floats, od, oh, row_ptrs, row_ids);
    simd::Window3Volume args{row_ptrs,
                             static_cast<std::size_t>(D.window_end(od) - D.window_begin(od)),
                             static_cast<std::size_t>(H.window_end(oh) - H.window_begin(oh)),
                             cols_of(v),
                             static_cast<std::size_t>(v.channels),
                             output + task * out_row,
                             stream,
                             rows_top,
                             false,
                             task + 1 < hi && shares_window_row(H, oh),
                             depth_tops + oh * out_row,
                             depth_top_saved[oh] != 0,
                             task + H.out < hi && shares_window_row(D, od)};
    // rows_top holds the depths the previous row computed: the same ones only if both took (or
    // both did not take) their first depth from depth_tops.
    args.use_rows_top = rows_top_saved && rows_top_with_depth_top == args.use_depth_top;
    if (!simd::forward_row_max_window3_volume(args, suspect)) {
      forward_output_row(v, true, input, task, args.out, nullptr, stream, row_ptrs, row_ids);
      args.save_rows_top = args.save_depth_top = false;
    }
    depth_top_saved[oh] = args.save_depth_top;
    rows_top_saved = args.save_rows_top;
    rows_top_with_depth_top = args.use_depth_top;
  }
  settle(hi);
}

// One output row of a chain, saving its last row's window maxima for the next when `save_next`;
// a row the chain kernel does not take goes through forward_row_max and ends the chain.
void chain_row(const simd::ForwardRow& a, bool save_next, simd::Window3RowChain& chain) {
  chain.save_bottom = save_next;
  const bool chained = simd::forward_row_max_window3_chain(a, chain);
  if (!chained) simd::forward_row_max(a);
  chain.use_top = chained && chain.save_bottom;
  chain.top_suspect = chain.bottom_suspect;
}

// channels_first windowed forward through the channels_last kernels. Groups of `vectors` x
// `lanes` planes are transposed, band by band, into a channels_last image in L2 (in-register
// block transposes, simd::planes_to_channels_last, `lanes` planes at a time), pooled there by the
// channels_last row kernels (vectors across the group's planes), and transposed back. A band is
// the input rows of one output depth slice and up to `band_rows` consecutive output rows: whole
// planes when they are small, else as many rows as fit in band_bytes (256 KiB). Rows shared by
// neighbouring bands (overlapping windows) are transposed twice. Returns the number of planes done
// (whole groups; 0 when even one output row's input does not fit).
constexpr std::int64_t kDefaultBandBytes = std::int64_t{256} << 10;
std::atomic<std::int64_t> band_bytes{kDefaultBandBytes};
constexpr std::int64_t kWideBandMaxBytes = std::int64_t{32} << 10;

std::int64_t transposed_planes_forward(const PoolPlan& plan, const View& v, std::size_t lanes, std::int64_t vectors,
                                       const float* input, float* output, std::uint8_t* argmax) {
  const auto L = static_cast<std::int64_t>(lanes) * vectors;  // planes per group: the image's channels
  const std::int64_t groups = v.images / L;
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::int64_t row_floats = W.in * L;  // one input row of the group, channels_last
  const std::int64_t fit_rows = band_bytes.load() / (row_floats * 4) / D.window;  // input rows per depth plane
  // (Offsets of the gathers of partial blocks are int32.)
  if (groups == 0 || fit_rows < std::min(H.window, H.in) || v.in_image * L >= (std::int64_t{1} << 31)) return 0;
  const std::int64_t band_rows = std::clamp<std::int64_t>((fit_rows - H.window) / H.stride + 1, 1, H.out);
  const std::int64_t bands = (H.out + band_rows - 1) / band_rows;
  const std::int64_t band_in_rows = std::min(H.in, (band_rows - 1) * H.stride + H.window);
  const std::int64_t tasks = groups * D.out * bands;
  const bool is_max = plan.spec.op == PoolOp::kMax;
  // 2x2/2 windows with no padding: the band's output rows in one call of the pair-windows kernel
  // (vectors across the group's planes), not a row kernel per row. (256,64,11,11) 2 threads:
  // max 0.46-0.48 -> 0.41-0.44 ms, average 0.49-0.52 -> 0.42-0.45 ms; in cache 24 -> 17.5 us.
  auto pairs = [](const AxisGeometry& a) { return a.window == 2 && a.stride == 2 && a.pad_before == 0 && 2 * a.out <= a.in; };
  const bool pair_rows = D.window == 1 && pairs(H) && pairs(W);
  // Wider groups only where they measured faster (the caller then takes one vector): not for the
  // pair-windows kernel (11x11 2x2/2 in cache 12.5 -> 13.5 us), nor for bands of more than 32 KiB,
  // which leave L1 (13x13 3x3/3 20.8 -> 23.0 us).
  if (vectors > 1 && (pair_rows || D.window * band_in_rows * row_floats * 4 > kWideBandMaxBytes)) return 0;
  // Input rows [first, end) along H and their planes along D that task t reads.
  struct Band {
    std::int64_t g, od, oh0, oh1, h0, h1;
  };
  auto band_of = [&](std::int64_t t) {
    Band b;
    b.g = t / (D.out * bands);
    b.od = (t / bands) % D.out;
    b.oh0 = (t % bands) * band_rows;
    b.oh1 = std::min(H.out, b.oh0 + band_rows);
    b.h0 = H.window_begin(b.oh0);
    b.h1 = H.window_end(b.oh1 - 1);
    return b;
  };
#pragma omp parallel if (parallel_worth(v))
  {
    const auto pooled_size = static_cast<std::size_t>(band_rows * W.out * L);
    float* image = thread_scratch<float, 0>(static_cast<std::size_t>(D.window * band_in_rows * row_floats));
    float* pooled = thread_scratch<float, 1>(pooled_size);
    std::uint8_t* indices = thread_scratch<std::uint8_t, 0>(argmax ? pooled_size : 0);
    WindowRowStorage window(static_cast<std::size_t>(D.window * H.window));
    const float** row_ptrs = window.ptrs();
    std::int32_t* row_ids = window.ids();
    // 3x3/2 max: the band's output rows as a chain (simd::Window3RowChain, see windowed_forward).
    const bool row_chain = window3_row_chain_applies(plan, v, argmax);
    simd::Window3RowChain chain{thread_scratch<float, 2>(row_chain ? static_cast<std::size_t>(W.out * L) : 0), false,
                                false, false};
    const TaskShare share = task_share(tasks, quartered(v));
    for (std::int64_t k = 0; k < share.count; ++k) {
      const Band b = band_of(share.at(k));
      const std::int64_t d_begin = D.window_begin(b.od), d_end = D.window_end(b.od);
      const float* first = input + b.g * L * v.in_image;
      const std::int64_t band_cells = (b.h1 - b.h0) * W.in;
      // Prefetch the next task's band while this one is transposed (same rows relative to its start).
      std::ptrdiff_t ahead = 0;
      if (k + 1 < share.count) {
        const Band n = band_of(share.at(k + 1));
        ahead = (n.g * L * v.in_image + (D.window_begin(n.od) * H.in + n.h0) * W.in) -
                (b.g * L * v.in_image + (d_begin * H.in + b.h0) * W.in);
      }
      for (std::int64_t d = d_begin; d < d_end; ++d)
        for (std::int64_t q = 0; q < vectors; ++q)
          simd::planes_to_channels_last(first + q * static_cast<std::int64_t>(lanes) * v.in_image + (d * H.in + b.h0) * W.in,
                                        static_cast<std::size_t>(band_cells), static_cast<std::size_t>(v.in_image),
                                        image + (d - d_begin) * band_in_rows * row_floats + q * static_cast<std::int64_t>(lanes),
                                        ahead, static_cast<std::size_t>(L));
      const std::int64_t d0 = b.od * D.stride - D.pad_before;
      if (pair_rows) {
        simd::PairWindows a{};
        a.offsets[0] = 0;
        a.offsets[1] = row_floats;
        a.nrows = 2;
        a.row_step = 2 * row_floats;
        a.cols_out = static_cast<std::size_t>(W.out);
        a.channels = static_cast<std::size_t>(L);
        a.in = image;  // the band starts at its first output row's window
        a.rows = static_cast<std::size_t>(b.oh1 - b.oh0);
        a.end = image + band_in_rows * row_floats;
        a.out = pooled;
        a.argmax = argmax ? indices : nullptr;
        if (is_max) {
          simd::forward_pair_windows_max(a);
        } else {
          simd::forward_pair_windows_average(a);
        }
      }
      for (std::int64_t oh = b.oh0; oh < b.oh1 && !pair_rows; ++oh) {
        const std::int64_t h_start = oh * H.stride - H.pad_before;
        std::size_t n = 0;
        for (std::int64_t d = d_begin; d < d_end; ++d)
          for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h) {
            row_ptrs[n] = image + ((d - d_begin) * band_in_rows + (h - b.h0)) * row_floats;
            row_ids[n] = static_cast<std::int32_t>(((d - d0) * H.window + (h - h_start)) * W.window);
            ++n;
          }
        const auto at = static_cast<std::size_t>((oh - b.oh0) * W.out * L);
        const simd::ForwardRow args{row_ptrs, row_ids, n, cols_of(v), static_cast<std::size_t>(L), pooled + at,
                                    argmax ? indices + at : nullptr, 0, false};
        if (row_chain) {
          chain_row(args, oh + 1 < b.oh1 && shares_window_row(H, oh), chain);  // a band's last row saves nothing
        } else if (is_max) {
          simd::forward_row_max(args);
        } else {
          simd::forward_row_average(args);
        }
      }
      const std::int64_t out_cells = (b.oh1 - b.oh0) * W.out;
      const std::int64_t out_at = b.g * L * v.out_image + (b.od * H.out + b.oh0) * W.out;
      for (std::int64_t q = 0; q < vectors; ++q)
        simd::channels_last_to_planes(pooled + q * static_cast<std::int64_t>(lanes), static_cast<std::size_t>(out_cells),
                                      output + out_at + q * static_cast<std::int64_t>(lanes) * v.out_image,
                                      static_cast<std::size_t>(v.out_image), false, static_cast<std::size_t>(L));
      if (argmax) {
        for (std::int64_t o = 0; o < out_cells; ++o)
          for (std::int64_t l = 0; l < L; ++l)
            argmax[out_at + l * v.out_image + o] = indices[static_cast<std::size_t>(o * L + l)];
      }
    }
  }
  return groups * L;
}

// channels_last 1D/2D images with short rows (small images, few channels): the hardware
// prefetcher leaves the memory idle between output rows, so a task fetches the input rows of the
// task kPrefetchTasks ahead into L2 itself (2 threads, 26x26x32 max 2x2/2: 0.53 -> 0.42 ms;
// 3x3/2 'same': 0.69 -> 0.41 ms; 11x11x64: 0.35 -> 0.24 ms). channels_first 2D planes with rows
// of up to 4 KiB do the same four (smaller) tasks ahead (Xeon, 112x112 planes, average 2x2/2,
// 6 interleaved rounds: median 9.3 -> 8.1 ms). Measured slower, and so left to the hardware: rows over 16 KiB
// (112x112x64), 3D (56x56x32: 3.7 -> 4.1 ms) and channels_first 1D rows (4096 cols: 4.1 -> 4.5 ms).
constexpr std::int64_t kPrefetchTasks = 2;
constexpr std::int64_t kRowPairsMaxWindowRows = 16;  // windowed_forward's row pairs: window rows on the stack
constexpr std::int64_t kPrefetchMaxRowBytes = std::int64_t{16} << 10;
constexpr std::int64_t kPrefetchTasksChannelsFirst = 4;
constexpr std::int64_t kPrefetchMaxRowBytesChannelsFirst = std::int64_t{4} << 10;
constexpr std::int64_t kPrefetchMaxUpstreamRowBytes = 1024;  // channels_first backward, see windowed_backward

// Prefetches (into L2) the input rows of output row `task` (of `rows`) of a windowed pass.
void prefetch_task_rows(const View& v, const float* input, std::int64_t row_floats, std::int64_t task,
                        std::int64_t rows) {
  if (task >= rows) return;
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const std::int64_t b = task / (D.out * H.out);
  const std::int64_t od = (task / H.out) % D.out;
  const std::int64_t oh = task % H.out;
  const float* image = input + b * v.in_image;
  for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
    for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h) {
      const float* row = image + (d * H.in + h) * row_floats;
      for (std::int64_t i = 0; i < row_floats; i += 16) prefetch_l2(row + i);
    }
}

// channels_first 2x2/2 without padding on planes with an even number of cols and rows too short
// for the row kernels (fewer than two vectors of outputs): simd::forward_plane_pairs_max and
// _average, whole vectors over the flattened plane instead of transposing it (2 threads,
// (128,32,26,26) through pool_forward: max 1.2 -> 0.62 ms, average 1.22 -> 0.65 ms; our
// channels_last takes 0.65-0.7 ms on the same data).
bool plane_pairs_apply(const View& v, std::size_t lanes) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  auto pairs = [](const AxisGeometry& a) { return a.window == 2 && a.stride == 2 && a.pad_before == 0 && 2 * a.out <= a.in; };
  return v.channels == 1 && D.in == 1 && D.window == 1 && pairs(H) && pairs(W) &&
         W.in % 2 == 0 && W.out < static_cast<std::int64_t>(2 * lanes);
}

void plane_pairs_forward(const PoolPlan& plan, const View& v, std::size_t lanes, const float* input, float* output,
                         std::uint8_t* argmax) {
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::size_t scratch =
      simd::pair_scratch_floats(static_cast<std::size_t>(H.out), static_cast<std::size_t>(W.in), lanes);
#pragma omp parallel if (parallel_worth(v))
  {
    // max: pair maxima and (argmax) their indices; average: pair sums and their cells.
    float* pair_values = thread_scratch<float, 0>(scratch);
    float* pair_more = thread_scratch<float, 1>(is_max ? (argmax ? scratch : 0) : 2 * scratch);
    const TaskShare share = task_share(v.images, quartered(v));
    for (std::int64_t k = 0; k < share.count; ++k) {
      const std::int64_t p = share.at(k);
      const float* in = input + p * v.in_image;
      if (k + 1 < share.count) {  // the next plane, while this one is reduced
        const float* next = input + share.at(k + 1) * v.in_image;
        for (std::int64_t i = 0; i < v.in_image; i += 16) prefetch_l1(next + i);
      }
      const auto rows = static_cast<std::size_t>(H.out), cols = static_cast<std::size_t>(W.in);
      if (is_max) {
        simd::forward_plane_pairs_max(in, rows, cols, output + p * v.out_image,
                                      argmax ? argmax + p * v.out_image : nullptr, pair_values, pair_more);
      } else {
        simd::forward_plane_pairs_average(in, rows, cols, output + p * v.out_image, pair_values, pair_more);
      }
    }
  }
}

// 2x2/2 (2D) or 2x2x2/2 (3D) without padding, channels_first on rows long enough for whole
// vectors of outputs, or channels_last with whole vectors of channels:
// simd::forward_pair_windows_max and _average run down the output rows of a task in one loop,
// with none of the row kernels' per-row setup (window rows, geometry, the partial last vector
// through the generic loop). Tasks are runs of output rows, split at the depth slices (od) where
// the input rows stop being evenly spaced. channels_last, 2 threads, 4 interleaved rounds:
// (128,26,26,32) max 0.60-0.74 -> 0.50-0.57 ms, average 0.64-0.74 -> 0.53-0.55 ms; (256,11,11,64)
// max 0.40-0.53 -> 0.34-0.41 ms; 3D 56x56x32 4.4-5.1 -> 4.0-4.3 ms; the training forward (with
// argmax, in cache) on 26x26x32 342-373 -> 255-264 us. The software prefetch of
// windowed_forward's short channels_last rows made it slower (26x26: 0.55-0.72 ms). 1D 2/2 runs
// here too, a task's rows one by one (64,4096,64), 2 threads, 4 interleaved rounds, against the
// row kernels: channels_last max 3.37 -> 3.17 ms, average (with the pair kernel's probe) 3.81 ->
// 3.18 ms, channels_first average 3.59 -> 3.30 ms; backward channels_last max 2.78 -> 2.45 ms,
// average 2.55 -> 2.40 ms.
bool pair_windows_apply(const View& v, std::size_t lanes) {
  auto pairs = [](const AxisGeometry& a) {
    return a.window == 2 && a.stride == 2 && a.pad_before == 0 && 2 * a.out <= a.in;
  };
  const AxisGeometry& D = v.axes[0];
  const bool vectors = v.channels == 1 ? v.axes[2].out >= static_cast<std::int64_t>(lanes)
                                       : v.channels % static_cast<std::int64_t>(lanes) == 0;
  const AxisGeometry& H = v.axes[1];
  return vectors && (D.in == 1 ? D.window == 1 : pairs(D)) && (H.in == 1 ? H.window == 1 : pairs(H)) &&
         pairs(v.axes[2]);
}

// The window rows of a pair-windows plan (window order) and the step between output rows.
simd::PairGeometry pair_geometry(const View& v) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  simd::PairGeometry g{};
  const std::int64_t row_floats = W.in * v.channels;
  g.nrows = 0;
  for (std::int64_t kd = 0; kd < D.window; ++kd) {
    for (std::int64_t kh = 0; kh < H.window; ++kh) g.offsets[g.nrows++] = (kd * H.in + kh) * row_floats;
  }
  g.row_step = H.stride * row_floats;
  g.cols_out = static_cast<std::size_t>(W.out);
  g.channels = static_cast<std::size_t>(v.channels);
  return g;
}

// Splits output rows [begin, end) into runs within one depth slice, where the input rows are
// evenly spaced: run(first, stop, image, od, oh of first).
template <class Run>
void for_each_slice_run(const View& v, std::int64_t begin, std::int64_t end, const Run& run) {
  const std::int64_t H_out = v.axes[1].out, D_out = v.axes[0].out;
  while (begin < end) {
    const std::int64_t slice = begin / H_out;
    const std::int64_t stop = std::min(end, (slice + 1) * H_out);
    run(begin, stop, slice / D_out, slice % D_out, begin % H_out);
    begin = stop;
  }
}

void pair_windows_forward(const PoolPlan& plan, const View& v, std::size_t lanes, const float* input, float* output,
                          std::uint8_t* argmax) {
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  simd::PairWindows base{pair_geometry(v)};
  const std::int64_t row_floats = W.in * v.channels;
  base.end = input + v.images * v.in_image;
  const std::int64_t rows = v.images * D.out * H.out, out_row = W.out * v.channels;
  base.stream = v.images * v.out_image * 4 >= stream_bytes.load();
  // Tasks of about 16 KiB of output and a multiple of `lanes` rows, so that each starts on a
  // vector boundary of the output (the kernel streams rows that are not whole vectors in groups
  // of rows that are).
  const auto step = static_cast<std::int64_t>(lanes);
  const std::int64_t task_rows = step * std::max<std::int64_t>(1, 4096 / (step * out_row));
  const std::int64_t tasks = (rows + task_rows - 1) / task_rows;
#pragma omp parallel if (parallel_worth(v))
  {
#pragma omp for schedule(static) nowait
    for (std::int64_t t = 0; t < tasks; ++t) {
      for_each_slice_run(v, t * task_rows, std::min(rows, (t + 1) * task_rows),
                         [&](std::int64_t begin, std::int64_t stop, std::int64_t image, std::int64_t od,
                             std::int64_t oh) {
                           simd::PairWindows a = base;
                           a.in = input + image * v.in_image + (od * D.stride * H.in + oh * H.stride) * row_floats;
                           a.rows = static_cast<std::size_t>(stop - begin);
                           a.out = output + begin * out_row;
                           a.argmax = argmax ? argmax + begin * out_row : nullptr;
                           if (is_max) {
                             simd::forward_pair_windows_max(a);
                           } else {
                             simd::forward_pair_windows_average(a);
                           }
                         });
    }
    if (base.stream) hwy::FlushStream();  // this thread's non-temporal stores, before the closing barrier
  }
}

// One output row (task = (image, od, oh)) of a windowed forward through the row kernels, into
// `out` (and `argmax`, optional): the task's W.out * channels outputs. output_row_args gathers the
// kernel's arguments (its window rows into row_ptrs and row_ids), forward_output_row runs it.
simd::ForwardRow output_row_args(const View& v, const float* input, std::int64_t task, float* out,
                                 std::uint8_t* argmax, bool stream, const float** row_ptrs, std::int32_t* row_ids) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const std::int64_t row_floats = v.axes[2].in * v.channels;
  const std::int64_t b = task / (D.out * H.out);
  const std::int64_t od = (task / H.out) % D.out;
  const std::int64_t oh = task % H.out;
  const std::size_t n = window_rows(v, input + b * v.in_image, row_floats, od, oh, row_ptrs, row_ids);
  const std::int64_t readable = (input + v.images * v.in_image) - row_ptrs[n - 1];
  return simd::ForwardRow{row_ptrs, row_ids, n, cols_of(v), static_cast<std::size_t>(v.channels),
                          out, argmax, readable, stream};
}

void forward_output_row(const View& v, bool is_max, const float* input, std::int64_t task, float* out,
                        std::uint8_t* argmax, bool stream, const float** row_ptrs, std::int32_t* row_ids) {
  const simd::ForwardRow args = output_row_args(v, input, task, out, argmax, stream, row_ptrs, row_ids);
  if (is_max) {
    simd::forward_row_max(args);
  } else {
    simd::forward_row_average(args);
  }
}

// channels_first max without argmax, stride 2 along an even number of cols: separable
// (simd::cols_max_stride2, then simd::rows_max), one task per plane (or 3D volume), whose column
// maxima stay in L2. Taken where it shares work the row kernels repeat: rows too short for them
// (which otherwise go through transposes), or windows that overlap along the rows or depth. On
// 112x112 planes 2x2/2 it measured the same as the row kernel (7.5 ms), so those keep it. 2
// threads, 3 interleaved rounds of poolnet-bench: (128,32,26,26) 3x3/2 'same' 1.26-1.47 ->
// 0.81-0.97 ms; (8,32,32,56,56) 3x3x3/2 'same' 11.6-12.6 -> 6.8-7.8 ms, 2x2x2/2 8.1-8.4 ->
// 6.3-7.4 ms; (32,64,112,112) 3x3/2 'same' 8.8-10.1 -> 8.3-9.6 ms (those planes now take
// window3_planes_forward, below). A plane that holds a NaN is redone by the row kernels.
constexpr std::int64_t kSeparableMaxImageFloats = std::int64_t{1} << 18;

bool separable_applies(const PoolPlan& plan, const View& v, const std::uint8_t* argmax, std::size_t lanes) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const bool supported = plan.spec.op == PoolOp::kMax && !argmax && v.channels == 1 && W.stride == 2 &&
                         W.in % 2 == 0 && W.window <= simd::kColsMaxWindow && (D.in > 1 || H.in > 1) &&
                         v.in_image <= kSeparableMaxImageFloats;
  const bool short_rows = W.out < static_cast<std::int64_t>(2 * lanes);
  const bool overlapping = H.window > H.stride || D.window > D.stride;
  return supported && (short_rows || overlapping);
}

// The lane masks of simd::ColsStride2 for one slice of `rows` rows, in storage that only grows.
struct ColsMaskStorage {
  std::vector<std::uint8_t> bytes;
  std::array<const std::uint8_t*, simd::kColsMaxWindow> masks{};

  void rebuild(const AxisGeometry& W, std::size_t rows, std::size_t lanes) {
    const auto half = static_cast<std::size_t>(W.in / 2);
    const std::size_t pairs = rows * half, vectors = (pairs + lanes - 1) / lanes;
    const std::size_t mask_bytes = (lanes + 7) / 8, per_term = vectors * mask_bytes;
    bytes.assign(static_cast<std::size_t>(W.window) * per_term + 8, 0);
    for (std::int64_t t = 0; t < W.window; ++t) {
      const std::int64_t u = t - W.pad_before;
      // Cell 2 * col + u leaves the row for some col only when u < 0 or u > 1.
      if (u >= 0 && u <= 1) {
        masks[static_cast<std::size_t>(t)] = nullptr;
        continue;
      }
      std::uint8_t* term = bytes.data() + static_cast<std::size_t>(t) * per_term;
      for (std::size_t j = 0; j < pairs; ++j) {
        const std::int64_t cell = 2 * static_cast<std::int64_t>(j % half) + u;
        if (cell >= 0 && cell < W.in) term[j / lanes * mask_bytes + j % lanes / 8] |= std::uint8_t(1u << (j % lanes % 8));
      }
      masks[static_cast<std::size_t>(t)] = term;
    }
  }
};

// The rows of simd::RowsMaxTable for a plan's output rows, in storage that only grows.
struct RowsMaxStorage {
  std::vector<std::uint32_t> first, offsets;

  simd::RowsMaxTable rebuild(const View& v) {
    const AxisGeometry& D = v.axes[0];
    const AxisGeometry& H = v.axes[1];
    const std::int64_t half = v.axes[2].in / 2;
    first.clear();
    offsets.clear();
    for (std::int64_t od = 0; od < D.out; ++od)
      for (std::int64_t oh = 0; oh < H.out; ++oh) {
        first.push_back(static_cast<std::uint32_t>(offsets.size()));
        for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
          for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h)
            offsets.push_back(static_cast<std::uint32_t>((d * H.in + h) * half));
      }
    first.push_back(static_cast<std::uint32_t>(offsets.size()));
    return {static_cast<std::size_t>(D.out * H.out), static_cast<std::size_t>(v.axes[2].out), first.data(),
            offsets.data()};
  }
};

// Pass 1's bands: 4 KiB of input rows (8 KiB measured 5-15% slower on 3D 56x56 planes).
constexpr std::int64_t kSeparableBandBytes = std::int64_t{4} << 10;

void separable_planes_forward(const View& v, const float* input, float* output) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::size_t lanes = simd::lanes();
  // Pass 1 runs on bands of whole rows whose input, even and odd cells stay in L1.
  const std::int64_t band_rows = std::clamp<std::int64_t>(kSeparableBandBytes / (W.in * 4), 1, H.in);
  thread_local ColsMaskStorage mask_storage;
  thread_local RowsMaxStorage rows_storage;
  mask_storage.rebuild(W, static_cast<std::size_t>(band_rows), lanes);
  const simd::ColsStride2 band{static_cast<std::size_t>(band_rows), static_cast<std::size_t>(W.in / 2), W.window,
                               W.pad_before, mask_storage.masks.data(), (lanes + 7) / 8};
  const simd::RowsMaxTable rows = rows_storage.rebuild(v);
  const std::int64_t half = W.in / 2;
  const float* input_end = input + v.images * v.in_image;
  // Large outputs whose planes are whole aligned vectors are assembled in L1 and streamed out in
  // whole lines (no read-for-ownership): (32,64,112,112) 3x3/2 'same', 6 interleaved rounds,
  // median 8.1 -> 7.2 ms.
  const bool stream = v.images * v.out_image * 4 >= stream_bytes.load() && v.out_image % static_cast<std::int64_t>(lanes) == 0 &&
                      reinterpret_cast<std::uintptr_t>(output) % (lanes * sizeof(float)) == 0;
#pragma omp parallel if (parallel_worth(v))
  {
    float* scratch = thread_scratch<float, 0>(simd::cols_stride2_scratch_floats(band, lanes));
    float* col_max = thread_scratch<float, 1>(static_cast<std::size_t>(D.in * H.in * half) + 2 * lanes);
    float* plane_out = stream ? thread_scratch<float, 2>(static_cast<std::size_t>(v.out_image)) : nullptr;
    WindowRowStorage window(static_cast<std::size_t>(D.window * H.window));
    const TaskShare share = task_share(v.images, quartered(v));
    for (std::int64_t k = 0; k < share.count; ++k) {
      const std::int64_t p = share.at(k);
      const float* in = input + p * v.in_image;
      const float* next_plane = k + 1 < share.count ? input + share.at(k + 1) * v.in_image : input_end;
      bool finite = true;
      for (std::int64_t d = 0; d < D.in && finite; ++d)
        for (std::int64_t r = 0; r < H.in && finite; r += band_rows) {
          simd::ColsStride2 part = band;
          part.rows = static_cast<std::size_t>(std::min(band_rows, H.in - r));
          const float* first = in + (d * H.in + r) * W.in;
          // The next band (of this plane or the next) into L2 while this one is reduced.
          const bool last_band = d + 1 == D.in && r + band_rows >= H.in;
          const float* ahead = last_band ? next_plane : first + band_rows * W.in;
          const float* ahead_end = std::min(ahead + band_rows * W.in, input_end);
          for (const float* q = ahead; q < ahead_end; q += 16) prefetch_l2(q);
          finite = simd::cols_max_stride2(part, first, scratch, col_max + (d * H.in + r) * half);
        }
      if (finite && stream) {
        simd::rows_max(rows, col_max, plane_out);
        simd::stream_copy(plane_out, output + p * v.out_image, static_cast<std::size_t>(v.out_image));
      } else if (finite) {
        simd::rows_max(rows, col_max, output + p * v.out_image);
      } else {
        for (std::int64_t task = p * D.out * H.out; task < (p + 1) * D.out * H.out; ++task)
          forward_output_row(v, true, input, task, output + task * W.out, nullptr, false, window.ptrs(), window.ids());
      }
    }
    if (stream) hwy::FlushStream();  // this thread's non-temporal stores, before the closing barrier
  }
}

// channels_first max without argmax, 3x3/2 windows with no padding before, on rows of at least a
// vector of outputs: simd::forward_plane_max_window3_stride2, one plane per task, which reads the
// input once and keeps its work in registers where the separable pass below went through
// scratch (in cache 2.5 -> 1.2 us per 112x112 plane, the same as 2x2/2). 2 threads, 4-5
// interleaved rounds of poolnet-bench: (32,64,112,112) 'same' 6.26 -> 5.51 ms and 5.90 -> 5.73 ms;
// (128,64,56,56) 6.01 -> 5.57 ms. Rows of 13 outputs (26x26) measured slower in memory, and keep
// the separable pass. Output rows that may hold a NaN are redone by the row kernels. Stores
// straight to the output measured the same as assembling each plane and streaming it out.
bool window3_planes_apply(const PoolPlan& plan, const View& v, const std::uint8_t* argmax, std::size_t lanes) {
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const auto is_3_stride_2 = [](const AxisGeometry& a) { return a.window == 3 && a.stride == 2 && a.pad_before == 0; };
  return plan.spec.op == PoolOp::kMax && !argmax && v.channels == 1 && v.axes[0].in == 1 && is_3_stride_2(H) &&
         is_3_stride_2(W) && W.in % 2 == 0 && W.out >= static_cast<std::int64_t>(lanes);
}

void window3_planes_forward(const View& v, const float* input, float* output) {
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const float* input_end = input + v.images * v.in_image;
#pragma omp parallel if (parallel_worth(v))
  {
    float* top = thread_scratch<float, 0>(simd::window3_stride2_top_floats(static_cast<std::size_t>(W.out), simd::lanes()));
    std::uint8_t* suspect = thread_scratch<std::uint8_t, 0>(static_cast<std::size_t>(H.out));
    WindowRowStorage window(static_cast<std::size_t>(H.window));
#pragma omp for schedule(static)
    for (std::int64_t p = 0; p < v.images; ++p) {
      const simd::Window3Stride2Plane plane{input + p * v.in_image, H.in, static_cast<std::size_t>(W.in), H.out,
                                            static_cast<std::size_t>(W.out), input_end, top,
                                            output + p * v.out_image, suspect};
      simd::forward_plane_max_window3_stride2(plane);
      for (std::int64_t r = 0; r < H.out; ++r) {
        const std::int64_t task = p * H.out + r;
        if (suspect[r])
          forward_output_row(v, true, input, task, output + task * W.out, nullptr, false, window.ptrs(), window.ids());
      }
    }
  }
}

// channels_first 1D/2D planes whose rows fit in one vector, pooled with stride 1 along the cols,
// without argmax: simd::forward_planes_short_rows_max and _average, the window's cols picked from
// each row in registers, where the transposed path below turns groups of planes to channels_last
// and back and pools them there with the generic row kernels (windows of stride 1 get no
// specialized one). 2 threads, pool_forward over 256 images of 64 planes: 13x13 3x3/1 'same'
// max 2.83 -> 1.02 ms (our channels_last: 1.05 ms), average 3.00 -> 1.17 ms; 7x7 3x3/1 'same'
// max 0.81 -> 0.34 ms; 9x9 2x2/1 max 1.00 -> 0.43 ms, average 1.10 -> 0.48 ms. With stride 2 or
// 3 the kernel measured slower than the transposed path (7x7 3x3/2 'same' 0.24 -> 0.28 ms;
// 11x11 2x2/2 0.43 -> 0.47 ms) or the same (11x11 3x3/2 'same'): it fills only cols_in of the
// lanes, and the transposed path has kernels for 2x2/2 and 3x3/2. A plane that may hold a NaN, or
// with a mean that is not finite, is redone by the row kernels.
bool short_rows_apply(const PoolPlan& plan, const View& v, const std::uint8_t* argmax, std::size_t lanes) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  return !argmax && v.channels == 1 && D.in == 1 && D.window == 1 && W.stride == 1 &&
         W.in <= static_cast<std::int64_t>(lanes) &&
         W.window <= static_cast<std::int64_t>(simd::kShortRowsMaxWindow) &&
         H.in <= static_cast<std::int64_t>(simd::kShortRowsMaxRows) &&
         (plan.spec.op == PoolOp::kMax || plan.spec.op == PoolOp::kAverage);
}

// The real input rows [begin, end) of each output row's window along one axis (H), as the plane
// kernels below take them.
struct WindowRowRanges {
  std::vector<std::uint32_t> begin, end;

  void rebuild(const AxisGeometry& a) {
    begin.assign(static_cast<std::size_t>(a.out), 0);
    end.assign(static_cast<std::size_t>(a.out), 0);
    for (std::int64_t o = 0; o < a.out; ++o) {
      begin[static_cast<std::size_t>(o)] = static_cast<std::uint32_t>(a.window_begin(o));
      end[static_cast<std::size_t>(o)] = static_cast<std::uint32_t>(a.window_end(o));
    }
  }
};

// simd::ShortRows for a plan, in storage that only grows.
struct ShortRowsStorage {
  WindowRowRanges rows;
  std::vector<std::int32_t> col_cell, col_real;
  std::vector<float> count, reciprocal;
  std::vector<std::uint8_t> reciprocal_exact;
  simd::ShortRows table{};

  void rebuild(const View& v, std::size_t lanes) {
    const AxisGeometry& H = v.axes[1];
    const AxisGeometry& W = v.axes[2];
    const auto rows_out = static_cast<std::size_t>(H.out);
    rows.rebuild(H);
    col_cell.assign(static_cast<std::size_t>(W.window) * lanes, 0);
    col_real.assign(static_cast<std::size_t>(W.window) * lanes, 0);
    count.assign(rows_out * lanes, 1.0f);
    reciprocal.assign(rows_out * lanes, 1.0f);
    reciprocal_exact.assign(rows_out, 1);
    for (std::int64_t ow = 0; ow < W.out; ++ow)
      for (std::int64_t k = 0; k < W.window; ++k) {
        const std::int64_t w = ow * W.stride - W.pad_before + k;
        const bool is_real = w >= 0 && w < W.in;
        const auto at = static_cast<std::size_t>(k) * lanes + static_cast<std::size_t>(ow);
        col_cell[at] = static_cast<std::int32_t>(is_real ? w : W.window_begin(ow));
        col_real[at] = is_real ? -1 : 0;
      }
    for (std::size_t oh = 0; oh < rows_out; ++oh) {
      const auto r = static_cast<std::int64_t>(oh);
      for (std::int64_t ow = 0; ow < W.out; ++ow) {
        const std::int64_t n = (H.window_end(r) - H.window_begin(r)) * (W.window_end(ow) - W.window_begin(ow));
        const std::size_t at = oh * lanes + static_cast<std::size_t>(ow);
        count[at] = static_cast<float>(n);
        reciprocal[at] = 1.0f / count[at];
        if ((n & (n - 1)) != 0) reciprocal_exact[oh] = 0;  // x * (1 / n) == x / n for every x only then
      }
    }
    table = {static_cast<std::size_t>(W.in), static_cast<std::size_t>(W.out), static_cast<std::size_t>(H.in),
             rows_out, static_cast<std::size_t>(W.window), rows.begin.data(), rows.end.data(), col_cell.data(),
             col_real.data(), count.data(), reciprocal.data(), reciprocal_exact.data()};
  }
};

// Planes per kernel call.
constexpr std::int64_t kShortRowsPlanesPerCall = 16;

void short_rows_forward(const PoolPlan& plan, const View& v, std::size_t lanes, const float* input, float* output) {
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const std::int64_t rows_out = v.axes[1].out, cols_out = v.axes[2].out;
  const float* input_end = input + v.images * v.in_image;
  // A call's outputs (kShortRowsPlanesPerCall planes: whole vectors, aligned where the output is)
  // are assembled in L1 and streamed out in whole lines when the output is large.
  const bool stream = v.images * v.out_image * 4 >= stream_bytes.load() &&
                      reinterpret_cast<std::uintptr_t>(output) % (lanes * sizeof(float)) == 0;
#pragma omp parallel if (parallel_worth(v))
  {
    const simd::ShortRows& table = thread_table<ShortRowsStorage>(v, lanes).table;
    WindowRowStorage window(static_cast<std::size_t>(v.axes[1].window));
    float* staged = stream ? thread_scratch<float, 0>(static_cast<std::size_t>(kShortRowsPlanesPerCall * v.out_image)) : nullptr;
    std::uint8_t suspect[kShortRowsPlanesPerCall];
    // Calls from the four quarters of the thread's run in turn (four streams, as for the other
    // small planes) measured the same or up to 10 % faster (7x7 and 10x10 planes, stride 2 and 3).
    const TaskShare share = task_share((v.images + kShortRowsPlanesPerCall - 1) / kShortRowsPlanesPerCall, true);
    for (std::int64_t k = 0; k < share.count; ++k) {
      const std::int64_t first = share.at(k) * kShortRowsPlanesPerCall;
      const std::int64_t planes = std::min(kShortRowsPlanesPerCall, v.images - first);
      const bool whole = stream && planes == kShortRowsPlanesPerCall;
      float* out = whole ? staged : output + first * v.out_image;
      const auto n = static_cast<std::size_t>(planes);
      if (is_max) {
        simd::forward_planes_short_rows_max(table, input + first * v.in_image, n, input_end, out, suspect);
      } else {
        simd::forward_planes_short_rows_average(table, input + first * v.in_image, n, input_end, out, suspect);
      }
      for (std::int64_t p = 0; p < planes; ++p)
        for (std::int64_t r = 0; r < rows_out && suspect[p]; ++r)
          forward_output_row(v, is_max, input, (first + p) * rows_out + r, out + (p * rows_out + r) * cols_out, nullptr,
                             false, window.ptrs(), window.ids());
      if (whole) simd::stream_copy(staged, output + first * v.out_image, static_cast<std::size_t>(planes * v.out_image));
    }
    if (stream) hwy::FlushStream();  // this thread's non-temporal stores, before the closing barrier
  }
}

// channels_first 1D/2D planes pooled with stride 1 along rows longer than a vector, without
// argmax: simd::forward_plane_stride1_max and _average, one plane per task, each input row
// copied once between margins of padding so that a window col is one unaligned load, where the
// row kernels take the clipped windows at the row's ends cell by cell and rows of fewer than two
// vectors of outputs were transposed. 2 threads, pool_forward, 3x3/1 'same': (64,64,28,28) max
// 2.58-2.65 -> 1.97-2.04 ms, average 2.70 -> 1.78-1.86 ms; (16,64,56,56) max 3.27-3.32 -> 1.91-1.95
// ms, average 2.10 -> 1.59-1.69 ms; (4,64,112,112) max 2.56 -> 1.60-1.94 ms (our channels_last:
// 1.06-1.45 ms). The average pools from a padded copy of the whole plane, which on 112x112 planes
// no longer fits in L1 and measured slower (1.59 -> 1.76 ms): larger planes keep the row kernels.
// The max reads the cells of vectors inside the row straight from the input (1D (64,64,1024)
// 1.74-1.76 -> 1.65-1.68 ms, 112x112 1.55 -> 1.43 ms). Prefetching the next plane measured the
// same. A plane that may hold a NaN, or with a mean that is not finite, is redone by the row
// kernels.
constexpr std::int64_t kStride1MaxScratchFloats = std::int64_t{1} << 16;
constexpr std::int64_t kStride1AverageMaxScratchFloats = std::int64_t{1} << 13;

// simd::Stride1Plane for a plan, in storage that only grows.
struct Stride1Storage {
  WindowRowRanges rows;
  std::vector<float> col_count;
  simd::Stride1Plane table{};

  void rebuild(const View& v, std::size_t lanes) {
    const AxisGeometry& H = v.axes[1];
    const AxisGeometry& W = v.axes[2];
    const auto rows_out = static_cast<std::size_t>(H.out), cols_out = static_cast<std::size_t>(W.out);
    rows.rebuild(H);
    col_count.assign((cols_out + lanes - 1) / lanes * lanes, 1.0f);
    for (std::int64_t ow = 0; ow < W.out; ++ow)
      col_count[static_cast<std::size_t>(ow)] = static_cast<float>(W.window_end(ow) - W.window_begin(ow));
    const auto window_cols = static_cast<std::size_t>(W.window);
    table = {static_cast<std::size_t>(H.in), static_cast<std::size_t>(W.in), rows_out, cols_out, window_cols,
             static_cast<std::size_t>(W.pad_before), simd::stride1_padded_row_floats(cols_out, window_cols, lanes),
             rows.begin.data(), rows.end.data(), col_count.data()};
  }
};

bool stride1_planes_apply(const PoolPlan& plan, const View& v, const std::uint8_t* argmax, std::size_t lanes) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  if (argmax || v.channels != 1 || D.in != 1 || D.window != 1 || W.stride != 1 || W.in <= static_cast<std::int64_t>(lanes))
    return false;
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const auto scratch = static_cast<std::int64_t>(simd::stride1_scratch_floats(
      static_cast<std::size_t>(H.in), static_cast<std::size_t>(W.out), static_cast<std::size_t>(W.window), is_max, lanes));
  return is_max ? scratch <= kStride1MaxScratchFloats
                : plan.spec.op == PoolOp::kAverage && scratch <= kStride1AverageMaxScratchFloats;
}

void stride1_planes_forward(const PoolPlan& plan, const View& v, std::size_t lanes, const float* input, float* output) {
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const std::int64_t rows_out = v.axes[1].out, cols_out = v.axes[2].out;
  const float* input_end = input + v.images * v.in_image;
#pragma omp parallel if (parallel_worth(v))
  {
    const simd::Stride1Plane& table = thread_table<Stride1Storage>(v, lanes).table;
    float* scratch = thread_scratch<float, 0>(
        simd::stride1_scratch_floats(table.rows_in, table.cols_out, table.window_cols, is_max, lanes));
    WindowRowStorage window(static_cast<std::size_t>(v.axes[1].window));
#pragma omp for schedule(static)
    for (std::int64_t p = 0; p < v.images; ++p) {
      const float* in = input + p * v.in_image;
      float* out = output + p * v.out_image;
      const bool exact = is_max ? simd::forward_plane_stride1_max(table, in, input_end, scratch, out)
                                : simd::forward_plane_stride1_average(table, in, scratch, out);
      for (std::int64_t task = p * rows_out; task < (p + 1) * rows_out && !exact; ++task)
        forward_output_row(v, is_max, input, task, output + task * cols_out, nullptr, false, window.ptrs(),
                           window.ids());
    }
  }
}

// channels_first 1D/2D planes pooled with a stride of 2 or more along rows of up to two vectors
// (11x11 and 26x26 2x2/2 and 3x3/2; max with or without the argmax): simd::forward_planes_paired_rows_max and
// _average, a vector of outputs at a time (two output rows of rows that fit in one vector, else
// one), each window row of it one pair of input vectors whose window cols are picked by
// two-vector permutes. They come first: they beat every kernel below on those planes. Zen 5, 2
// threads, 3 interleaved rounds of poolnet-bench: (256,64,11,11), against transposed bands (whose
// 16x16 transposes took 43 % of the time), max 2x2/2 0.261 -> 0.155 ms, 3x3/2 'same' 0.410 ->
// 0.171 ms, average 2x2/2 0.262 -> 0.152 ms (our channels_last: 0.16-0.19 ms); (128,32,26,26),
// max 3x3/2 'same' against the separable pass 0.448 -> 0.201 ms (channels_last 0.273 ms), 2x2/2
// against the plane pairs: max 0.262 -> 0.194 ms, average 0.309 -> 0.200 ms. The short-rows
// kernel, which reduces every input row on its own with one store per output row, ran 11x11
// 2x2/2 at 0.60 ms (a pool_forward loop). Planes come from memory_streams parts of a thread's run
// in turn, 16 per call, each prefetched 4 KiB ahead. A plane that may hold a NaN, or with a mean
// that is not finite, is redone by the row kernels (with its argmax).
constexpr std::int64_t kPairedRowsPlanesPerCall = 16;
constexpr std::size_t kPairedRowsPrefetchBytes = 4096;

// Output rows per vector of the paired-rows kernels: 2 (rows that fit in one vector), 1 (rows of
// up to two vectors), 0 where they do not apply.
std::int64_t paired_rows_per_vector(const PoolPlan& plan, const View& v, const std::uint8_t* argmax, std::size_t lanes) {
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& W = v.axes[2];
  const auto N = static_cast<std::int64_t>(lanes);
  // (The table's plane offsets are int32.)
  const bool applies = (!argmax || plan.spec.op == PoolOp::kMax) && v.channels == 1 && D.in == 1 && D.window == 1 &&
                       W.stride >= 2 && lanes > 1 &&
                       W.window <= static_cast<std::int64_t>(simd::kPairedRowsMaxWindow) &&
                       v.in_image < (std::int64_t{1} << 31) &&
                       (plan.spec.op == PoolOp::kMax || plan.spec.op == PoolOp::kAverage);
  if (!applies) return 0;
  if (W.in <= N) return 2 * W.out <= N ? 2 : 0;  // always 2 with a stride of 2 or more
  return W.in <= 2 * N && W.out <= N ? 1 : 0;
}

// simd::PairedRows for a plan, in storage that only grows.
struct PairedRowsStorage {
  std::vector<std::int32_t> loads, col_cell, col_real, col_index, row_base;
  std::vector<float> count, reciprocal;
  std::vector<std::uint8_t> reciprocal_exact;
  simd::PairedRows table{};

  void rebuild(const View& v, std::size_t lanes, bool is_max, std::int64_t rows_per_vector) {
    const AxisGeometry& H = v.axes[1];
    const AxisGeometry& W = v.axes[2];
    const std::int64_t vectors = (H.out + rows_per_vector - 1) / rows_per_vector, cols_out = W.out;
    const auto N = static_cast<std::int64_t>(lanes);
    const bool paired = rows_per_vector == 2;  // else one row's two vectors
    loads.assign(static_cast<std::size_t>(vectors * H.window * 2), -1);
    row_base.assign(static_cast<std::size_t>(vectors * H.window * N), 0);
    for (std::int64_t p = 0; p < vectors; ++p)
      for (std::int64_t half = 0; half < 2; ++half) {
        const std::int64_t oh = paired ? (2 * p + half < H.out ? 2 * p + half : 2 * p) : p;
        for (std::int64_t t = 0; t < H.window; ++t) {
          const std::int64_t h = oh * H.stride - H.pad_before + t;
          const bool is_real = h >= 0 && h < H.in;
          // The lanes of this half's outputs (paired), or all of the row's.
          const std::int64_t lane_begin = paired ? half * cols_out : 0, lane_end = paired ? (half + 1) * cols_out : N;
          const std::int64_t first_real = H.window_begin(oh) - (oh * H.stride - H.pad_before);
          for (std::int64_t j = lane_begin; j < lane_end; ++j)
            row_base[static_cast<std::size_t>((p * H.window + t) * N + j)] =
                static_cast<std::int32_t>((is_real ? t : first_real) * W.window);
          const std::int64_t row = is_real ? h : is_max ? H.window_begin(oh) : -1;
          loads[static_cast<std::size_t>((p * H.window + t) * 2 + half)] =
              static_cast<std::int32_t>(row < 0 ? -1 : row * W.in + (paired ? 0 : half * N));
        }
      }
    col_cell.assign(static_cast<std::size_t>(W.window * N), 0);
    col_real.assign(static_cast<std::size_t>(W.window * N), 0);
    col_index.assign(static_cast<std::size_t>(W.window * N), 0);
    for (std::int64_t k = 0; k < W.window; ++k)
      for (std::int64_t j = 0; j < rows_per_vector * cols_out; ++j) {
        const std::int64_t ow = j % cols_out, w = ow * W.stride - W.pad_before + k;
        const bool is_real = w >= 0 && w < W.in;
        const auto at = static_cast<std::size_t>(k * N + j);
        col_cell[at] = static_cast<std::int32_t>((is_real ? w : W.window_begin(ow)) + (j >= cols_out ? N : 0));
        col_real[at] = is_real ? -1 : 0;
        col_index[at] = static_cast<std::int32_t>(is_real ? k : W.window_begin(ow) - (ow * W.stride - W.pad_before));
      }
    count.assign(static_cast<std::size_t>(vectors * N), 1.0f);
    reciprocal.assign(static_cast<std::size_t>(vectors * N), 1.0f);
    reciprocal_exact.assign(static_cast<std::size_t>(vectors), 1);
    for (std::int64_t p = 0; p < vectors; ++p)
      for (std::int64_t j = 0; j < rows_per_vector * cols_out; ++j) {
        const std::int64_t oh = rows_per_vector * p + j / cols_out, ow = j % cols_out;
        if (oh >= H.out) continue;
        const std::int64_t n = (H.window_end(oh) - H.window_begin(oh)) * (W.window_end(ow) - W.window_begin(ow));
        const auto at = static_cast<std::size_t>(p * N + j);
        count[at] = static_cast<float>(n);
        reciprocal[at] = 1.0f / count[at];
        if ((n & (n - 1)) != 0) reciprocal_exact[static_cast<std::size_t>(p)] = 0;
      }
    const auto lanes_a = static_cast<std::size_t>(paired ? W.in : N);
    const auto lanes_b = static_cast<std::size_t>(paired ? W.in : W.in - N);
    table = {static_cast<std::size_t>(v.in_image), static_cast<std::size_t>(v.out_image), static_cast<std::size_t>(vectors),
             static_cast<std::size_t>(rows_per_vector * cols_out), static_cast<std::size_t>(H.window),
             static_cast<std::size_t>(W.window), lanes_a, lanes_b, loads.data(), col_cell.data(), col_real.data(),
             col_index.data(), row_base.data(), count.data(), reciprocal.data(), reciprocal_exact.data()};
  }
};

void paired_rows_forward(const PoolPlan& plan, const View& v, std::size_t lanes, std::int64_t rows_per_vector,
                         const float* input, float* output, std::uint8_t* argmax) {
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const std::int64_t rows_out = v.axes[1].out, cols_out = v.axes[2].out;
  const float* input_end = input + v.images * v.in_image;
#pragma omp parallel if (parallel_worth(v))
  {
    thread_local PairedRowsStorage storage;
    storage.rebuild(v, lanes, is_max, rows_per_vector);
    WindowRowStorage window(static_cast<std::size_t>(v.axes[1].window));
    const TaskShare share = task_share(v.images, true);
    const float* in[kPairedRowsPlanesPerCall];
    float* out[kPairedRowsPlanesPerCall];
    std::uint8_t* out_argmax[kPairedRowsPlanesPerCall];
    std::uint8_t suspect[kPairedRowsPlanesPerCall];
    for (std::int64_t k = 0; k < share.count; k += kPairedRowsPlanesPerCall) {
      const std::int64_t planes = std::min(kPairedRowsPlanesPerCall, share.count - k);
      for (std::int64_t i = 0; i < planes; ++i) {
        const std::int64_t p = share.at(k + i);
        in[i] = input + p * v.in_image;
        out[i] = output + p * v.out_image;
        out_argmax[i] = argmax ? argmax + p * v.out_image : nullptr;
      }
      const auto n = static_cast<std::size_t>(planes);
      if (is_max) {
        simd::forward_planes_paired_rows_max(storage.table, in, out, argmax ? out_argmax : nullptr, n, input_end,
                                             kPairedRowsPrefetchBytes, suspect);
      } else {
        simd::forward_planes_paired_rows_average(storage.table, in, out, n, input_end, kPairedRowsPrefetchBytes, suspect);
      }
      for (std::int64_t i = 0; i < planes; ++i) {
        const std::int64_t p = share.at(k + i);
        for (std::int64_t r = 0; r < rows_out && suspect[i]; ++r) {
          const std::int64_t at = (p * rows_out + r) * cols_out;
          forward_output_row(v, is_max, input, p * rows_out + r, output + at, argmax ? argmax + at : nullptr, false,
                             window.ptrs(), window.ids());
        }
      }
    }
  }
}

void windowed_forward(const PoolPlan& plan, const float* input, float* output, std::uint8_t* argmax) {
  const View v = view_of(plan);
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const std::size_t lanes = simd::lanes();
  if (const std::int64_t rows_per_vector = paired_rows_per_vector(plan, v, argmax, lanes); rows_per_vector > 0) {
    paired_rows_forward(plan, v, lanes, rows_per_vector, input, output, argmax);
    return;
  }
  if (plane_pairs_apply(v, lanes)) {
    plane_pairs_forward(plan, v, lanes, input, output, argmax);
    return;
  }
  if (pair_windows_apply(v, lanes)) {
    pair_windows_forward(plan, v, lanes, input, output, argmax);
    return;
  }
  if (window3_planes_apply(plan, v, argmax, lanes)) {
    window3_planes_forward(v, input, output);
    return;
  }
  if (separable_applies(plan, v, argmax, lanes)) {
    separable_planes_forward(v, input, output);
    return;
  }
  if (short_rows_apply(plan, v, argmax, lanes)) {
    short_rows_forward(plan, v, lanes, input, output);
    return;
  }
  if (stride1_planes_apply(plan, v, argmax, lanes)) {
    stride1_planes_forward(plan, v, lanes, input, output);
    return;
  }
  // channels_first rows of fewer than two vectors of outputs go through the channels_last
  // kernels (2 threads: 3D 56x56 planes 2x2x2/2 5.3 -> 4.6 ms, 3x3x3/2 'same' 10.4 -> 7.2 ms);
  // longer rows vectorize well along the cols, and the transposes would cost more than they save
  // (112x112 2x2/2: 4.7 -> 5.0 ms; 1D 4096: 2.2 -> 4.3 ms).
  const bool short_rows = v.channels == 1 && v.axes[2].out < static_cast<std::int64_t>(2 * lanes);
  std::int64_t done = 0;
  if (short_rows) {
    // Groups of four vectors of planes, then of one for the planes left: the channels_last
    // kernels' work per output row (its window rows, the clipped cols, the NaN probe) is then
    // shared by four vectors. (16,64,11,11), 1 thread, in cache: 3x3/2 'same' max 25.8 -> 21.7 us,
    // average 29 -> 21 us; (256,64,11,11) max, 2 threads, 5 interleaved rounds: 0.515 -> 0.454 ms.
    for (const std::int64_t vectors : {std::int64_t{4}, std::int64_t{1}}) {
      View rest = v;
      rest.images = v.images - done;
      done += transposed_planes_forward(plan, rest, lanes, vectors, input + done * v.in_image,
                                        output + done * v.out_image, argmax ? argmax + done * v.out_image : nullptr);
    }
  }
  if (done == v.images) return;
  if (use_plane_kernels(v, lanes)) {
    const PlaneTableStorage& planes = thread_table<PlaneTableStorage>(v, lanes);
#pragma omp parallel for schedule(static) if (parallel_worth(v))
    for (std::int64_t p = done; p < v.images; ++p) {
      const float* in = input + p * v.in_image;
      float* out = output + p * v.out_image;
      // Gathers defeat the hardware prefetcher: fetch the next plane while this one is reduced.
      if (p + 1 < v.images) {
        for (std::int64_t i = 0; i < v.in_image; i += 16) prefetch_l1(in + v.in_image + i);
      }
      if (is_max) {
        simd::forward_plane_max(planes.table, in, out, argmax ? argmax + p * v.out_image : nullptr);
      } else {
        simd::forward_plane_average(planes.table, in, out);
      }
    }
    return;
  }
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::int64_t rows = v.images * D.out * H.out, first_row = done * D.out * H.out;
  const std::int64_t row_floats = W.in * v.channels;
  const bool channels_first_plane = v.channels == 1 && H.in > 1;
  const bool prefetch = D.in == 1 && (v.channels > 1 ? row_floats * 4 <= kPrefetchMaxRowBytes
                                                     : channels_first_plane && row_floats * 4 <= kPrefetchMaxRowBytesChannelsFirst);
  const std::int64_t prefetch_tasks = v.channels > 1 ? kPrefetchTasks : kPrefetchTasksChannelsFirst;
  const bool stream = v.images * v.out_image * 4 >= stream_bytes.load();
  const std::int64_t out_row = W.out * v.channels;  // floats of output per task
  // channels_first rows that are not whole vectors (112x112 2x2/2: 56 outputs) stream in groups
  // of rows that are: the group's rows are written to L1, then go out in whole aligned lines
  // (2 threads, (32,64,112,112) 2x2/2, 6 interleaved rounds: max median 7.6 -> 6.5 ms, average
  // 7.4 -> 7.2 ms).
  std::int64_t group = 1;
  if (stream && v.channels == 1 && !argmax && out_row % static_cast<std::int64_t>(lanes) != 0) {
    group = static_cast<std::int64_t>(lanes) / std::gcd(out_row, static_cast<std::int64_t>(lanes));
    const bool aligned = reinterpret_cast<std::uintptr_t>(output + first_row * out_row) % (lanes * sizeof(float)) == 0;
    if (!aligned) group = 1;
  }
  const std::int64_t tasks = (rows - first_row + group - 1) / group;
  // channels_last max of 2D (or 1D) windows of 3 cols with stride 2: a thread's rows in two
  // halves, row k of the first with row k of the second in one kernel call
  // (simd::forward_rows_max_pair: six streams of input where one row reads three). 2 threads,
  // 3 sets of 4-5 interleaved rounds, 3x3/2 'same': 1D 3/2 3.22 -> 2.65, 2.98 -> 2.72 ms;
  // 11x11x64 0.555 -> 0.504, 0.549 -> 0.502 ms (once equal); 26x26x32 and 112x112x64 faster in
  // one set (0.66 -> 0.58, 4.76 -> 4.40 ms), equal in the others. 3D windows (eighteen streams)
  // measured slower: 4.90 -> 5.28 ms.
  // 2D windows of 3 rows with stride 2 (3x3/2) take the row chain below instead.
  const bool row_chain = v.channels > 1 && group == 1 && window3_row_chain_applies(plan, v, argmax);
  const bool volume = group == 1 && window3_volume_applies(plan, v, argmax);
  const bool row_pairs = !row_chain && is_max && !argmax && v.channels > 1 && group == 1 && W.window == 3 &&
                         W.stride == 2 && D.window == 1 && H.window <= kRowPairsMaxWindowRows;
#pragma omp parallel if (parallel_worth(v))
  {
    WindowRowStorage window(static_cast<std::size_t>(D.window * H.window));
    const float** row_ptrs = window.ptrs();
    std::int32_t* row_ids = window.ids();
    float* staged = group > 1 ? thread_scratch<float, 0>(static_cast<std::size_t>(group * out_row)) : nullptr;
    if (row_pairs) {
      // The same contiguous share of rows per thread as schedule(static).
      const std::int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
      const std::int64_t lo = first_row + (rows - first_row) * thread / threads;
      const std::int64_t hi = first_row + (rows - first_row) * (thread + 1) / threads;
      const std::int64_t half = (hi - lo) / 2;
      const float* second_ptrs[kRowPairsMaxWindowRows];
      std::int32_t second_ids[kRowPairsMaxWindowRows];
      for (std::int64_t k = 0; k < half; ++k) {
        const std::int64_t t0 = lo + k, t1 = lo + half + k;
        if (prefetch) {
          prefetch_task_rows(v, input, row_floats, t0 + prefetch_tasks, rows);
          prefetch_task_rows(v, input, row_floats, t1 + prefetch_tasks, rows);
        }
        const simd::ForwardRow a = output_row_args(v, input, t0, output + t0 * out_row, nullptr, stream, row_ptrs, row_ids);
        const simd::ForwardRow b = output_row_args(v, input, t1, output + t1 * out_row, nullptr, stream, second_ptrs, second_ids);
        if (!simd::forward_rows_max_pair(a, b)) {
          simd::forward_row_max(a);
          simd::forward_row_max(b);
        }
      }
      for (std::int64_t task = lo + 2 * half; task < hi; ++task) {
        forward_output_row(v, true, input, task, output + task * out_row, nullptr, stream, row_ptrs, row_ids);
      }
    }
    if (row_chain) {
      // A thread's rows in order; consecutive rows of one image whose windows share a row (the
      // last of one, the first of the next) pass its window maxima on in `top`.
      const std::int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
      const std::int64_t lo = first_row + (rows - first_row) * thread / threads;
      const std::int64_t hi = first_row + (rows - first_row) * (thread + 1) / threads;
      simd::Window3RowChain chain{thread_scratch<float, 0>(static_cast<std::size_t>(out_row)), false, false, false};
      for (std::int64_t task = lo; task < hi; ++task) {
        if (prefetch) prefetch_task_rows(v, input, row_floats, task + prefetch_tasks, rows);
        const simd::ForwardRow a = output_row_args(v, input, task, output + task * out_row, nullptr, stream, row_ptrs, row_ids);
        chain_row(a, task + 1 < hi && shares_window_row(H, task % H.out), chain);
      }
    }
    if (volume) {
      const std::int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
      window3_volume_rows(v, input, output, first_row + (rows - first_row) * thread / threads,
                          first_row + (rows - first_row) * (thread + 1) / threads, stream, row_ptrs, row_ids);
    }
#pragma omp for schedule(static) nowait
    for (std::int64_t t = 0; t < (row_pairs || row_chain || volume ? 0 : tasks); ++t) {  // none left when done above
      const std::int64_t begin = first_row + t * group, end = std::min(rows, begin + group);
      // A whole group is staged and streamed; a last, partial one is written directly.
      const bool staging = group > 1 && end - begin == group;
      for (std::int64_t task = begin; task < end; ++task) {
        if (prefetch) prefetch_task_rows(v, input, row_floats, task + prefetch_tasks, rows);
        float* out = staging ? staged + (task - begin) * out_row : output + task * out_row;
        forward_output_row(v, is_max, input, task, out, argmax ? argmax + task * out_row : nullptr,
                           stream && !staging, row_ptrs, row_ids);
      }
      if (staging) simd::stream_copy(staged, output + begin * out_row, static_cast<std::size_t>(group * out_row));
    }
    if (stream) hwy::FlushStream();  // this thread's non-temporal stores, before the closing barrier
  }
}

// The backward of pair_windows_forward's windows (simd::backward_pair_windows_*): tasks are runs
// of output rows within a depth slice; the input rows and depth slices in no window (odd sizes,
// 'valid') are zeroed with the slice's last output row. channels_last, 2 threads, 3 interleaved
// rounds against the row kernels: (128,26,26,32) max 0.79-0.81 -> 0.69-0.72 ms, average
// 0.79-0.86 -> 0.71-0.78 ms; (256,11,11,64) average 0.54-0.59 -> 0.48-0.52 ms; 112x112x64 max
// 3.64-3.99 -> 3.40-3.62 ms; 3D max 3.14-3.62 -> 2.94-3.15 ms.
void pair_windows_backward(const PoolPlan& plan, const View& v, std::size_t lanes, const std::uint8_t* argmax,
                           const float* grad_output, float* grad_input) {
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  simd::PairWindowsBackward base{pair_geometry(v)};
  const std::int64_t row_floats = W.in * v.channels;
  base.cols_in = static_cast<std::size_t>(W.in);
  base.grad_out_end = grad_output + v.images * v.out_image;
  base.argmax_end = argmax ? argmax + v.images * v.out_image : nullptr;
  base.stream = v.images * v.in_image * 4 >= stream_bytes.load();
  const std::int64_t rows = v.images * D.out * H.out, out_row = W.out * v.channels;
  const std::int64_t task_rows = std::max<std::int64_t>(1, 4096 / out_row);  // about 16 KiB of upstream gradient
  const std::int64_t tasks = (rows + task_rows - 1) / task_rows;
#pragma omp parallel if (parallel_worth(v))
  {
    // channels_first assembles window rows in this stage, aligned to a vector so that its loads
    // do not split lines.
    float* stage = nullptr;
    if (v.channels == 1) {
      stage = thread_scratch<float, 0>(simd::pair_windows_stage_floats(base.cols_in, lanes) + lanes);
      stage += (lanes - reinterpret_cast<std::uintptr_t>(stage) / sizeof(float) % lanes) % lanes;
    }
#pragma omp for schedule(static) nowait
    for (std::int64_t t = 0; t < tasks; ++t) {
      for_each_slice_run(v, t * task_rows, std::min(rows, (t + 1) * task_rows),
                         [&](std::int64_t begin, std::int64_t stop, std::int64_t image, std::int64_t od,
                             std::int64_t oh) {
                           float* slice_in = grad_input + image * v.in_image + od * D.stride * H.in * row_floats;
                           simd::PairWindowsBackward a = base;
                           a.grad_out = grad_output + begin * out_row;
                           a.argmax = argmax ? argmax + begin * out_row : nullptr;
                           a.rows = static_cast<std::size_t>(stop - begin);
                           a.grad_in = slice_in + oh * H.stride * row_floats;
                           a.stage = stage;
                           if (is_max) {
                             simd::backward_pair_windows_max(a);
                           } else {
                             simd::backward_pair_windows_average(a);
                           }
                           if (oh + (stop - begin) < H.out) return;
                           // The slice's last row: rows below its last window, in each of its
                           // depths; depths past the last one.
                           for (std::int64_t kd = 0; kd < D.window; ++kd) {
                             float* depth = slice_in + kd * H.in * row_floats;
                             std::fill(depth + H.window * H.out * row_floats, depth + H.in * row_floats, 0.0f);
                           }
                           if (od + 1 == D.out) {
                             std::fill(slice_in + D.window * H.in * row_floats,
                                       grad_input + (image + 1) * v.in_image, 0.0f);
                           }
                         });
    }
    if (base.stream) hwy::FlushStream();  // this thread's non-temporal stores, before the closing barrier
  }
}

// Windowed backward of max (from a saved argmax) or average.
//
// Windows that do not overlap on any axis (stride >= window, the usual case): one task per output
// row owns the input rows from its window's first row up to the next window's first row, and
// writes each of them exactly once (gradient in window cells, zeros elsewhere): no zeroing pass,
// no read-modify-write. Overlapping windows: one task per image zeros it and accumulates.
// Input range [begin, end) along an axis that output j owns when windows do not overlap: from its
// window's first cell (0 for the first output) up to the next window's first cell (the axis end
// for the last output). Cells of no window (stride > window, clipped edges) get zeros.
std::int64_t owned_begin(const AxisGeometry& a, std::int64_t j) { return j == 0 ? 0 : a.window_begin(j); }
std::int64_t owned_end(const AxisGeometry& a, std::int64_t j) { return j + 1 < a.out ? a.window_begin(j + 1) : a.in; }

// channels_first backward with short rows and windows that do not overlap, through the
// channels_last row kernels as in transposed_planes_forward: per group of `lanes` planes and band
// of output rows (within one output depth slice), the upstream gradient and argmax are transposed
// into channels_last images, the owned input rows computed there in L2, and transposed back into
// grad_input. Returns the planes done (whole groups; 0 when a band does not fit).
std::int64_t transposed_planes_backward(const PoolPlan& plan, const View& v, std::size_t lanes,
                                        const std::uint8_t* argmax, const float* grad_output,
                                        float* grad_input) {
  const auto L = static_cast<std::int64_t>(lanes);
  const std::int64_t groups = v.images / L;
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::int64_t row_floats = W.in * L;
  if (groups == 0 || v.in_image * L >= (std::int64_t{1} << 31)) return 0;
  std::int64_t depth_rows = 0;  // the most input depth planes one output depth slice owns
  for (std::int64_t od = 0; od < D.out; ++od) depth_rows = std::max(depth_rows, owned_end(D, od) - owned_begin(D, od));
  const std::int64_t fit_rows = band_bytes.load() / (row_floats * 4) / std::max<std::int64_t>(depth_rows, 1);
  const std::int64_t band_rows = std::clamp<std::int64_t>(fit_rows / std::max<std::int64_t>(H.stride, 1), 1, H.out);
  const std::int64_t bands = (H.out + band_rows - 1) / band_rows;
  std::int64_t band_in_rows = 0;
  for (std::int64_t k = 0; k < bands; ++k) {
    const std::int64_t oh0 = k * band_rows, oh1 = std::min(H.out, oh0 + band_rows);
    band_in_rows = std::max(band_in_rows, owned_end(H, oh1 - 1) - owned_begin(H, oh0));
  }
  if (depth_rows * band_in_rows * row_floats * 4 > 2 * band_bytes.load() + (std::int64_t{1} << 16)) return 0;
  const std::int64_t tasks = groups * D.out * bands;
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const bool stream = v.images * v.in_image * 4 >= stream_bytes.load();
#pragma omp parallel if (parallel_worth(v))
  {
    const auto out_size = static_cast<std::size_t>(band_rows * W.out * L);
    float* g_image = thread_scratch<float, 0>(out_size);
    std::uint8_t* am_image = thread_scratch<std::uint8_t, 0>(is_max ? out_size : 0);
    float* grad_image = thread_scratch<float, 1>(static_cast<std::size_t>(depth_rows * band_in_rows * row_floats));
#pragma omp for schedule(static) nowait
    for (std::int64_t t = 0; t < tasks; ++t) {
      const std::int64_t g = t / (D.out * bands), od = (t / bands) % D.out;
      const std::int64_t oh0 = (t % bands) * band_rows, oh1 = std::min(H.out, oh0 + band_rows);
      const std::int64_t d0 = owned_begin(D, od), d1 = owned_end(D, od);
      const std::int64_t h0 = owned_begin(H, oh0), h1 = owned_end(H, oh1 - 1);
      const std::int64_t out_cells = (oh1 - oh0) * W.out;
      const std::int64_t out_at = g * L * v.out_image + (od * H.out + oh0) * W.out;
      simd::planes_to_channels_last(grad_output + out_at, static_cast<std::size_t>(out_cells),
                                    static_cast<std::size_t>(v.out_image), g_image, 0);
      if (is_max) {
        simd::planes_to_cells_bytes(argmax + out_at, static_cast<std::size_t>(out_cells),
                                    static_cast<std::size_t>(v.out_image), am_image);
      }
      const std::int64_t band_rows_in = h1 - h0;
      for (std::int64_t oh = oh0; oh < oh1; ++oh) {
        const std::int64_t real_rows = (D.window_end(od) - D.window_begin(od)) * (H.window_end(oh) - H.window_begin(oh));
        const auto at = static_cast<std::size_t>((oh - oh0) * W.out * L);
        for (std::int64_t d = d0; d < d1; ++d)
          for (std::int64_t h = owned_begin(H, oh); h < owned_end(H, oh); ++h) {
            float* row = grad_image + ((d - d0) * band_rows_in + (h - h0)) * row_floats;
            if (d < D.window_begin(od) || d >= D.window_end(od) || h < H.window_begin(oh) || h >= H.window_end(oh)) {
              std::fill(row, row + row_floats, 0.0f);
              continue;
            }
            const std::int64_t kd = d - (od * D.stride - D.pad_before), kh = h - (oh * H.stride - H.pad_before);
            const simd::BackwardRow args{g_image + at, is_max ? am_image + at : nullptr,
                                         static_cast<std::int32_t>((kd * H.window + kh) * W.window), real_rows,
                                         cols_of(v), lanes, row, false, false};
            if (is_max) {
              simd::backward_row_max(args);
            } else {
              simd::backward_row_average(args);
            }
          }
      }
      float* first = grad_input + g * L * v.in_image;
      for (std::int64_t d = d0; d < d1; ++d)
        simd::channels_last_to_planes(grad_image + (d - d0) * band_rows_in * row_floats,
                                      static_cast<std::size_t>(band_rows_in * W.in), first + (d * H.in + h0) * W.in,
                                      static_cast<std::size_t>(v.in_image), stream);
    }
    if (stream) hwy::FlushStream();
  }
  return groups * L;
}

void windowed_backward(const PoolPlan& plan, const std::uint8_t* argmax, const float* grad_output,
                       float* grad_input) {
  const View v = view_of(plan);
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::int64_t row_floats = W.in * v.channels;
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const bool stream = v.images * v.in_image * 4 >= stream_bytes.load();
  auto run = [&](const simd::BackwardRow& args) {
    if (is_max) {
      simd::backward_row_max(args);
    } else {
      simd::backward_row_average(args);
    }
  };
  auto row_args = [&](std::int64_t b, std::int64_t od, std::int64_t oh, std::int64_t d, std::int64_t h,
                      bool accumulate) {
    const std::int64_t out_offset = b * v.out_image + (od * H.out + oh) * W.out * v.channels;
    const std::int64_t kd = d - (od * D.stride - D.pad_before), kh = h - (oh * H.stride - H.pad_before);
    const std::int64_t real_rows =
        (D.window_end(od) - D.window_begin(od)) * (H.window_end(oh) - H.window_begin(oh));
    return simd::BackwardRow{grad_output + out_offset,
                             argmax ? argmax + out_offset : nullptr,
                             static_cast<std::int32_t>((kd * H.window + kh) * W.window),
                             real_rows,
                             cols_of(v),
                             static_cast<std::size_t>(v.channels),
                             grad_input + b * v.in_image + (d * H.in + h) * row_floats,
                             accumulate,
                             !accumulate && stream};
  };

  // Small channels_first planes: zero the plane (it stays in L1) and scatter each output's
  // gradient through the plane's gather table.
  const std::size_t lanes = simd::lanes();
  // Not channels_first 1D rows: the pair kernel assembles a row's gradient in L1 and copies it
  // out, where the row kernels stream it out directly ((64,64,4096) max 3.07 -> 3.39 ms).
  const bool rows_1d = D.in == 1 && H.in == 1;
  if (pair_windows_apply(v, lanes) && !(v.channels == 1 && rows_1d)) {
    pair_windows_backward(plan, v, lanes, argmax, grad_output, grad_input);
    return;
  }
  const bool overlapping = D.stride < D.window || H.stride < H.window || W.stride < W.window;
  // channels_first rows of fewer than two vectors of outputs (but not the small planes, whose
  // plane kernels are faster), windows that do not overlap: through the channels_last kernels.
  std::int64_t done = 0;
  if (v.channels == 1 && !overlapping && W.out < static_cast<std::int64_t>(2 * lanes) && !use_plane_kernels(v, lanes)) {
    done = transposed_planes_backward(plan, v, lanes, argmax, grad_output, grad_input);
    if (done == v.images) return;
  }
  if (use_plane_kernels(v, lanes) && !overlapping && v.in_image * 12 <= (std::int64_t{1} << 20)) {
    // Small channels_first planes, windows that do not overlap: every input cell takes its value
    // (max: the gradient where the argmax names it; average: its share) from at most one output,
    // permuted out of two vectors of the plane's outputs (or gathered; simd::backward_plane), in
    // one pass of contiguous stores.
    const ReverseTableStorage& reverse = thread_table<ReverseTableStorage>(v, lanes);
#pragma omp parallel if (parallel_worth(v))
    {
      float* values = thread_scratch<float, 0>(static_cast<std::size_t>(v.out_image) + 2 * lanes);
      float* indices = thread_scratch<float, 1>(static_cast<std::size_t>(v.out_image) + 2 * lanes);
      // Planes from the four quarters (halves on AMD) of the run in turn (task_share): 2 threads,
      // 4 interleaved rounds, (256,64,11,11) max 0.62 -> 0.52 ms, average 0.57 -> 0.48 ms;
      // (128,32,26,26) average 0.91 -> 0.84 ms.
      const TaskShare share = task_share(v.images, quartered(v));
      // Max straight from the upstream gradient and argmax (simd::backward_planes_max_direct),
      // the thread's planes in order, all but the last one or two of the tensor, whose permutes
      // would read past its end. Against the per-plane pass below, 2 threads, 3 interleaved
      // rounds of poolnet-bench: (256,64,11,11) 0.306 -> 0.188 ms, (128,32,26,26) 0.355 ->
      // 0.206 ms (one plane per call in task_share's order: 0.203 and 0.376 ms; chunks of 1 or 8
      // planes from the two halves in turn: no faster). The average measured slower so
      // ((256,64,11,11) 0.24 -> 0.29 ms, the same on 26x26), and stays on the per-plane pass.
      std::int64_t direct = 0;
      if (is_max && reverse.every_vector_has_base) {
        // Planes p with p * out_image + reach <= images * out_image (none where the tensor holds
        // less than one reach: the division must not round a negative count up to zero).
        const auto reach = static_cast<std::int64_t>(reverse.table.reach), total = v.images * v.out_image;
        const std::int64_t safe = total >= reach ? (total - reach) / v.out_image + 1 : 0;
        direct = std::clamp<std::int64_t>(safe - share.first, 0, share.count);
        simd::backward_planes_max_direct(reverse.table, grad_output + share.first * v.out_image,
                                         argmax + share.first * v.out_image, static_cast<std::size_t>(v.out_image),
                                         static_cast<std::size_t>(direct), grad_input + share.first * v.in_image);
      }
      auto plane_at = [&](std::int64_t k) { return direct > 0 ? share.first + k : share.at(k); };
      for (std::int64_t k = direct; k < share.count; ++k) {
        const std::int64_t p = plane_at(k);
        const float* g = grad_output + p * v.out_image;
        const std::uint8_t* am = is_max ? argmax + p * v.out_image : nullptr;
        if (k + 1 < share.count) {
          const float* next = grad_output + plane_at(k + 1) * v.out_image;
          for (std::int64_t i = 0; i < v.out_image; i += 16) prefetch_l1(next + i);
        }
        simd::backward_plane(reverse.table, g, am, is_max ? nullptr : reverse.count.data(),
                             static_cast<std::size_t>(v.out_image), values, indices, grad_input + p * v.in_image);
      }
    }
    return;
  }
  if (use_plane_kernels(v, lanes)) {
    const PlaneTableStorage& planes = thread_table<PlaneTableStorage>(v, lanes);
    const simd::PlaneTable& t = planes.table;
#pragma omp parallel for schedule(static) if (parallel_worth(v))
    for (std::int64_t p = 0; p < v.images; ++p) {
      float* grad = grad_input + p * v.in_image;
      const float* g = grad_output + p * v.out_image;
      if (p + 1 < v.images) {  // the next plane's upstream gradient and argmax, ahead of the scatter
        for (std::int64_t i = 0; i < v.out_image; i += 16) prefetch_l1(g + v.out_image + i);
        if (is_max) {
          const std::uint8_t* next = argmax + (p + 1) * v.out_image;
          for (std::int64_t i = 0; i < v.out_image; i += 64) prefetch_l1(next + i);
        }
      }
      std::fill(grad, grad + v.in_image, 0.0f);
      for (std::size_t o = 0; o < t.outputs; ++o) {
        const std::size_t group = o / lanes, lane = o % lanes;
        if (is_max) {
          const std::size_t k = argmax[static_cast<std::size_t>(p * v.out_image) + o];
          grad[t.index[(group * t.cells + k) * lanes + lane]] += g[o];
        } else {
          const float share = g[o] / t.count[group * lanes + lane];
          for (std::size_t k = 0; k < t.cells; ++k) {
            const std::size_t at = (group * t.cells + k) * lanes + lane;
            if (t.real[at]) grad[t.index[at]] += share;
          }
        }
      }
    }
    return;
  }

  if (!overlapping) {
    const std::int64_t tasks = v.images * D.out * H.out;
    // channels_first rows of short upstream gradients (224 B on 112x112 planes against 900 B of
    // grad_input written per task) fetch the upstream gradient (and argmax) of the task about
    // 8 KiB of it ahead into L2; the hardware prefetcher lags on that thin stream (112x112 2x2/2,
    // 4 interleaved rounds: average 5.5-6.4 -> 4.9-5.2 ms, max unchanged at 5.1-5.8 ms). Longer
    // rows measured slower with it (1D: 2.74-2.88 -> 2.94-3.06 ms).
    const std::int64_t out_row = W.out * v.channels;
    const std::int64_t prefetch_ahead =
        v.channels == 1 && out_row * 4 <= kPrefetchMaxUpstreamRowBytes ? (8192 + out_row * 4 - 1) / (out_row * 4) : 0;
#pragma omp parallel if (parallel_worth(v))
    {
#pragma omp for schedule(static) nowait
      for (std::int64_t task = done * D.out * H.out; task < tasks; ++task) {
        const std::int64_t b = task / (D.out * H.out);
        const std::int64_t od = (task / H.out) % D.out;
        const std::int64_t oh = task % H.out;
        if (prefetch_ahead > 0 && task + prefetch_ahead < tasks) {
          const std::int64_t at = (task + prefetch_ahead) * out_row;
          for (std::int64_t i = 0; i < out_row; i += 16) prefetch_l2(grad_output + at + i);
          if (argmax) prefetch_l2(argmax + at);
        }
        for (std::int64_t d = owned_begin(D, od); d < owned_end(D, od); ++d)
          for (std::int64_t h = owned_begin(H, oh); h < owned_end(H, oh); ++h) {
            if (d < D.window_end(od) && h < H.window_end(oh)) {
              run(row_args(b, od, oh, d, h, /*accumulate=*/false));
            } else {
              float* row = grad_input + b * v.in_image + (d * H.in + h) * row_floats;
              std::fill(row, row + row_floats, 0.0f);
            }
          }
      }
      if (stream) hwy::FlushStream();  // this thread's non-temporal stores, before the closing barrier
    }
    return;
  }
#pragma omp parallel for schedule(static) if (parallel_worth(v))
  for (std::int64_t b = 0; b < v.images; ++b) {
    std::fill(grad_input + b * v.in_image, grad_input + (b + 1) * v.in_image, 0.0f);
    for (std::int64_t od = 0; od < D.out; ++od)
      for (std::int64_t oh = 0; oh < H.out; ++oh)
        for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
          for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h)
            run(row_args(b, od, oh, d, h, /*accumulate=*/true));
  }
}

constexpr std::int64_t kImagePairsMaxBytes = std::int64_t{256} << 10;

void global_forward(const PoolPlan& plan, const float* input, float* output) {
  const View v = view_of(plan);
  const auto cells = static_cast<std::size_t>(plan.spatial_in());
  const bool is_max = plan.spec.op == PoolOp::kMax;
  const auto C = static_cast<std::size_t>(v.channels);
  if (C == 1) {  // channels_first: each thread's slices in one call
#pragma omp parallel if (parallel_worth(v))
    {
      const TaskShare share = task_share(v.images, false);  // the kernels take the quarters themselves
      const auto streams = static_cast<std::size_t>(memory_streams.load());
      const float* slices = input + share.first * v.in_image;
      const auto count = static_cast<std::size_t>(share.count);
      if (is_max) {
        simd::global_max_slices(slices, cells, count, output + share.first, streams);
      } else {
        simd::global_average_slices(slices, cells, count, output + share.first, streams);
      }
    }
    return;
  }
  // On two memory streams, images of up to kImagePairsMaxBytes go two at a time, each one stream
  // (simd::global_max_channels_last_images), a thread's run of them in one call, where halves of
  // each image restarted two streams per image. Zen 5, 2 threads, 5 interleaved rounds: (256,11,11,64)
  // max 0.219 -> 0.170 ms, average 0.179 -> 0.161 ms; (128,26,26,32) max 0.205 -> 0.157 ms,
  // average 0.159 -> 0.151 ms (with the limit at 64 KiB, which left them out, the same as before).
  const bool image_pairs = memory_streams.load() <= 2 && C % simd::lanes() == 0 &&
                           v.in_image * 4 <= kImagePairsMaxBytes;
#pragma omp parallel if (parallel_worth(v))
  {
    double* sums = thread_scratch<double, 0>(is_max ? 0 : simd::kGlobalStreams * C);
    float* quarters = thread_scratch<float, 0>(is_max ? simd::kGlobalStreams * C : 0);  // the quarters' maxima
    const auto streams = static_cast<std::size_t>(memory_streams.load());
    if (image_pairs) {
      const TaskShare share = task_share(v.images, false);
      const float* first = input + share.first * v.in_image;
      float* out = output + share.first * v.out_image;
      const auto count = static_cast<std::size_t>(share.count);
      if (is_max) {
        simd::global_max_channels_last_images(first, count, cells, C, out, quarters);
      } else {
        simd::global_average_channels_last_images(first, count, cells, C, out, sums);
      }
    }
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < (image_pairs ? 0 : v.images); ++b) {
      const float* image = input + b * v.in_image;
      float* out = output + b * v.out_image;
      if (is_max) {
        simd::global_max_channels_last(image, cells, C, out, quarters, streams);
      } else {
        simd::global_average_channels_last(image, cells, C, out, sums, streams);
      }
    }
  }
}

// Global average: every cell gets w / N. Global max: w split evenly among the cells equal to the
// maximum (the NaN cells when it is NaN): maximum, count, write.
void global_backward(const PoolPlan& plan, const float* input, const float* grad_output, float* grad_input) {
  const View v = view_of(plan);
  const auto cells = static_cast<std::size_t>(plan.spatial_in());
  const auto C = static_cast<std::size_t>(v.channels);
  const bool is_max = plan.spec.op == PoolOp::kMax;
#pragma omp parallel if (parallel_worth(v))
  {
    float* maximum = thread_scratch<float, 0>(C);
    float* share = thread_scratch<float, 1>(C);
    float* quarters = thread_scratch<float, 2>(simd::kGlobalStreams * C);  // global_max_channels_last's scratch
    std::int64_t* counts = thread_scratch<std::int64_t, 0>(C);
#pragma omp for schedule(static)
    for (std::int64_t b = 0; b < v.images; ++b) {
      const float* image = input + b * v.in_image;
      const float* g = grad_output + b * v.out_image;
      float* grad = grad_input + b * v.in_image;
      if (!is_max) {
        // float(double(w) / N), as the reference rounds its double share.
        for (std::size_t c = 0; c < C; ++c)
          share[c] = 0.0f + static_cast<float>(static_cast<double>(g[c]) / static_cast<double>(cells));
        for (std::size_t s = 0; s < cells; ++s) std::copy(share, share + C, grad + s * C);
        continue;
      }
      if (C == 1) {
        simd::global_max_slices(image, cells, 1, maximum, static_cast<std::size_t>(memory_streams.load()));
      } else {
        simd::global_max_channels_last(image, cells, C, maximum, quarters,
                                       static_cast<std::size_t>(memory_streams.load()));
      }
      std::fill(counts, counts + C, 0);
      simd::count_winners(image, cells, C, maximum, counts);
      for (std::size_t c = 0; c < C; ++c)
        share[c] = 0.0f + static_cast<float>(static_cast<double>(g[c]) / static_cast<double>(counts[c]));
      simd::write_shares(image, cells, C, maximum, share, grad);
    }
  }
}

// Max backward for windows of more than 255 cells (no 1-byte argmax): the first maximum of each
// window is found again per (image, 16-channel block) task; rare in practice.
void wide_max_backward(const PoolPlan& plan, const float* input, const float* grad_output, float* grad_input) {
  constexpr std::int64_t kBlock = 16;
  const View v = view_of(plan);
  const std::int64_t C = v.channels;
  const AxisGeometry& D = v.axes[0];
  const AxisGeometry& H = v.axes[1];
  const AxisGeometry& W = v.axes[2];
  const std::int64_t blocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (parallel_worth(v))
  for (std::int64_t task = 0; task < v.images * blocks; ++task) {
    const std::int64_t b = task / blocks;
    const std::int64_t c0 = (task % blocks) * kBlock;
    const std::int64_t cn = std::min(kBlock, C - c0);
    const float* image = input + b * v.in_image + c0;
    float* grad_image = grad_input + b * v.in_image + c0;
    const float* grad_out = grad_output + b * v.out_image + c0;
    for (std::int64_t s = 0; s < v.in_image / C; ++s) std::fill_n(grad_image + s * C, cn, 0.0f);
    for (std::int64_t od = 0; od < D.out; ++od)
      for (std::int64_t oh = 0; oh < H.out; ++oh)
        for (std::int64_t ow = 0; ow < W.out; ++ow) {
          const float* g = grad_out + ((od * H.out + oh) * W.out + ow) * C;
          for (std::int64_t c = 0; c < cn; ++c) {
            float best = 0.0f;
            std::int64_t where = -1;
            for (std::int64_t d = D.window_begin(od); d < D.window_end(od); ++d)
              for (std::int64_t h = H.window_begin(oh); h < H.window_end(oh); ++h)
                for (std::int64_t w = W.window_begin(ow); w < W.window_end(ow); ++w) {
                  const std::int64_t offset = ((d * H.in + h) * W.in + w) * C + c;
                  const float x = image[offset];
                  if (where < 0 || x > best || (x != x && best == best)) {
                    best = x;
                    where = offset;
                  }
                }
            grad_image[where] += g[c];
          }
        }
  }
}

}  // namespace

std::int64_t set_stream_threshold(std::int64_t bytes) { return stream_bytes.exchange(bytes); }
std::int64_t set_memory_streams(std::int64_t streams) { return memory_streams.exchange(streams); }
std::int64_t set_band_bytes(std::int64_t bytes) { return band_bytes.exchange(bytes); }

void pool_forward(const PoolPlan& plan, const float* input, float* output) {
  if (plan.spec.global) {
    global_forward(plan, input, output);
  } else {
    windowed_forward(plan, input, output, nullptr);
  }
}

bool supports_argmax(const PoolPlan& plan) {
  return plan.spec.op == PoolOp::kMax && !plan.spec.global && window_cells(plan) <= 255;
}

void pool_forward_argmax(const PoolPlan& plan, const float* input, float* output, std::uint8_t* argmax) {
  windowed_forward(plan, input, output, argmax);
}

void pool_backward_argmax(const PoolPlan& plan, const std::uint8_t* argmax, const float* grad_output,
                          float* grad_input) {
  windowed_backward(plan, argmax, grad_output, grad_input);
}

void pool_backward(const PoolPlan& plan, const float* input, const float* grad_output, float* grad_input) {
  if (plan.spec.global) {
    global_backward(plan, input, grad_output, grad_input);
  } else if (plan.spec.op == PoolOp::kAverage) {
    windowed_backward(plan, nullptr, grad_output, grad_input);
  } else if (supports_argmax(plan)) {
    // Without a saved argmax (inference-style backward), find it again with the training forward.
    const auto outputs = static_cast<std::size_t>(plan.output_shape.elements());
    std::vector<float> output(outputs);
    std::vector<std::uint8_t> argmax(outputs);
    windowed_forward(plan, input, output.data(), argmax.data());
    windowed_backward(plan, argmax.data(), grad_output, grad_input);
  } else {
    wide_max_backward(plan, input, grad_output, grad_input);
  }
}

}  // namespace poolnet::fast
