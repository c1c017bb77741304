// Highway microkernels, compiled once per target by foreach_target.h (this file includes itself
// once per instruction set) and dispatched at run time. See simd_kernels.hpp for the contracts.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "pooling/simd_kernels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/cache_control.h>
#include <hwy/highway.h>

#include <algorithm>
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <limits>
#include <cstring>
#include <numeric>
#include <vector>

#include "pooling/simd_kernels.hpp"

HWY_BEFORE_NAMESPACE();
namespace poolnet::simd {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;
using DI = hn::RebindToSigned<DF>;
using D8 = hn::Rebind<std::uint8_t, DI>;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Every exported kernel returns with the upper halves of the vector registers clean
// (VZEROUPPER). GCC leaves them dirty on paths that call a helper of this file after vector work
// and then return, as it takes the state after a call to be clean; the driver's baseline (SSE)
// code that runs next then pays for every instruction until the state is cleaned (the samples
// fell on the driver's first SSE instructions after the call). The channels_first average row
// kernel, whose 'same' rows end with calls of average_cell: (16,64,56,56) 3x3/1 'same', 2
// threads, 10.5 -> 2.3 ms (with Divisor's frexp gone too; in cache, 1 thread, 1.52 -> 0.44 ms
// from this alone).
class CleanUpperOnReturn {
 public:
  CleanUpperOnReturn() = default;
  CleanUpperOnReturn(const CleanUpperOnReturn&) = delete;
  CleanUpperOnReturn& operator=(const CleanUpperOnReturn&) = delete;
  ~CleanUpperOnReturn() {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX2
    _mm256_zeroupper();
#endif
  }
};

// ---- the max rule, scalar and vector --------------------------------------------------------
// A cell replaces the running maximum when it is larger, or when it is the first NaN: the result
// is the first maximum in window order, or the first NaN. The reference outputs the canonical
// quiet NaN, so NaN results are canonicalized when stored.
inline bool takes(float v, float acc) { return v > acc || (v != v && acc == acc); }
inline float canonical(float v) { return v != v ? kNaN : v; }

HWY_INLINE hn::Mask<DF> Takes(VF v, VF acc) {
  return hn::Or(hn::Gt(v, acc), hn::AndNot(hn::IsNaN(acc), hn::IsNaN(v)));
}
// The running maximum when no argmax is kept: v replaces acc only when strictly larger (ties keep
// the earlier cell, whose bits -0/+0 may differ; a NaN v never replaces, a NaN acc is never
// replaced, so NaN is tracked apart with IsNaN). On x86 that is exactly MAXPS(v, acc): one
// instruction, so the loop is not bound by the latency of compare + select.
HWY_INLINE VF MaxFirst(VF v, VF acc) {
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  return hn::Max(v, acc);
#else
  return hn::IfThenElse(hn::Gt(v, acc), v, acc);
#endif
}
// A store of results that nobody reads soon: non-temporal when asked and aligned (it skips the
// read-for-ownership of the destination line), else a plain store.
HWY_INLINE void StoreOut(VF v, float* p, bool stream) {
  const DF d;
  if (stream && reinterpret_cast<std::uintptr_t>(p) % (hn::Lanes(d) * sizeof(float)) == 0) {
    hn::Stream(v, d, p);
  } else {
    hn::StoreU(v, d, p);
  }
}
HWY_INLINE VF Canonical(DF d, VF acc) { return hn::IfThenElse(hn::IsNaN(acc), hn::Set(d, kNaN), acc); }
// An upstream gradient as the reference adds it into its zeroed grad_input: 0 + g, so that a -0
// gradient gives +0 (as TensorFlow's grad kernels, which also add into zeros), in kernels that
// store a cell's gradient without adding.
HWY_INLINE VF Upstream(const float* g) { return hn::Add(hn::Zero(DF()), hn::LoadU(DF(), g)); }

HWY_INLINE void StoreArgmax(VF idx, std::uint8_t* p) {
  const DI di;
  const D8 d8;
  hn::StoreU(hn::DemoteTo(d8, hn::ConvertTo(di, idx)), d8, p);
}
// The first `count` bytes of an argmax vector, and nothing past them (another thread may own
// those): AVX-512's masked byte store; elsewhere through L1 (Highway's BlendedStore of bytes may
// load, blend and store the whole vector there). The copy was 13 % of the channels_first
// (16,64,11,11) training forward in cache, two of three vectors a plane.
HWY_INLINE void StoreArgmaxPartial(hn::Vec<D8> bytes, std::size_t count, std::uint8_t* p) {
  const D8 d8;
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  hn::BlendedStore(bytes, hn::FirstN(d8, count), d8, p);
#else
  alignas(64) std::uint8_t part[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(bytes, d8, part);
  std::copy(part, part + count, p);
#endif
}
// The argmax bytes of `lanes` outputs (window cell indices as floats).
HWY_INLINE void StoreArgmaxLanes(VF idx, std::size_t lanes, std::uint8_t* p) {
  if (lanes == hn::Lanes(DF())) return StoreArgmax(idx, p);
  StoreArgmaxPartial(hn::DemoteTo(D8(), hn::ConvertTo(DI(), idx)), lanes, p);
}
HWY_INLINE VF LoadArgmax(const std::uint8_t* p) {
  const DF d;
  const DI di;
  const D8 d8;
  return hn::ConvertTo(d, hn::PromoteTo(di, hn::LoadU(d8, p)));
}

// double -> float rounded as static_cast does (inf stays inf). Highway 1.0's portable targets
// (scalar, EMU128) saturate infinities to the largest float instead, so they convert lane by lane.
template <class DTo, class V>
HWY_INLINE hn::Vec<DTo> DemoteExact(DTo d, V v) {
#if HWY_TARGET == HWY_SCALAR || HWY_TARGET == HWY_EMU128
  using DFrom = hn::Rebind<double, DTo>;
  alignas(64) double in[HWY_MAX_BYTES / sizeof(float)] = {};
  alignas(64) float out[HWY_MAX_BYTES / sizeof(float)] = {};
  hn::StoreU(v, DFrom(), in);
  for (std::size_t i = 0; i < hn::Lanes(d); ++i) out[i] = static_cast<float>(in[i]);
  return hn::LoadU(d, out);
#else
  return hn::DemoteTo(d, v);
#endif
}

// A window's cell count as a divisor. Dividing by a power of two is exact, and so is multiplying
// by its reciprocal: those counts (2x2, 2, 2x2x2 windows) skip the slow vector division (several
// times the cost of the rest of an average, forward or backward, on AVX-512) with the same bits.
struct Divisor {
  double count, reciprocal;
  float count_f, reciprocal_f;
  bool power_of_two;
  explicit Divisor(double n)
      : count(n), reciprocal(1.0 / n), count_f(static_cast<float>(n)), reciprocal_f(static_cast<float>(1.0 / n)) {
    // Counts are whole numbers of cells. (std::frexp, a libm call per output row, took a sixth
    // of the channels_first average row kernel's time.)
    const auto whole = static_cast<std::int64_t>(n);
    power_of_two = n > 0 && static_cast<double>(whole) == n && (whole & (whole - 1)) == 0;
  }
  // v / count in float, rounded once.
  HWY_INLINE VF divide(VF v) const {
    const DF d;
    return power_of_two ? hn::Mul(v, hn::Set(d, reciprocal_f)) : hn::Div(v, hn::Set(d, count_f));
  }
};

// Averages sum in float32, lane by lane in window order, as TensorFlow does (one add per float
// vector: the double sums below cost two conversions and two adds, which made averages compute-
// bound on AVX-512). Within SEMANTICS.md's tolerance of the reference's double sums, but a float
// sum can overflow where the double one does not, or turn inf + (-inf) into NaN sooner: any
// non-finite float result is recomputed with DoubleSum, so special values and overflow give the
// reference's bits exactly.
struct FloatSum {
  VF s;
  HWY_INLINE void add(VF v) { s = hn::Add(s, v); }
  HWY_INLINE VF mean(const Divisor& n) const { return n.divide(s); }
  HWY_INLINE VF mean_by(VF count) const { return hn::Div(s, count); }
  static HWY_INLINE FloatSum zero() { return FloatSum{hn::Zero(DF())}; }
};
HWY_INLINE bool AllFinite(VF v) { return hn::AllTrue(DF(), hn::IsFinite(v)); }
// The float means where finite, the double fallback's elsewhere: each lane's result depends on
// its own window only.
HWY_INLINE VF KeepFinite(VF float_mean, VF double_mean) {
  return hn::IfThenElse(hn::IsFinite(float_mean), float_mean, double_mean);
}

// Double sums of float vectors, lane by lane, in order (two double vectors per float vector; one
// double on the one-lane scalar target): the fallback of FloatSum, and global sums across chunks.
#if HWY_TARGET == HWY_SCALAR
using DD = hn::Rebind<double, DF>;
struct DoubleSum {
  hn::Vec<DD> lo;
  HWY_INLINE void add(VF v) { lo = hn::Add(lo, hn::PromoteTo(DD(), v)); }
  HWY_INLINE VF mean(const Divisor& n) const {
    const DD dd;
    return DemoteExact(DF(), n.power_of_two ? hn::Mul(lo, hn::Set(dd, n.reciprocal)) : hn::Div(lo, hn::Set(dd, n.count)));
  }
  HWY_INLINE VF mean_by(VF count) const { return DemoteExact(DF(), hn::Div(lo, hn::PromoteTo(DD(), count))); }
  HWY_INLINE double total() const { return hn::GetLane(lo); }
  static HWY_INLINE DoubleSum load(const double* p) { return DoubleSum{hn::LoadU(DD(), p)}; }
  HWY_INLINE void store(double* p) const { hn::StoreU(lo, DD(), p); }
  static HWY_INLINE DoubleSum zero() { return DoubleSum{hn::Zero(DD())}; }
};
#else
using DH = hn::Half<DF>;            // half a float vector
using DD = hn::Rebind<double, DH>;  // its lanes as doubles
struct DoubleSum {
  hn::Vec<DD> lo, hi;
  HWY_INLINE void add(VF v) {
    const DH dh;
    const DD dd;
    lo = hn::Add(lo, hn::PromoteTo(dd, hn::LowerHalf(dh, v)));
    hi = hn::Add(hi, hn::PromoteTo(dd, hn::UpperHalf(dh, v)));
  }
  // float(sum / count), rounded once like the reference.
  HWY_INLINE VF mean(const Divisor& n) const {
    const DF d;
    const DH dh;
    const DD dd;
    if (n.power_of_two) {
      const auto r = hn::Set(dd, n.reciprocal);
      return hn::Combine(d, DemoteExact(dh, hn::Mul(hi, r)), DemoteExact(dh, hn::Mul(lo, r)));
    }
    const auto c = hn::Set(dd, n.count);
    return hn::Combine(d, DemoteExact(dh, hn::Div(hi, c)), DemoteExact(dh, hn::Div(lo, c)));
  }
  HWY_INLINE VF mean_by(VF count) const {
    const DF d;
    const DH dh;
    const DD dd;
    const auto n_lo = hn::PromoteTo(dd, hn::LowerHalf(dh, count));
    const auto n_hi = hn::PromoteTo(dd, hn::UpperHalf(dh, count));
    return hn::Combine(d, DemoteExact(dh, hn::Div(hi, n_hi)), DemoteExact(dh, hn::Div(lo, n_lo)));
  }
  HWY_INLINE double total() const { return hn::GetLane(hn::SumOfLanes(DD(), hn::Add(lo, hi))); }
  static HWY_INLINE DoubleSum load(const double* p) { return DoubleSum{hn::LoadU(DD(), p), hn::LoadU(DD(), p + hn::Lanes(DD()))}; }
  HWY_INLINE void store(double* p) const {
    hn::StoreU(lo, DD(), p);
    hn::StoreU(hi, DD(), p + hn::Lanes(DD()));
  }
  static HWY_INLINE DoubleSum zero() { return DoubleSum{hn::Zero(DD()), hn::Zero(DD())}; }
};
#endif

// ---- geometry along the cols ----------------------------------------------------------------
inline std::int64_t start_of(const Axis& a, std::int64_t j) { return j * a.stride - a.pad_before; }
inline std::int64_t begin_of(const Axis& a, std::int64_t j) { return std::max<std::int64_t>(start_of(a, j), 0); }
inline std::int64_t end_of(const Axis& a, std::int64_t j) { return std::min(start_of(a, j) + a.window, a.in); }

// Outputs [lo, hi) whose unclipped window starts at or after col 0 and whose reads of `span`
// cols from the window start stay inside the row (the vectorized interior of a channels_first row).
inline void interior(const Axis& a, std::int64_t span, std::int64_t& lo, std::int64_t& hi) {
  lo = (a.pad_before + a.stride - 1) / a.stride;
  const std::int64_t last = a.in + a.pad_before - span;
  hi = last < 0 ? 0 : std::min(a.out, last / a.stride + 1);
  hi = std::max(hi, lo);
  lo = std::min(lo, a.out);
  hi = std::max(hi, lo);
}

// Lanes base[i * stride], i < N (all in bounds by the caller's interior).
HWY_INLINE VF LoadStrided(const float* base, std::int64_t stride) {
  const DF d;
  if (stride == 1) return hn::LoadU(d, base);
  if (stride == 2) {
    VF even, odd;
    hn::LoadInterleaved2(d, base, even, odd);
    return even;
  }
  const DI di;
  return hn::GatherIndex(d, base, hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<std::int32_t>(stride))));
}

// ---- forward ---------------------------------------------------------------------------------

// One output element (col ow, channel c) in scalar code: channels_last tails and channels_first edges.
template <bool kArgmax>
void max_cell(const ForwardRow& a, std::int64_t ow, std::size_t c) {
  const auto C = static_cast<std::int64_t>(a.channels);
  const std::int64_t ws = start_of(a.cols, ow), wb = begin_of(a.cols, ow), we = end_of(a.cols, ow);
  float acc = 0.0f;
  std::int64_t idx = 0;
  bool first = true;
  for (std::size_t r = 0; r < a.nrows; ++r) {
    for (std::int64_t w = wb; w < we; ++w) {
      const float v = a.rows[r][w * C + static_cast<std::int64_t>(c)];
      if (first || takes(v, acc)) {
        acc = v;
        idx = a.row_ids[r] + (w - ws);
        first = false;
      }
    }
  }
  const std::size_t o = static_cast<std::size_t>(ow) * a.channels + c;
  a.out[o] = canonical(acc);
  if constexpr (kArgmax) a.argmax[o] = static_cast<std::uint8_t>(idx);
}

// The same sum as the vector lanes (FloatSum, then DoubleSum if not finite), so that an output's
// bits do not depend on whether it falls in a vector or a tail (channels_first and channels_last
// results are bit-identical).
void average_cell(const ForwardRow& a, std::int64_t ow, std::size_t c) {
  const auto C = static_cast<std::int64_t>(a.channels);
  const std::int64_t wb = begin_of(a.cols, ow), we = end_of(a.cols, ow);
  auto window_sum = [&](auto sum) {
    for (std::size_t r = 0; r < a.nrows; ++r)
      for (std::int64_t w = wb; w < we; ++w) sum += a.rows[r][w * C + static_cast<std::int64_t>(c)];
    return sum;
  };
  const auto count = static_cast<std::int64_t>(a.nrows) * (we - wb);
  float mean = window_sum(0.0f) / static_cast<float>(count);
  if (!std::isfinite(mean)) mean = static_cast<float>(window_sum(0.0) / static_cast<double>(count));
  a.out[static_cast<std::size_t>(ow) * a.channels + c] = mean;
}

// channels_last: across channels, K vectors of channels at once (independent dependency chains),
// for each output col.
template <bool kArgmax, int K>
HWY_INLINE void max_channels_block(const ForwardRow& a, std::int64_t ow, std::size_t c) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const auto Cs = static_cast<std::int64_t>(a.channels);
  const auto cs = static_cast<std::int64_t>(c);
  const std::int64_t ws = start_of(a.cols, ow), wb = begin_of(a.cols, ow), we = end_of(a.cols, ow);
  VF acc[K], idx[K];
  hn::Mask<DF> nan[K];
  const float* first = a.rows[0] + wb * Cs + cs;
  for (int j = 0; j < K; ++j) {
    acc[j] = hn::LoadU(d, first + static_cast<std::size_t>(j) * N);
    nan[j] = hn::IsNaN(acc[j]);
    idx[j] = hn::Set(d, static_cast<float>(a.row_ids[0] + (wb - ws)));
  }
  for (std::size_t r = 0; r < a.nrows; ++r) {
    const float* row = a.rows[r] + cs;
    for (std::int64_t w = (r == 0 ? wb + 1 : wb); w < we; ++w) {
      const float* cell = row + w * Cs;
      if constexpr (kArgmax) {
        const VF id = hn::Set(d, static_cast<float>(a.row_ids[r] + (w - ws)));
        for (int j = 0; j < K; ++j) {
          const VF v = hn::LoadU(d, cell + static_cast<std::size_t>(j) * N);
          const auto take = Takes(v, acc[j]);
          acc[j] = hn::IfThenElse(take, v, acc[j]);
          idx[j] = hn::IfThenElse(take, id, idx[j]);
        }
      } else {
        for (int j = 0; j < K; ++j) {
          const VF v = hn::LoadU(d, cell + static_cast<std::size_t>(j) * N);
          acc[j] = MaxFirst(v, acc[j]);
          nan[j] = hn::Or(nan[j], hn::IsNaN(v));
        }
      }
    }
  }
  const std::size_t o = static_cast<std::size_t>(ow) * a.channels + c;
  for (int j = 0; j < K; ++j) {
    const std::size_t at = o + static_cast<std::size_t>(j) * N;
    if constexpr (kArgmax) {
      StoreOut(Canonical(d, acc[j]), a.out + at, a.stream);
      StoreArgmax(idx[j], a.argmax + at);
    } else {
      StoreOut(hn::IfThenElse(nan[j], hn::Set(d, kNaN), acc[j]), a.out + at, a.stream);
    }
  }
}

// channels_last max without argmax, windows of 3 cols with stride 2 (3x3/2, the overlapping
// pooling of ResNet-style stems), outputs [lo, hi) whose windows lie inside the row: every cell
// with MAXPS and nothing else (the generic loop spends two more instructions per cell tracking
// NaN). NaN is only detected, by a sum of the cells (each cell once per output row): `probe`
// turns NaN when one may be there, and the caller redoes [lo, hi) in the generic loop. 2 threads,
// 4 interleaved rounds of poolnet-bench, 3x3/2 'same': 26x26x32 0.67 -> 0.61 ms, 11x11x64 0.59 ->
// 0.51 ms, 112x112x64 5.00 -> 4.67 ms; 3x3x3/2 'same' 56x56x32 5.34 -> 5.01 ms; 1D 3/2 3.70 ->
// 3.19 ms. In cache, 26x26x32 29 -> 25.5 us per 8 images.
// How far ahead (4 KiB) the block prefetches the cells of its window rows: on the AMD EPYC (Zen
// 5) of the tenth session the hardware prefetcher left the memory idle between them (2 threads,
// 4 interleaved rounds: 112x112x64 3.91 -> 3.37 ms one row per call; 3x3x3/2 'same' 56x56x32
// 3.81 -> 3.42 ms). The first row too since the thirteenth session (before, only the rows after
// it, which left 1D rows without any): 1D (64,4096,64) 3/2 'same' 1.27-1.29 -> 1.08-1.12 ms
// (6 and 4 rounds), the 2D rows the same or faster.
constexpr std::uintptr_t kWindow3BlockPrefetchBytes = 4096;
HWY_INLINE void PrefetchAhead(const float* p, std::uintptr_t bytes) {
  // As an integer: the address may lie past the end of the input (a prefetch there does nothing).
  hwy::Prefetch(reinterpret_cast<const float*>(reinterpret_cast<std::uintptr_t>(p) + bytes));
}

template <int K, int P>
HWY_INLINE void max_window3_stride2_block(const ForwardRow* const* rows_of, std::int64_t lo, std::int64_t hi,
                                          std::size_t c, VF (&probe)[P][K], Window3RowChain* chain,
                                          VF (&bottom_probe)[K]) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t Cs = rows_of[0]->channels;
  const std::int64_t pad = rows_of[0]->cols.pad_before;
  // A chain (P == 1): row 0's window maxima come from chain->top; the last row's go there.
  const bool use_top = chain && chain->use_top, save_bottom = chain && chain->save_bottom;
  const std::size_t first_row = use_top ? 1 : 0, last_row = rows_of[0]->nrows - 1;
  // The first window's first col is the only cell no later window's cols 1 and 2 cover.
  const std::size_t first = static_cast<std::size_t>(2 * lo - pad) * Cs + c;
  for (int p = 0; p < P; ++p)
    for (std::size_t r = first_row; r < rows_of[p]->nrows; ++r)
      for (int j = 0; j < K; ++j) probe[p][j] = hn::Add(probe[p][j], hn::LoadU(d, rows_of[p]->rows[r] + first + j * N));
  // The saved row's first cell too, for the next output row: a NaN there stays in `top` (MaxFirst
  // keeps a NaN acc), and would reach that row's output with its sign, not as the canonical NaN.
  if (save_bottom) {
    for (int j = 0; j < K; ++j)
      bottom_probe[j] = hn::Add(bottom_probe[j], hn::LoadU(d, rows_of[0]->rows[last_row] + first + j * N));
  }
  for (std::int64_t ow = lo; ow < hi; ++ow) {
    const std::size_t at = static_cast<std::size_t>(2 * ow - pad) * Cs + c;
    const std::size_t o = static_cast<std::size_t>(ow) * Cs + c;
    for (int p = 0; p < P; ++p) {
      const ForwardRow& a = *rows_of[p];
      VF acc[K], sum[K];
      if (use_top) {
        for (int j = 0; j < K; ++j) {
          acc[j] = hn::LoadU(d, chain->top + o + j * N);
          sum[j] = hn::Zero(d);
        }
      } else {
        const float* q = a.rows[0] + at;
        for (int j = 0; j < K; ++j) {
          PrefetchAhead(q + Cs + j * N, kWindow3BlockPrefetchBytes);
          PrefetchAhead(q + 2 * Cs + j * N, kWindow3BlockPrefetchBytes);
          const VF x0 = hn::LoadU(d, q + j * N), x1 = hn::LoadU(d, q + Cs + j * N), x2 = hn::LoadU(d, q + 2 * Cs + j * N);
          acc[j] = MaxFirst(x2, MaxFirst(x1, x0));
          sum[j] = hn::Add(x1, x2);
        }
      }
      for (std::size_t r = 1; r < a.nrows; ++r) {
        const float* q = a.rows[r] + at;
        for (int j = 0; j < K; ++j) {
          PrefetchAhead(q + Cs + j * N, kWindow3BlockPrefetchBytes);
          PrefetchAhead(q + 2 * Cs + j * N, kWindow3BlockPrefetchBytes);
        }
        if (save_bottom && r == last_row) {
          // The row's own window maxima, then into acc: the same first maximum as cell by cell
          // (a later row's maximum replaces acc only where it is greater).
          for (int j = 0; j < K; ++j) {
            const VF x0 = hn::LoadU(d, q + j * N), x1 = hn::LoadU(d, q + Cs + j * N), x2 = hn::LoadU(d, q + 2 * Cs + j * N);
            const VF row_max = MaxFirst(x2, MaxFirst(x1, x0));
            acc[j] = MaxFirst(row_max, acc[j]);
            hn::StoreU(row_max, d, chain->top + o + j * N);
            const VF cells = hn::Add(x1, x2);
            sum[j] = hn::Add(sum[j], cells);
            bottom_probe[j] = hn::Add(bottom_probe[j], cells);
          }
          continue;
        }
        for (int j = 0; j < K; ++j) {
          const VF x0 = hn::LoadU(d, q + j * N), x1 = hn::LoadU(d, q + Cs + j * N), x2 = hn::LoadU(d, q + 2 * Cs + j * N);
          acc[j] = MaxFirst(x2, MaxFirst(x1, MaxFirst(x0, acc[j])));
          sum[j] = hn::Add(sum[j], hn::Add(x1, x2));
        }
      }
      if (save_bottom && last_row == 0) {  // a one-row window: its maxima are acc
        for (int j = 0; j < K; ++j) {
          hn::StoreU(acc[j], d, chain->top + o + j * N);
          bottom_probe[j] = hn::Add(bottom_probe[j], sum[j]);
        }
      }
      for (int j = 0; j < K; ++j) {
        probe[p][j] = hn::Add(probe[p][j], sum[j]);
        StoreOut(acc[j], a.out + o + j * N, a.stream);
      }
    }
  }
}

// The same for a window clipped at the row's edge ('same': one or two cols), every cell added to
// the probe; they went through max_channels_block, which tracks NaN per cell. 2 threads, 5
// interleaved rounds: channels_first (256,64,11,11) 3x3/2 'same' (transposed to 16 channels, 2 of
// 6 cols clipped) 0.685 -> 0.644 ms, in cache 43 -> 35 us per 16 planes; the other 3x3/2 rows the
// same.
template <int K, int P>
HWY_INLINE void max_window3_stride2_edge(const ForwardRow* const* rows_of, std::int64_t ow, std::size_t c,
                                         VF (&probe)[P][K]) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t Cs = rows_of[0]->channels;
  const Axis& x = rows_of[0]->cols;
  const std::int64_t b = begin_of(x, ow), e = end_of(x, ow);
  const std::size_t o = static_cast<std::size_t>(ow) * Cs + c;
  for (int p = 0; p < P; ++p) {
    const ForwardRow& a = *rows_of[p];
    VF acc[K];
    for (int j = 0; j < K; ++j) {
      acc[j] = hn::LoadU(d, a.rows[0] + static_cast<std::size_t>(b) * Cs + c + j * N);
      probe[p][j] = hn::Add(probe[p][j], acc[j]);
    }
    for (std::size_t r = 0; r < a.nrows; ++r) {
      for (std::int64_t w = r == 0 ? b + 1 : b; w < e; ++w) {
        const float* q = a.rows[r] + static_cast<std::size_t>(w) * Cs + c;
        for (int j = 0; j < K; ++j) {
          const VF v = hn::LoadU(d, q + j * N);
          acc[j] = MaxFirst(v, acc[j]);
          probe[p][j] = hn::Add(probe[p][j], v);
        }
      }
    }
    for (int j = 0; j < K; ++j) StoreOut(acc[j], a.out + o + j * N, a.stream);
  }
}

template <int K, int P>
HWY_INLINE void max_window3_stride2_channels(const ForwardRow* const* rows_of, std::int64_t lo, std::int64_t hi,
                                             std::size_t c, Window3RowChain* chain) {
  VF probe[P][K], bottom_probe[K];
  for (int j = 0; j < K; ++j) {
    for (int p = 0; p < P; ++p) probe[p][j] = hn::Zero(DF());
    bottom_probe[j] = hn::Zero(DF());
  }
  const std::int64_t out = rows_of[0]->cols.out;
  for (std::int64_t ow = 0; ow < lo; ++ow) max_window3_stride2_edge<K, P>(rows_of, ow, c, probe);
  max_window3_stride2_block<K, P>(rows_of, lo, hi, c, probe, chain, bottom_probe);
  for (std::int64_t ow = hi; ow < out; ++ow) max_window3_stride2_edge<K, P>(rows_of, ow, c, probe);
  if (chain && chain->save_bottom) {
    for (int j = 0; j < K; ++j) chain->bottom_suspect = chain->bottom_suspect || !hn::AllFalse(DF(), hn::IsNaN(bottom_probe[j]));
  }
  for (int p = 0; p < P; ++p) {
    bool nan = chain && chain->use_top && chain->top_suspect;  // row 0's cells were probed with the row before
    for (int j = 0; j < K; ++j) nan = nan || !hn::AllFalse(DF(), hn::IsNaN(probe[p][j]));
    if (nan) {
      for (std::int64_t ow = 0; ow < out; ++ow) max_channels_block<false, K>(*rows_of[p], ow, c);
    }
  }
}

// P output rows of one plan (the same cols and channels) at once, the windows of all in one loop
// (more streams of input in flight). Returns false when the rows are not such rows (the caller
// takes the generic loop).
template <int P>
bool max_rows_window3_stride2(const ForwardRow* const* rows_of, Window3RowChain* chain = nullptr) {
  const ForwardRow& a = *rows_of[0];
  const std::size_t N = hn::Lanes(DF());
  const std::size_t C = a.channels;
  if (a.cols.window != 3 || a.cols.stride != 2 || C % N != 0) return false;
  std::int64_t lo = 0, hi = 0;
  interior(a.cols, 3, lo, hi);
  if (hi - lo < 2) return false;
  if (chain) chain->bottom_suspect = false;
  std::size_t c = 0;
  for (; c + 4 * N <= C; c += 4 * N) max_window3_stride2_channels<4, P>(rows_of, lo, hi, c, chain);
  if (c + 2 * N <= C) {
    max_window3_stride2_channels<2, P>(rows_of, lo, hi, c, chain);
    c += 2 * N;
  }
  if (c + N <= C) max_window3_stride2_channels<1, P>(rows_of, lo, hi, c, chain);
  return true;
}

bool max_row_window3_stride2(const ForwardRow& a) {
  const ForwardRow* rows_of[1] = {&a};
  return max_rows_window3_stride2<1>(rows_of);
}

template <bool kArgmax>
void max_row_channels_last(const ForwardRow& a) {
  const std::size_t N = hn::Lanes(DF());
  const std::size_t C = a.channels;
  if constexpr (!kArgmax) {
    if (max_row_window3_stride2(a)) return;
  }
  for (std::int64_t ow = 0; ow < a.cols.out; ++ow) {
    std::size_t c = 0;
    for (; c + 4 * N <= C; c += 4 * N) max_channels_block<kArgmax, 4>(a, ow, c);
    if (c + 2 * N <= C) {
      max_channels_block<kArgmax, 2>(a, ow, c);
      c += 2 * N;
    }
    if (c + N <= C) {
      max_channels_block<kArgmax, 1>(a, ow, c);
      c += N;
    }
    for (; c < C; ++c) max_cell<kArgmax>(a, ow, c);
  }
}

// A channels_first row's last vector of outputs may be partial: its loads read whole vectors
// (lanes past the row read the next row or plane and are discarded) when the input goes on that far.
inline bool whole_vectors_readable(const ForwardRow& a, std::int64_t ow) {
  const auto N = static_cast<std::int64_t>(hn::Lanes(DF()));
  const std::int64_t s = a.cols.stride;
  const std::int64_t span = (s == 1 ? N : s == 2 ? 2 * N : s * (N - 1) + 1) + a.cols.window - 1;
  return start_of(a.cols, ow) + span <= a.readable;
}

// Stores the first `lanes` lanes, and only those: the neighbouring outputs may belong to another
// thread. A masked store (AVX-512, AVX2; Highway stores lane by lane elsewhere): the copy through
// a stack buffer it replaces held a fifth of the channels_first row kernel's samples on 112-col
// rows (3x3/2 'same', 2 threads: 7.8 -> 7.1 ms).
HWY_INLINE void StorePartial(VF v, std::int64_t lanes, float* p) {
  const DF d;
  if (lanes == static_cast<std::int64_t>(hn::Lanes(d))) {
    hn::StoreU(v, d, p);
    return;
  }
  hn::BlendedStore(v, hn::FirstN(d, static_cast<std::size_t>(lanes)), d, p);
}

// What both stride-2 channels_first loops below set up for a row: its window rows (copied out of
// the ForwardRow for up to kRows rows, so that they stay in registers: 1D 2/2 ran 4.1 ms reading
// them through `a`, 3.4 ms so), whether the last pair's odd cell is in the window, the end of the
// whole vectors of outputs whose loads stay in the input, and whether to stream.
template <int kPairs, int kRows>
struct Stride2Rows {
  Stride2Rows(const ForwardRow& a, std::int64_t ow, std::int64_t hi)
      : nrows(kRows > 0 ? static_cast<std::size_t>(kRows) : a.nrows), odd_last(2 * kPairs - 1 < a.cols.window),
        list_(a.rows) {
    const auto N = static_cast<std::int64_t>(hn::Lanes(DF()));
    for (std::size_t r = 0; r < nrows && r < 4; ++r) local_[r] = a.rows[r];
    // The last vector may read past the end of the input: it is checked apart.
    end = hi - (hi - ow) % N;
    if (end > ow && !whole_vectors_readable(a, end - N)) end -= N;
    // Non-temporal stores only where the row's outputs are whole aligned vectors: rows that leave
    // a line to plain stores ran slower streamed (112x112 planes: 7.0-7.5 -> 7.5-7.6 ms), whole
    // ones faster (1D (64,64,4096): 4.3-4.9 -> 3.7-4.2 ms; 3 interleaved rounds of poolnet-bench).
    stream = a.stream && a.cols.out % N == 0 &&
             reinterpret_cast<std::uintptr_t>(a.out) % (static_cast<std::size_t>(N) * sizeof(float)) == 0;
  }
  Stride2Rows(const Stride2Rows&) = delete;
  Stride2Rows& operator=(const Stride2Rows&) = delete;
  const float* const* rows() const { return kRows > 0 ? local_ : list_; }

  std::size_t nrows;
  bool odd_last;
  std::int64_t end = 0;
  bool stream = false;

 private:
  const float* local_[4] = {};
  const float* const* list_;
};

// channels_first without argmax, stride 2, window of kPairs * 2 - 1 or kPairs * 2 cols: whole
// vectors of outputs from `ow` on, in a loop with nothing but loads, deinterleaves and MAXPS (the
// generic loop below, with a branch per cell and NaN kept per lane, ran 1D (64,64,4096) 2/2 at
// 4.7 ms against 3.5 ms for such a loop). NaN is only detected, by a sum of the cells per vector
// of outputs; returns false when one may be there, and the caller redoes the row's interior in
// the generic loop. Returns the first output col it did not do through `ow`.
template <int kPairs, int kRows>
bool max_row_channels_first_stride2(const ForwardRow& a, std::int64_t& ow_io, std::int64_t hi) {
  const DF d;
  const auto N = static_cast<std::int64_t>(hn::Lanes(d));
  const Stride2Rows<kPairs, kRows> s(a, ow_io, hi);
  const float* const* row_list = s.rows();
  float* out = a.out;
  std::int64_t ow = ow_io;
  VF probe = hn::Zero(d);
  for (std::int64_t ws = start_of(a.cols, ow); ow < s.end; ow += N, ws += 2 * N) {
    VF acc;
    for (std::size_t r = 0; r < s.nrows; ++r) {
      const float* base = row_list[r] + ws;
      for (int pair = 0; pair < kPairs; ++pair) {
        VF even, odd;
        hn::LoadInterleaved2(d, base + 2 * pair, even, odd);
        acc = (r == 0 && pair == 0) ? even : MaxFirst(even, acc);
        if (pair + 1 < kPairs || s.odd_last) {
          acc = MaxFirst(odd, acc);
          probe = hn::Add(probe, hn::Add(even, odd));  // one add on the chain per load
        } else {
          probe = hn::Add(probe, even);
        }
      }
    }
    StoreOut(acc, out + ow, s.stream);
  }
  ow_io = ow;
  return AllFinite(probe);
}

template <int kPairs>
bool max_row_channels_first_stride2(const ForwardRow& a, std::int64_t& ow, std::int64_t hi) {
  switch (a.nrows) {
    case 1: return max_row_channels_first_stride2<kPairs, 1>(a, ow, hi);
    case 2: return max_row_channels_first_stride2<kPairs, 2>(a, ow, hi);
    case 3: return max_row_channels_first_stride2<kPairs, 3>(a, ow, hi);
    default: return max_row_channels_first_stride2<kPairs, 0>(a, ow, hi);
  }
}

// channels_first: along the cols, N outputs at a time in the interior, scalar at the edges.
template <bool kArgmax>
void max_row_channels_first(const ForwardRow& a) {
  const DF d;
  const auto N = static_cast<std::int64_t>(hn::Lanes(d));
  const Axis& x = a.cols;
  std::int64_t lo, hi;
  // Stride 2 loads 2N floats from the window start + kw: one col beyond the last lane's cell, so
  // the row's last vector is checked against the end of the input (the col read beyond the row is
  // the next row's first and is discarded).
  interior(x, x.window, lo, hi);
  std::int64_t ow = 0;
  for (; ow < lo; ++ow) max_cell<kArgmax>(a, ow, 0);
  if constexpr (!kArgmax) {
    if (x.stride == 2 && x.window <= 4) {
      const std::int64_t from = ow;
      const bool finite = x.window <= 2 ? max_row_channels_first_stride2<1>(a, ow, hi)
                                        : max_row_channels_first_stride2<2>(a, ow, hi);
      if (!finite) ow = from;
    }
  }
  for (std::int64_t lanes = 0; ow < hi; ow += lanes) {
    lanes = std::min(N, hi - ow);
    if ((lanes < N || ow + lanes == hi) && !whole_vectors_readable(a, ow)) break;
    const std::int64_t ws = start_of(x, ow);
    VF acc = hn::Zero(d), idx = hn::Zero(d);
    auto nan = hn::FirstN(d, 0);
    bool first = true;
    auto consume = [&](VF v, float id) {
      if (first) {
        acc = v;
        idx = hn::Set(d, id);
        first = false;
      } else if constexpr (kArgmax) {
        const auto take = Takes(v, acc);
        acc = hn::IfThenElse(take, v, acc);
        idx = hn::IfThenElse(take, hn::Set(d, id), idx);
      } else {
        acc = MaxFirst(v, acc);
      }
      if constexpr (!kArgmax) nan = hn::Or(nan, hn::IsNaN(v));
    };
    for (std::size_t r = 0; r < a.nrows; ++r) {
      const float* base = a.rows[r] + ws;
      const auto id = [&](std::int64_t kw) { return static_cast<float>(a.row_ids[r] + kw); };
      if (x.stride == 2) {
        // One deinterleaving load serves two window cols: kw (even lanes) and kw + 1 (odd lanes).
        for (std::int64_t kw = 0; kw < x.window; kw += 2) {
          VF even, odd;
          hn::LoadInterleaved2(d, base + kw, even, odd);
          consume(even, id(kw));
          if (kw + 1 < x.window) consume(odd, id(kw + 1));
        }
      } else {
        for (std::int64_t kw = 0; kw < x.window; ++kw) consume(LoadStrided(base + kw, x.stride), id(kw));
      }
    }
    if constexpr (!kArgmax) acc = hn::IfThenElse(nan, hn::Set(d, kNaN), acc);
    StorePartial(Canonical(d, acc), lanes, a.out + ow);
    if constexpr (kArgmax) StoreArgmaxLanes(idx, static_cast<std::size_t>(lanes), a.argmax + ow);
  }
  for (; ow < x.out; ++ow) max_cell<kArgmax>(a, ow, 0);
}

bool ForwardRowsMaxPair(const ForwardRow& a, const ForwardRow& b) {
  const CleanUpperOnReturn clean_upper;
  if (a.argmax || b.argmax || a.channels == 1) return false;
  const ForwardRow* rows_of[2] = {&a, &b};
  return max_rows_window3_stride2<2>(rows_of);
}

bool ForwardRowMaxWindow3Chain(const ForwardRow& a, Window3RowChain& chain) {
  const CleanUpperOnReturn clean_upper;
  if (a.argmax || a.channels == 1 || a.nrows == 0) return false;
  const ForwardRow* rows_of[1] = {&a};
  return max_rows_window3_stride2<1>(rows_of, &chain);
}

// How far ahead (8 KiB) a Window3Volume prefetches its input rows: it reads two planes' rows at
// once, and needs more lines in flight than the 2D kernels (2 threads, poolnet-bench, 5-7
// interleaved rounds, (8,32,56,56,32) 3x3x3/2 'same': none 2.91 ms, 2 KiB 2.30, 4 KiB 2.49,
// 8 KiB 2.20, 12 KiB 2.35-3.07 and 16 KiB 2.34 ms; the host's memory moved between phases).
constexpr std::uintptr_t kVolumePrefetchBytes = 8192;
// A Window3Volume's fields as locals of the kernel: its stores (may-alias vector stores) would
// otherwise make the compiler reload each one after every store.
struct VolumeRow {
  explicit VolumeRow(const Window3Volume& a)
      : depths(a.depths), heights(a.heights), Cs(a.channels), pad(a.cols.pad_before),
        first_depth(a.use_depth_top ? 1 : 0), first_row(a.use_rows_top ? 1 : 0), out(a.out),
        depth_top(a.depth_top), stream(a.stream), save_rows_top(a.save_rows_top),
        save_depth_top(a.save_depth_top), cols(a.cols) {
    for (std::size_t z = 0; z < depths; ++z) {
      rows_top[z] = a.rows_top[z];
      for (std::size_t y = 0; y < heights; ++y) rows[z][y] = a.rows[z * heights + y];
    }
  }
  std::size_t depths, heights, Cs;
  std::int64_t pad;
  std::size_t first_depth, first_row;
  float* out;
  float* depth_top;
  bool stream, save_rows_top, save_depth_top;
  Axis cols;
  const float* rows[3][3] = {};
  float* rows_top[3] = {};
};

// One output col of a Window3Volume, K vectors of channels from c. kInterior: the window's three
// cols lie inside the row (only the two after the first are probed: the first is the previous
// window's last, and the caller probes the first window's); else its clipped cols, all probed.
// kSteady: the common case, known to the compiler (loops unrolled): 3x3 rows, the first depth
// and each depth's first row from the caches.
template <int K, bool kInterior, bool kSteady>
HWY_INLINE void volume_window(const VolumeRow& a, std::int64_t ow, std::size_t c, VF (&probe)[K]) {
  const DF d;
  const std::size_t N = hn::Lanes(d), Cs = a.Cs;
  const std::int64_t b = kInterior ? 2 * ow - a.pad : begin_of(a.cols, ow);
  const std::int64_t cols = kInterior ? 3 : end_of(a.cols, ow) - b;
  const std::size_t at = static_cast<std::size_t>(b) * Cs + c, o = static_cast<std::size_t>(ow) * Cs + c;
  const std::size_t depths = kSteady ? 3 : a.depths, heights = kSteady ? 3 : a.heights;
  const std::size_t first_depth = kSteady ? 1 : a.first_depth, first_row = kSteady ? 1 : a.first_row;
  VF acc[K], depth_max[K], m[K];
  for (int j = 0; j < K; ++j) acc[j] = depth_max[j] = hn::Zero(d);  // set below before use
  if (first_depth) {
    for (int j = 0; j < K; ++j) acc[j] = hn::LoadU(d, a.depth_top + o + j * N);
  }
  for (std::size_t z = first_depth; z < depths; ++z) {
    if (first_row) {
      for (int j = 0; j < K; ++j) depth_max[j] = hn::LoadU(d, a.rows_top[z] + o + j * N);
    }
    for (std::size_t y = first_row; y < heights; ++y) {
      // The window maxima of one input row (its cols in order: ties keep the first).
      const float* q = a.rows[z][y] + at;
      for (int j = 0; j < K; ++j) {
        if constexpr (kInterior) {
          PrefetchAhead(q + Cs + j * N, kVolumePrefetchBytes);
          PrefetchAhead(q + 2 * Cs + j * N, kVolumePrefetchBytes);
          const VF x0 = hn::LoadU(d, q + j * N), x1 = hn::LoadU(d, q + Cs + j * N), x2 = hn::LoadU(d, q + 2 * Cs + j * N);
          probe[j] = hn::Add(probe[j], hn::Add(x1, x2));
          m[j] = MaxFirst(x2, MaxFirst(x1, x0));
        } else {
          m[j] = hn::LoadU(d, q + j * N);
          probe[j] = hn::Add(probe[j], m[j]);
          for (std::int64_t w = 1; w < cols; ++w) {
            const VF x = hn::LoadU(d, q + static_cast<std::size_t>(w) * Cs + j * N);
            m[j] = MaxFirst(x, m[j]);
            probe[j] = hn::Add(probe[j], x);
          }
        }
      }
      if (a.save_rows_top && y + 1 == heights) {
        for (int j = 0; j < K; ++j) hn::StoreU(m[j], d, a.rows_top[z] + o + j * N);
      }
      for (int j = 0; j < K; ++j) depth_max[j] = y == 0 ? m[j] : MaxFirst(m[j], depth_max[j]);
    }
    if (a.save_depth_top && z + 1 == depths) {
      for (int j = 0; j < K; ++j) hn::StoreU(depth_max[j], d, a.depth_top + o + j * N);
    }
    for (int j = 0; j < K; ++j) acc[j] = z == 0 ? depth_max[j] : MaxFirst(depth_max[j], acc[j]);
  }
  for (int j = 0; j < K; ++j) StoreOut(acc[j], a.out + o + j * N, a.stream);
}

// All output cols of a Window3Volume, K vectors of channels from c; their probe added to `total`.
template <int K>
HWY_INLINE void volume_channels(const VolumeRow& a, std::int64_t lo, std::int64_t hi, std::size_t c, VF& total) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF probe[K];
  for (int j = 0; j < K; ++j) probe[j] = hn::Zero(d);
  // The first interior window's first col: no interior window probes it.
  const std::size_t first = static_cast<std::size_t>(2 * lo - a.pad) * a.Cs + c;
  for (std::size_t z = a.first_depth; z < a.depths; ++z)
    for (std::size_t y = a.first_row; y < a.heights; ++y)
      for (int j = 0; j < K; ++j) probe[j] = hn::Add(probe[j], hn::LoadU(d, a.rows[z][y] + first + j * N));
  for (std::int64_t ow = 0; ow < lo; ++ow) volume_window<K, false, false>(a, ow, c, probe);
  if (a.depths == 3 && a.heights == 3 && a.first_depth == 1 && a.first_row == 1) {
    for (std::int64_t ow = lo; ow < hi; ++ow) volume_window<K, true, true>(a, ow, c, probe);
  } else {
    for (std::int64_t ow = lo; ow < hi; ++ow) volume_window<K, true, false>(a, ow, c, probe);
  }
  for (std::int64_t ow = hi; ow < a.cols.out; ++ow) volume_window<K, false, false>(a, ow, c, probe);
  for (int j = 0; j < K; ++j) total = hn::Add(total, probe[j]);
}

bool ForwardRowMaxWindow3Volume(const Window3Volume& a, bool& suspect) {
  const CleanUpperOnReturn clean_upper;
  const std::size_t N = hn::Lanes(DF()), C = a.channels;
  if (a.cols.window != 3 || a.cols.stride != 2 || C % N != 0) return false;
  std::int64_t lo = 0, hi = 0;
  interior(a.cols, 3, lo, hi);
  if (hi - lo < 2) return false;
  if (a.depths > 3 || a.heights > 3) return false;
  const VolumeRow row(a);
  VF total = hn::Zero(DF());
  std::size_t c = 0;
  for (; c + 4 * N <= C; c += 4 * N) volume_channels<4>(row, lo, hi, c, total);
  if (c + 2 * N <= C) {
    volume_channels<2>(row, lo, hi, c, total);
    c += 2 * N;
  }
  if (c + N <= C) volume_channels<1>(row, lo, hi, c, total);
  suspect = suspect || !hn::AllFalse(DF(), hn::IsNaN(total));
  return true;
}

void ForwardRowMax(const ForwardRow& a) {
  const CleanUpperOnReturn clean_upper;
  if (a.channels == 1) {
    if (a.argmax) max_row_channels_first<true>(a); else max_row_channels_first<false>(a);
  } else {
    if (a.argmax) max_row_channels_last<true>(a); else max_row_channels_last<false>(a);
  }
}

// channels_last: the means of K vectors of channels at once (independent chains of adds), cells
// in window order as the reference adds them.
template <class Acc, int K>
HWY_INLINE void window_means(const ForwardRow& a, std::int64_t wb, std::int64_t we, std::int64_t Cs,
                             std::size_t c, const Divisor& count, VF* mean) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  Acc s[K];
  for (int j = 0; j < K; ++j) s[j] = Acc::zero();
  for (std::size_t r = 0; r < a.nrows; ++r) {
    const float* row = a.rows[r] + static_cast<std::int64_t>(c);
    for (std::int64_t w = wb; w < we; ++w)
      for (int j = 0; j < K; ++j) s[j].add(hn::LoadU(d, row + w * Cs + static_cast<std::int64_t>(static_cast<std::size_t>(j) * N)));
  }
  for (int j = 0; j < K; ++j) mean[j] = s[j].mean(count);
}
template <int K>
HWY_INLINE void average_channels_block(const ForwardRow& a, std::int64_t wb, std::int64_t we, std::int64_t Cs,
                                       std::size_t c, const Divisor& count, float* out) {
  const std::size_t N = hn::Lanes(DF());
  VF mean[K];
  window_means<FloatSum, K>(a, wb, we, Cs, c, count, mean);
  bool finite = true;
  for (int j = 0; j < K; ++j) finite = finite && AllFinite(mean[j]);
  if (!finite) {
    VF exact[K];
    window_means<DoubleSum, K>(a, wb, we, Cs, c, count, exact);
    for (int j = 0; j < K; ++j) mean[j] = KeepFinite(mean[j], exact[j]);
  }
  for (int j = 0; j < K; ++j) StoreOut(mean[j], out + c + static_cast<std::size_t>(j) * N, a.stream);
}

// channels_first average, stride 2, window of kPairs * 2 - 1 or kPairs * 2 cols: whole vectors
// of interior outputs from `ow` on, one deinterleaving load per pair of window cols (the generic
// loop loads each col apart: twice the loads and permutes). The same float sum in window order,
// redone in double where not finite. Returns through `ow` the first output col it did not do.
template <int kPairs, int kRows>
void average_row_channels_first_stride2(const ForwardRow& a, const Divisor& count, std::int64_t& ow_io,
                                        std::int64_t hi) {
  const DF d;
  const auto N = static_cast<std::int64_t>(hn::Lanes(d));
  const Stride2Rows<kPairs, kRows> s(a, ow_io, hi);
  const float* const* row_list = s.rows();
  float* out = a.out;
  std::int64_t ow = ow_io;
  for (std::int64_t ws = start_of(a.cols, ow); ow < s.end; ow += N, ws += 2 * N) {
    auto mean = [&](auto sum) {
      for (std::size_t r = 0; r < s.nrows; ++r) {
        const float* base = row_list[r] + ws;
        for (int pair = 0; pair < kPairs; ++pair) {
          VF even, odd;
          hn::LoadInterleaved2(d, base + 2 * pair, even, odd);
          sum.add(even);
          if (pair + 1 < kPairs || s.odd_last) sum.add(odd);
        }
      }
      return sum.mean(count);
    };
    VF m = mean(FloatSum::zero());
    if (!AllFinite(m)) m = KeepFinite(m, mean(DoubleSum::zero()));
    StoreOut(m, out + ow, s.stream);
  }
  ow_io = ow;
}

template <int kPairs>
void average_row_channels_first_stride2(const ForwardRow& a, const Divisor& count, std::int64_t& ow,
                                        std::int64_t hi) {
  switch (a.nrows) {
    case 1: return average_row_channels_first_stride2<kPairs, 1>(a, count, ow, hi);
    case 2: return average_row_channels_first_stride2<kPairs, 2>(a, count, ow, hi);
    case 3: return average_row_channels_first_stride2<kPairs, 3>(a, count, ow, hi);
    default: return average_row_channels_first_stride2<kPairs, 0>(a, count, ow, hi);
  }
}

void ForwardRowAverage(const ForwardRow& a) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const Axis& x = a.cols;
  if (a.channels > 1) {
    const std::size_t C = a.channels;
    const auto Cs = static_cast<std::int64_t>(C);
    for (std::int64_t ow = 0; ow < x.out; ++ow) {
      const std::int64_t wb = begin_of(x, ow), we = end_of(x, ow);
      const Divisor count(static_cast<double>(a.nrows) * static_cast<double>(we - wb));
      float* out = a.out + static_cast<std::size_t>(ow) * C;
      std::size_t c = 0;
      for (; c + 4 * N <= C; c += 4 * N) average_channels_block<4>(a, wb, we, Cs, c, count, out);
      if (c + 2 * N <= C) {
        average_channels_block<2>(a, wb, we, Cs, c, count, out);
        c += 2 * N;
      }
      if (c + N <= C) {
        average_channels_block<1>(a, wb, we, Cs, c, count, out);
        c += N;
      }
      for (; c < C; ++c) average_cell(a, ow, c);
    }
    return;
  }
  std::int64_t lo, hi;
  interior(x, x.window, lo, hi);  // see max_row_channels_first
  const Divisor count(static_cast<double>(a.nrows) * static_cast<double>(x.window));
  const auto Ns = static_cast<std::int64_t>(N);
  std::int64_t ow = 0;
  for (; ow < lo; ++ow) average_cell(a, ow, 0);
  if (x.stride == 2 && x.window <= 4) {
    if (x.window <= 2) {
      average_row_channels_first_stride2<1>(a, count, ow, hi);
    } else {
      average_row_channels_first_stride2<2>(a, count, ow, hi);
    }
  }
  for (std::int64_t lanes = 0; ow < hi; ow += lanes) {
    lanes = std::min(Ns, hi - ow);
    if ((lanes < Ns || ow + lanes == hi) && !whole_vectors_readable(a, ow)) break;
    const std::int64_t ws = start_of(x, ow);
    auto mean = [&](auto s) {
      for (std::size_t r = 0; r < a.nrows; ++r)
        for (std::int64_t kw = 0; kw < x.window; ++kw) s.add(LoadStrided(a.rows[r] + ws + kw, x.stride));
      return s.mean(count);
    };
    VF m = mean(FloatSum::zero());
    if (!AllFinite(m)) m = KeepFinite(m, mean(DoubleSum::zero()));
    StorePartial(m, lanes, a.out + ow);
  }
  for (; ow < x.out; ++ow) average_cell(a, ow, 0);
}

// channels_first planes: lanes over the plane's outputs, one gather per window cell.
template <bool kArgmax>
void plane_max(const PlaneTable& t, const float* plane, float* out, std::uint8_t* argmax) {
  const DF d;
  const DI di;
  const std::size_t N = hn::Lanes(d);
  for (std::size_t o = 0, g = 0; o < t.outputs; o += N, ++g) {
    VF acc = hn::Zero(d), idx = hn::Zero(d);
    auto started = hn::FirstN(d, 0);
    for (std::size_t k = 0; k < t.cells; ++k) {
      const std::size_t at = (g * t.cells + k) * N;
      const auto real = hn::RebindMask(d, hn::MaskFromVec(hn::LoadU(di, t.real + at)));
      const VF v = hn::GatherIndex(d, plane, hn::LoadU(di, t.index + at));
      const auto take = hn::And(real, hn::Or(hn::Not(started), Takes(v, acc)));
      acc = hn::IfThenElse(take, v, acc);
      if constexpr (kArgmax) idx = hn::IfThenElse(take, hn::Set(d, static_cast<float>(k)), idx);
      started = hn::Or(started, real);
    }
    acc = Canonical(d, acc);
    if (o + N <= t.outputs) {
      hn::StoreU(acc, d, out + o);
      if constexpr (kArgmax) StoreArgmax(idx, argmax + o);
    } else {
      alignas(64) float values[HWY_MAX_BYTES / sizeof(float)] = {};
      alignas(64) std::uint8_t indices[HWY_MAX_BYTES / sizeof(float)] = {};
      hn::StoreU(acc, d, values);
      if constexpr (kArgmax) StoreArgmax(idx, indices);
      for (std::size_t l = 0; o + l < t.outputs; ++l) {
        out[o + l] = values[l];
        if constexpr (kArgmax) argmax[o + l] = indices[l];
      }
    }
  }
}

void ForwardPlaneMax(const PlaneTable& t, const float* plane, float* out, std::uint8_t* argmax) {
  const CleanUpperOnReturn clean_upper;
  if (argmax) plane_max<true>(t, plane, out, argmax); else plane_max<false>(t, plane, out, nullptr);
}

void ForwardPlaneAverage(const PlaneTable& t, const float* plane, float* out) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const DI di;
  const std::size_t N = hn::Lanes(d);
  for (std::size_t o = 0, g = 0; o < t.outputs; o += N, ++g) {
    auto window_mean = [&](auto s) {
      for (std::size_t k = 0; k < t.cells; ++k) {
        const std::size_t at = (g * t.cells + k) * N;
        const auto real = hn::RebindMask(d, hn::MaskFromVec(hn::LoadU(di, t.real + at)));
        s.add(hn::IfThenElseZero(real, hn::GatherIndex(d, plane, hn::LoadU(di, t.index + at))));
      }
      return s.mean_by(hn::LoadU(d, t.count + g * N));
    };
    VF mean = window_mean(FloatSum::zero());
    if (!AllFinite(mean)) mean = KeepFinite(mean, window_mean(DoubleSum::zero()));
    if (o + N <= t.outputs) {
      hn::StoreU(mean, d, out + o);
    } else {
      alignas(64) float values[HWY_MAX_BYTES / sizeof(float)] = {};
      hn::StoreU(mean, d, values);
      for (std::size_t l = 0; o + l < t.outputs; ++l) out[o + l] = values[l];
    }
  }
}

// Max 2x2/2 of a small channels_first plane with an even number of cols, in two passes of whole
// vectors instead of rows too short for them. Pass 1 takes the max of every horizontal pair over
// the flattened plane (pairs never straddle rows when the cols are even); pass 2 takes the max of
// each two rows of pair maxima, one output row per (partial, masked) vector. Pairwise is exact:
// the first maximum (or first NaN) of a window is the first of the first maxima of its halves,
// taken in window order.
template <bool kArgmax>
void plane_pairs_max(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                     std::uint8_t* argmax, float* pair_max, float* pair_idx) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t cols_out = cols_in / 2, pairs = 2 * rows_out * cols_out;
  const VF one = hn::Set(d, 1.0f), two = hn::Set(d, 2.0f);
  // Pass 1, whole vectors, then the last pairs one by one (nothing past the plane is read).
  std::size_t i = 0;
  for (; i + N <= pairs; i += N) {
    VF even, odd;
    hn::LoadInterleaved2(d, plane + 2 * i, even, odd);
    if constexpr (kArgmax) {
      const auto take = Takes(odd, even);
      hn::StoreU(hn::IfThenElse(take, odd, even), d, pair_max + i);
      hn::StoreU(hn::IfThenElseZero(take, one), d, pair_idx + i);
    } else {
      const auto nan = hn::Or(hn::IsNaN(even), hn::IsNaN(odd));
      hn::StoreU(hn::IfThenElse(nan, hn::Set(d, kNaN), MaxFirst(odd, even)), d, pair_max + i);
    }
  }
  for (; i < pairs; ++i) {
    const float even = plane[2 * i], odd = plane[2 * i + 1];
    const bool take = takes(odd, even);
    pair_max[i] = take ? odd : even;
    if constexpr (kArgmax) pair_idx[i] = take ? 1.0f : 0.0f;
  }
  // Pass 2: output row r = rows 2r and 2r + 1 of pair maxima.
  for (std::size_t r = 0; r < rows_out; ++r) {
    const float* upper = pair_max + 2 * r * cols_out;
    const float* lower = upper + cols_out;
    for (std::size_t c = 0; c < cols_out; c += N) {
      const std::size_t lanes = std::min(N, cols_out - c);
      const VF a = hn::LoadU(d, upper + c), b = hn::LoadU(d, lower + c);
      VF m;
      if constexpr (kArgmax) {
        const auto take = Takes(b, a);
        m = hn::IfThenElse(take, b, a);
        const float* upper_idx = pair_idx + 2 * r * cols_out;
        const VF idx = hn::IfThenElse(take, hn::Add(two, hn::LoadU(d, upper_idx + cols_out + c)),
                                      hn::LoadU(d, upper_idx + c));
        StoreArgmaxLanes(idx, lanes, argmax + r * cols_out + c);
      } else {
        m = hn::IfThenElse(hn::Or(hn::IsNaN(a), hn::IsNaN(b)), hn::Set(d, kNaN), MaxFirst(b, a));
      }
      StorePartial(Canonical(d, m), static_cast<std::int64_t>(lanes), out + r * cols_out + c);
    }
  }
}

void ForwardPlanePairsMax(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                          std::uint8_t* argmax, float* pair_max, float* pair_idx) {
  const CleanUpperOnReturn clean_upper;
  if (argmax) {
    plane_pairs_max<true>(plane, rows_out, cols_in, out, argmax, pair_max, pair_idx);
  } else {
    plane_pairs_max<false>(plane, rows_out, cols_in, out, nullptr, pair_max, nullptr);
  }
}

// Average 2x2/2 of the same planes: the sum must be the reference's window order, ((a + b) + c)
// + d with a, b the upper row's pair and c, d the lower row's, so pass 1 keeps every pair's sum
// (a + b) and its two cells deinterleaved, and pass 2 adds the lower row's cells to the upper
// row's sums. Means that are not finite are redone in double, as in every average kernel.
void ForwardPlanePairsAverage(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                              float* pair_sum, float* pair_cells) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t cols_out = cols_in / 2, pairs = 2 * rows_out * cols_out;
  float* firsts = pair_cells;                                   // a (or c) of every pair
  float* seconds = pair_cells + pairs + N;                      // b (or d)
  std::size_t i = 0;
  for (; i + N <= pairs; i += N) {
    VF even, odd;
    hn::LoadInterleaved2(d, plane + 2 * i, even, odd);
    hn::StoreU(hn::Add(hn::Add(hn::Zero(d), even), odd), d, pair_sum + i);  // from +0, as every sum
    hn::StoreU(even, d, firsts + i);
    hn::StoreU(odd, d, seconds + i);
  }
  for (; i < pairs; ++i) {
    firsts[i] = plane[2 * i];
    seconds[i] = plane[2 * i + 1];
    pair_sum[i] = (0.0f + firsts[i]) + seconds[i];
  }
  const Divisor four(4.0);
  for (std::size_t r = 0; r < rows_out; ++r) {
    const std::size_t upper = 2 * r * cols_out, lower = upper + cols_out;
    for (std::size_t c = 0; c < cols_out; c += N) {
      const std::size_t lanes = std::min(N, cols_out - c);
      FloatSum sum{hn::LoadU(d, pair_sum + upper + c)};
      sum.add(hn::LoadU(d, firsts + lower + c));
      sum.add(hn::LoadU(d, seconds + lower + c));
      VF mean = sum.mean(four);
      // Lanes past the row are whatever the scratch holds there: only the stored lanes count.
      if (!hn::AllTrue(d, hn::Or(hn::IsFinite(mean), hn::Not(hn::FirstN(d, lanes))))) {
        DoubleSum exact = DoubleSum::zero();
        exact.add(hn::LoadU(d, firsts + upper + c));
        exact.add(hn::LoadU(d, seconds + upper + c));
        exact.add(hn::LoadU(d, firsts + lower + c));
        exact.add(hn::LoadU(d, seconds + lower + c));
        mean = KeepFinite(mean, exact.mean(four));
      }
      StorePartial(mean, static_cast<std::int64_t>(lanes), out + r * cols_out + c);
    }
  }
}

// Pass 1's reduction for windows of 3 cols whose first two cells always lie in the row (padding
// only after it: 'valid', or 'same' on even cols): the terms unrolled and only the last one
// masked, where the generic loop tests every term's masks per vector. 2 threads, 5 interleaved
// rounds, (32,64,112,112) 3x3/2 'same' 7.75 -> 7.4 ms; (128,32,26,26) 0.78 -> 0.71 ms.
HWY_INLINE void cols_max_terms3(const ColsStride2& c, const float* const* source, float* out, std::size_t vectors) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const VF lowest = hn::Set(d, -std::numeric_limits<float>::infinity());
  const std::uint8_t* masks = c.lane_masks[2];
  for (std::size_t v = 0, j = 0; v < vectors; ++v, j += N) {
    const VF x0 = hn::LoadU(d, source[0] + j), x1 = hn::LoadU(d, source[1] + j);
    VF x2 = hn::LoadU(d, source[2] + j);
    if (masks) x2 = hn::IfThenElse(hn::LoadMaskBits(d, masks + v * c.mask_bytes), x2, lowest);
    hn::StoreU(MaxFirst(x2, MaxFirst(x1, x0)), d, out + j);
  }
}

// Pass 1 of separable channels_first max with stride 2 along the cols (see simd_kernels.hpp):
// the flattened slice is deinterleaved into even and odd cells in whole vectors (pairs never
// straddle rows when the cols are even), then each window term is one unaligned load of evens or
// odds at its pair offset, masked to -inf where the term's cell lies outside its row. With no NaN
// MAXPS keeps the first maximum, so NaN is only detected: a sum of all cells is NaN when one is
// (or when inf meets -inf; a plain scan then tells).
bool ColsMaxStride2(const ColsStride2& c, const float* in, float* scratch, float* out) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t pairs = c.rows * c.half_cols;
  const std::size_t margin = cols_stride2_margin(c.window, N);
  float* evens = scratch + margin;
  float* odds = evens + pairs + 2 * margin;
  VF probe = hn::Zero(d);
  std::size_t i = 0;
  for (; i + N <= pairs; i += N) {
    VF even, odd;
    hn::LoadInterleaved2(d, in + 2 * i, even, odd);
    hn::StoreU(even, d, evens + i);
    hn::StoreU(odd, d, odds + i);
    probe = hn::Add(probe, hn::Add(even, odd));
  }
  float tail_probe = 0.0f;
  for (; i < pairs; ++i) {
    evens[i] = in[2 * i];
    odds[i] = in[2 * i + 1];
    tail_probe += evens[i] + odds[i];
  }
  if (!AllFinite(probe) || !std::isfinite(tail_probe)) {
    for (std::size_t k = 0; k < 2 * pairs; ++k)
      if (std::isnan(in[k])) return false;
  }
  // Term t reads cell 2 * col + u, u = t - pad_before: pair col + floor(u / 2) of the evens or odds.
  const float* source[kColsMaxWindow];
  for (std::int64_t t = 0; t < c.window; ++t) {
    const std::int64_t u = t - c.pad_before;
    source[t] = ((u & 1) ? odds : evens) + (u >= 0 ? u / 2 : -((1 - u) / 2));
  }
  const VF lowest = hn::Set(d, -std::numeric_limits<float>::infinity());
  const std::size_t vectors = (pairs + N - 1) / N;
  if (c.window == 3 && c.lane_masks[0] == nullptr && c.lane_masks[1] == nullptr) {
    cols_max_terms3(c, source, out, vectors);
    return true;
  }
  for (std::size_t v = 0; v < vectors; ++v) {
    const std::size_t j = v * N;
    VF acc = lowest;
    for (std::int64_t t = 0; t < c.window; ++t) {
      VF x = hn::LoadU(d, source[t] + j);
      if (const std::uint8_t* masks = c.lane_masks[t]) {
        x = hn::IfThenElse(hn::LoadMaskBits(d, masks + v * c.mask_bytes), x, lowest);
      }
      acc = MaxFirst(x, acc);
    }
    hn::StoreU(acc, d, out + j);
  }
  return true;
}

// ---- channels_first planes, 3x3/2 windows (simd::Window3Stride2Plane) --------------------------

// hi's lane 0 after lo's lanes 1.. (the vector one lane further along).
HWY_INLINE VF NextLane(VF hi, VF lo) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return VF{_mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(hi.raw), _mm512_castps_si512(lo.raw), 1))};
#elif HWY_TARGET == HWY_AVX2
  const DF d;
  return hn::CombineShiftRightBytes<4>(d, hn::ConcatLowerUpper(d, hi, lo), lo);
#elif HWY_TARGET == HWY_SCALAR
  (void)lo;
  return hi;
#elif HWY_MAX_BYTES == 16
  return hn::CombineShiftRightBytes<4>(DF(), hi, lo);
#else
  const DF d;
  const std::size_t N = hn::Lanes(d);
  alignas(64) float cells[2 * HWY_MAX_BYTES / sizeof(float)];
  hn::Store(lo, d, cells);
  hn::Store(hi, d, cells + N);
  return hn::LoadU(d, cells + 1);
#endif
}

// One input row reduced along the cols by windows of 3 cols with stride 2 and no padding before
// (pair j: cells 2j, 2j + 1 and 2j + 2, the last clipped at the row's end), a vector of pairs at
// a time: the pairs are deinterleaved in registers a vector ahead, so the third term is a lane
// shift. Every cell loaded is added to the probe, which is not finite when one may be NaN.
struct Window3Row {
  VF even, odd, probe;
};

// Pairs [i, i + lanes) of `row` (half pairs long), with the cells past the row (read while they
// are before `end`, else 0) left out of the probe.
HWY_INLINE void Window3Load(const float* row, std::size_t i, std::size_t half, const float* end, VF& even, VF& odd,
                            VF& probe) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  if (row + 2 * (i + N) <= end) {
    hn::LoadInterleaved2(d, row + 2 * i, even, odd);
  } else {
    alignas(64) float cells[2 * HWY_MAX_BYTES / sizeof(float)] = {};
    std::copy(row + 2 * i, end, cells);
    hn::LoadInterleaved2(d, cells, even, odd);
  }
  VF sum = hn::Add(even, odd);
  if (i + N > half) sum = hn::IfThenElseZero(hn::FirstN(d, half - i), sum);
  probe = hn::Add(probe, sum);
}

HWY_INLINE Window3Row Window3Start(const float* row, std::size_t half, const float* end) {
  Window3Row s{hn::Zero(DF()), hn::Zero(DF()), hn::Zero(DF())};
  Window3Load(row, 0, half, end, s.even, s.odd, s.probe);
  return s;
}

// The window maxima of pairs [i, i + lanes), where pairs [i + lanes, i + 2 * lanes) all lie in
// the row: no checks.
HWY_INLINE VF Window3Body(const float* row, std::size_t i, Window3Row& s) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF even, odd;
  hn::LoadInterleaved2(d, row + 2 * (i + N), even, odd);
  s.probe = hn::Add(s.probe, hn::Add(even, odd));
  const VF acc = MaxFirst(NextLane(even, s.even), MaxFirst(s.odd, s.even));
  s.even = even;
  s.odd = odd;
  return acc;
}

// The same for any i (the row's last vectors): the next vector may be partial or past the row.
HWY_INLINE VF Window3Tail(const float* row, std::size_t i, std::size_t half, const float* end, Window3Row& s) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const VF acc = MaxFirst(s.odd, s.even);
  VF third;
  if (i + N < half) {
    VF even, odd;
    Window3Load(row, i + N, half, end, even, odd, s.probe);
    third = NextLane(even, s.even);
    s.even = even;
    s.odd = odd;
  } else {
    const VF lowest = hn::Set(d, -std::numeric_limits<float>::infinity());
    third = hn::IfThenElse(hn::FirstN(d, half - 1 - i), NextLane(hn::Zero(d), s.even), lowest);
  }
  return MaxFirst(third, acc);
}

// How far ahead Window3OutputRow prefetches its input rows (4 KiB).
constexpr std::int64_t kWindow3PrefetchFloats = 1024;

// Output row r of a plane, with its three input rows, in one loop over the cols: row 2r's window
// maxima come from `top`, and row 2r + 2's replace them there for row r + 1. suspect[r] holds on
// entry whether row 2r may hold a NaN, and on return whether the output row may; suspect[r + 1]
// gets row 2r + 2's.
HWY_INLINE void Window3OutputRow(const Window3Stride2Plane& a, std::int64_t r, float* top) {
  const DF d;
  const std::size_t N = hn::Lanes(d), half = a.cols_in / 2, cols_out = a.cols_out;
  const float* const end = a.readable_end;
  const float* middle = a.plane + (2 * r + 1) * static_cast<std::int64_t>(a.cols_in);
  const float* bottom = middle + a.cols_in;
  float* out = a.out + r * static_cast<std::int64_t>(cols_out);
  // This row's two new input rows, 4 KiB further on, into L2: the hardware prefetcher alone
  // left the memory idle (2 threads, 6 interleaved rounds: (32,64,112,112) 5.56 -> 5.25 ms,
  // (128,64,56,56) 5.58 -> 4.84 ms; 8 KiB ahead 5.40 and 5.11 ms, none 16 KiB or more better).
  const float* ahead = middle + kWindow3PrefetchFloats;
  const float* ahead_end = std::min(ahead + 2 * a.cols_in, end);
  for (const float* q = ahead; q < ahead_end; q += 64 / sizeof(float)) __builtin_prefetch(q, 0, 2);
  Window3Row m = Window3Start(middle, half, end), b = Window3Start(bottom, half, end);
  std::size_t i = 0;
  for (; i + 2 * N <= half && i + N <= cols_out; i += N) {
    const VF lower = Window3Body(bottom, i, b);
    hn::StoreU(MaxFirst(lower, MaxFirst(Window3Body(middle, i, m), hn::LoadU(d, top + i))), d, out + i);
    hn::StoreU(lower, d, top + i);
  }
  for (; i < cols_out; i += N) {
    const VF lower = Window3Tail(bottom, i, half, end, b);
    const VF acc = MaxFirst(lower, MaxFirst(Window3Tail(middle, i, half, end, m), hn::LoadU(d, top + i)));
    StorePartial(acc, static_cast<std::int64_t>(std::min(N, cols_out - i)), out + i);
    hn::StoreU(lower, d, top + i);
  }
  a.suspect[r] = a.suspect[r] || !AllFinite(hn::Add(m.probe, b.probe));
  if (r + 1 < a.rows_out) a.suspect[r + 1] = !AllFinite(b.probe);
}

// Row 2r's window maxima into `top` (the first output row of a run), its probe into suspect[r].
HWY_INLINE void Window3TopRow(const Window3Stride2Plane& a, std::int64_t r, float* top) {
  const DF d;
  const std::size_t half = a.cols_in / 2;
  const float* row = a.plane + 2 * r * static_cast<std::int64_t>(a.cols_in);
  Window3Row s = Window3Start(row, half, a.readable_end);
  for (std::size_t i = 0; i < a.cols_out; i += hn::Lanes(d)) hn::StoreU(Window3Tail(row, i, half, a.readable_end, s), d, top + i);
  a.suspect[r] = !AllFinite(s.probe);
}

// See simd_kernels.hpp. Exact, as in the separable pass: the first maximum of a window in
// row-major order is the first of its rows' first maxima, taken in order. (Pairs of output rows
// from the two halves of a plane, four input streams: 112x112 5.47 -> 5.32 ms, but 56x56 slower
// and in cache 10.5 -> 12.2 us per 8 planes.)
void ForwardPlaneMaxWindow3Stride2(const Window3Stride2Plane& a) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d), half = a.cols_in / 2;
  Window3TopRow(a, 0, a.top);
  // Output rows with a third input row: all of them but the last of 'same'.
  const std::int64_t full = std::min(a.rows_out, (a.rows_in - 1) / 2);
  for (std::int64_t r = 0; r < full; ++r) Window3OutputRow(a, r, a.top);
  if (full < a.rows_out) {
    const std::int64_t r = full;
    const float* middle = a.plane + (2 * r + 1) * static_cast<std::int64_t>(a.cols_in);
    float* out = a.out + r * static_cast<std::int64_t>(a.cols_out);
    Window3Row m = Window3Start(middle, half, a.readable_end);
    for (std::size_t i = 0; i < a.cols_out; i += N) {
      const VF acc = MaxFirst(Window3Tail(middle, i, half, a.readable_end, m), hn::LoadU(d, a.top + i));
      StorePartial(acc, static_cast<std::int64_t>(std::min(N, a.cols_out - i)), out + i);
    }
    a.suspect[r] = a.suspect[r] || !AllFinite(m.probe);
  }
}

// ---- channels_first planes whose rows fit in one vector (simd_kernels.hpp: ShortRows) --------
using ShortRowsIndices = decltype(hn::SetTableIndices(DF(), static_cast<const std::int32_t*>(nullptr)));

// One input row's cols_in cells, the other lanes 0. Masked loads do not fault where the target
// has them; elsewhere a row whose vector would pass `end` (the input's) is copied out first.
HWY_INLINE VF LoadShortRow(const float* row, std::size_t cols_in, const float* end, hn::Mask<DF> cols) {
  const DF d;
#if HWY_MEM_OPS_MIGHT_FAULT
  if (row + hn::Lanes(d) > end) {
    alignas(64) float copy[HWY_MAX_BYTES / sizeof(float)] = {};
    std::memcpy(copy, row, cols_in * sizeof(float));
    return hn::Load(d, copy);
  }
  return hn::IfThenElseZero(cols, hn::LoadU(d, row));
#else
  (void)cols_in;
  (void)end;
  return hn::MaskedLoad(cols, d, row);
#endif
}

// What both short-rows kernels set up once per call: the window's terms along the cols (kCols of
// them, or t.window_cols when kCols is 0), each term's lookup indices, and the lanes of a row
// and of an output row.
template <int kCols>
struct ShortRowsTerms {
  std::size_t cols;
  hn::Mask<DF> in_mask, out_mask;
  ShortRowsIndices cell[kCols > 0 ? kCols : kShortRowsMaxWindow];

  explicit ShortRowsTerms(const ShortRows& t)
      : cols(kCols > 0 ? static_cast<std::size_t>(kCols) : t.window_cols),
        in_mask(hn::FirstN(DF(), t.cols_in)),
        out_mask(hn::FirstN(DF(), t.cols_out)) {
    for (std::size_t k = 0; k < cols; ++k) cell[k] = hn::SetTableIndices(DF(), t.col_cell + k * hn::Lanes(DF()));
  }
};

// Max: each input row reduced along the cols once (term by term, so ties keep the earlier col),
// then the window's rows in order (ties keep the earlier row). Padding terms look up a real cell
// of the same window, which changes nothing. NaN is only detected, by the probe (the sum of the
// plane's cells); masked-off lanes load as 0.
template <int kCols>
void ShortRowsMaxPlanes(const ShortRows& t, const float* in, std::size_t planes, const float* end, float* out,
                        std::uint8_t* suspect) {
  const DF d;
  const ShortRowsTerms<kCols> terms(t);
  const std::size_t cols = terms.cols;
  const auto in_mask = terms.in_mask, out_mask = terms.out_mask;
  const auto& cell = terms.cell;
  const auto cols_max = [&](VF row) HWY_ATTR {
    VF acc = hn::TableLookupLanes(row, cell[0]);
    for (std::size_t k = 1; k < cols; ++k) acc = MaxFirst(hn::TableLookupLanes(row, cell[k]), acc);
    return acc;
  };
  VF row_max[kShortRowsMaxRows];
  const std::size_t rows_in = t.rows_in, cols_in = t.cols_in;
  for (std::size_t p = 0; p < planes; ++p, in += rows_in * cols_in, out += t.rows_out * t.cols_out) {
    // Rows four at a time, so that the probe's chain of adds is a quarter as long (one add per
    // row on it made the loop latency-bound).
    VF probe = hn::Zero(d);
    std::size_t h = 0;
    for (; h + 4 <= rows_in; h += 4) {
      const float* q = in + h * cols_in;
      const VF r0 = LoadShortRow(q, cols_in, end, in_mask), r1 = LoadShortRow(q + cols_in, cols_in, end, in_mask);
      const VF r2 = LoadShortRow(q + 2 * cols_in, cols_in, end, in_mask);
      const VF r3 = LoadShortRow(q + 3 * cols_in, cols_in, end, in_mask);
      probe = hn::Add(probe, hn::Add(hn::Add(r0, r1), hn::Add(r2, r3)));
      row_max[h] = cols_max(r0);
      row_max[h + 1] = cols_max(r1);
      row_max[h + 2] = cols_max(r2);
      row_max[h + 3] = cols_max(r3);
    }
    VF tail = hn::Zero(d);
    for (; h < rows_in; ++h) {
      const VF row = LoadShortRow(in + h * cols_in, cols_in, end, in_mask);
      tail = hn::Add(tail, row);
      row_max[h] = cols_max(row);
    }
    probe = hn::Add(probe, tail);
    for (std::size_t oh = 0; oh < t.rows_out; ++oh) {
      VF acc = row_max[t.row_begin[oh]];
      for (std::uint32_t r = t.row_begin[oh] + 1; r < t.row_end[oh]; ++r) acc = MaxFirst(row_max[r], acc);
      hn::BlendedStore(acc, out_mask, d, out + oh * t.cols_out);
    }
    suspect[p] = !AllFinite(probe);
  }
}

// Average: per output row, the window's cells in window order (rows, then cols; padding terms
// add +0, which leaves a sum that starts at +0 unchanged), then the division by the real cells:
// a multiply by the reciprocal where every lane's count is a power of two (exact), else a divide
// (which bounds 'same' windows in cache). Picking each row's terms once for all windows over it
// measured the same (13x13 3x3/1 'same', in cache) or slower (2x2/2 21 -> 27 us per 1024 planes).
template <int kCols>
void ShortRowsAveragePlanes(const ShortRows& t, const float* in, std::size_t planes, const float* end, float* out,
                            std::uint8_t* suspect) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const ShortRowsTerms<kCols> terms(t);
  const std::size_t cols = terms.cols;
  const auto in_mask = terms.in_mask, out_mask = terms.out_mask;
  const auto& cell = terms.cell;
  hn::Mask<DF> real[kCols > 0 ? kCols : kShortRowsMaxWindow];
  for (std::size_t k = 0; k < cols; ++k)
    real[k] = hn::RebindMask(d, hn::Ne(hn::LoadU(DI(), t.col_real + k * N), hn::Zero(DI())));
  const std::size_t rows_in = t.rows_in, cols_in = t.cols_in;
  for (std::size_t p = 0; p < planes; ++p, in += rows_in * cols_in, out += t.rows_out * t.cols_out) {
    VF probe = hn::Zero(d);
    for (std::size_t oh = 0; oh < t.rows_out; ++oh) {
      VF sum = hn::Zero(d);
      for (std::uint32_t h = t.row_begin[oh]; h < t.row_end[oh]; ++h) {
        const VF row = LoadShortRow(in + h * cols_in, cols_in, end, in_mask);
        for (std::size_t k = 0; k < cols; ++k)
          sum = hn::Add(sum, hn::IfThenElseZero(real[k], hn::TableLookupLanes(row, cell[k])));
      }
      const VF mean = t.reciprocal_exact[oh] ? hn::Mul(sum, hn::LoadU(d, t.reciprocal + oh * N))
                                             : hn::Div(sum, hn::LoadU(d, t.count + oh * N));
      probe = hn::Add(probe, mean);
      hn::BlendedStore(mean, out_mask, d, out + oh * t.cols_out);
    }
    suspect[p] = !AllFinite(probe);
  }
}

void ForwardPlanesShortRowsMax(const ShortRows& t, const float* in, std::size_t planes, const float* end, float* out,
                               std::uint8_t* suspect) {
  const CleanUpperOnReturn clean_upper;
  switch (t.window_cols) {
    case 2: return ShortRowsMaxPlanes<2>(t, in, planes, end, out, suspect);
    case 3: return ShortRowsMaxPlanes<3>(t, in, planes, end, out, suspect);
    default: return ShortRowsMaxPlanes<0>(t, in, planes, end, out, suspect);
  }
}
void ForwardPlanesShortRowsAverage(const ShortRows& t, const float* in, std::size_t planes, const float* end,
                                   float* out, std::uint8_t* suspect) {
  const CleanUpperOnReturn clean_upper;
  switch (t.window_cols) {
    case 2: return ShortRowsAveragePlanes<2>(t, in, planes, end, out, suspect);
    case 3: return ShortRowsAveragePlanes<3>(t, in, planes, end, out, suspect);
    default: return ShortRowsAveragePlanes<0>(t, in, planes, end, out, suspect);
  }
}

// ---- channels_first planes, two output rows per vector (simd_kernels.hpp: PairedRows) ---------
using IV = hn::Vec<DI>;

// Lanes of (a, b) by index: idx < N from a, else lane idx - N of b (VPERMT2PS on AVX-512; two
// lookups and a blend elsewhere).
HWY_INLINE VF LookupPair(VF a, VF b, IV idx) {
#if HWY_ARCH_X86 && HWY_TARGET <= HWY_AVX3
  return VF{_mm512_permutex2var_ps(a.raw, idx.raw, b.raw)};
#else
  const DF d;
  const DI di;
  const IV lane = hn::And(idx, hn::Set(di, static_cast<std::int32_t>(hn::Lanes(d) - 1)));
  const auto from_b = hn::RebindMask(d, hn::Gt(idx, hn::Set(di, static_cast<std::int32_t>(hn::Lanes(d) - 1))));
  return hn::IfThenElse(from_b, hn::TableLookupLanes(b, hn::IndicesFromVec(d, lane)),
                        hn::TableLookupLanes(a, hn::IndicesFromVec(d, lane)));
#endif
}

HWY_INLINE void PrefetchPlane(const float* plane, std::size_t floats, std::size_t bytes) {
  if (bytes == 0) return;
  for (std::size_t i = 0; i < floats; i += 64 / sizeof(float)) PrefetchAhead(plane + i, bytes);
}

// Max: per pair of input vectors, the window's cols in order (ties keep the earlier col), then
// the rows in order (ties keep the earlier row); NaN only detected, by a probe (the sum of the
// rows). The argmax, where asked, alongside: a cell's index replaces the running one where the
// cell is strictly larger (where MAXPS takes it, NaN aside); a padding col or row, which reads
// the window's first real one again, carries that one's index (cols) or rows (row_base), so
// that it never passes for a cell of its own. The training forward against the transposed
// bands it went through before, 2 threads, 3 interleaved rounds: (256,64,11,11) 2x2/2 0.452 ->
// 0.278 ms, 3x3/2 'same' 0.609 -> 0.284 ms; (128,32,26,26) 2x2/2 0.406 -> 0.334 ms (against the
// plane pairs). Finding the first cell equal to the maximum from the window rows loaded again
// (as pair_windows_max_argmax_row does without loading again) measured 0.332, 0.383 and 0.344
// ms (in cache, (16,64,11,11), 1 thread: 32.6 us against 24.2; without the argmax 15.5).
template <int kCols>
void PairedRowsMaxPlanes(const PairedRows& t, const float* const* in, float* const* out, std::uint8_t* const* argmax,
                         std::size_t planes, const float* end, std::size_t prefetch_bytes, std::uint8_t* suspect) {
  const DF d;
  const DI di;
  const D8 d8;
  const std::size_t N = hn::Lanes(d);
  const std::size_t cols = kCols > 0 ? static_cast<std::size_t>(kCols) : t.window_cols;
  IV cell[kCols > 0 ? kCols : kPairedRowsMaxWindow], col_index[kCols > 0 ? kCols : kPairedRowsMaxWindow];
  for (std::size_t k = 0; k < cols; ++k) {
    cell[k] = hn::LoadU(di, t.col_cell + k * N);
    col_index[k] = hn::LoadU(di, t.col_index + k * N);
  }
  const auto mask_a = hn::FirstN(d, t.lanes_a), mask_b = hn::FirstN(d, t.lanes_b);
  for (std::size_t i = 0; i < planes; ++i) {
    const float* plane = in[i];
    float* o = out[i];
    PrefetchPlane(plane, t.plane_floats, prefetch_bytes);
    VF probe_a = hn::Zero(d), probe_b = hn::Zero(d);
    const std::int32_t* loads = t.loads;
    for (std::size_t v = 0; v < t.vectors; ++v) {
      VF acc = hn::Zero(d);
      IV acc_index = hn::Zero(di);
      for (std::size_t r = 0; r < t.window_rows; ++r, loads += 2) {
        const VF a = LoadShortRow(plane + loads[0], t.lanes_a, end, mask_a);
        const VF b = LoadShortRow(plane + loads[1], t.lanes_b, end, mask_b);
        probe_a = hn::Add(probe_a, a);
        probe_b = hn::Add(probe_b, b);
        VF h = LookupPair(a, b, cell[0]);
        if (argmax) {
          IV h_index = col_index[0];
          for (std::size_t k = 1; k < cols; ++k) {
            const VF c = LookupPair(a, b, cell[k]);
            h_index = hn::IfThenElse(hn::RebindMask(di, hn::Gt(c, h)), col_index[k], h_index);
            h = MaxFirst(c, h);
          }
          h_index = hn::Add(h_index, hn::LoadU(di, t.row_base + (v * t.window_rows + r) * N));
          acc_index = r == 0 ? h_index : hn::IfThenElse(hn::RebindMask(di, hn::Gt(h, acc)), h_index, acc_index);
        } else {
          for (std::size_t k = 1; k < cols; ++k) h = MaxFirst(LookupPair(a, b, cell[k]), h);
        }
        acc = r == 0 ? h : MaxFirst(h, acc);
      }
      const std::size_t first = v * t.outputs_per_vector, count = std::min(t.outputs_per_vector, t.outputs - first);
      hn::BlendedStore(acc, hn::FirstN(d, count), d, o + first);
      if (argmax) {
        const auto bytes = hn::DemoteTo(d8, acc_index);
        if (first + N <= t.outputs) {  // the lanes past `count` are the next vector's, written after
          hn::StoreU(bytes, d8, argmax[i] + first);
        } else {
          StoreArgmaxPartial(bytes, count, argmax[i] + first);
        }
      }
    }
    suspect[i] = !hn::AllFalse(d, hn::IsNaN(hn::Add(probe_a, probe_b)));
  }
}

// Average: per output, the window's cells in window order (rows, then cols; padding adds +0,
// which leaves a sum that starts at +0 unchanged), then one division by the real cells (a
// multiply by the reciprocal where every count of the vector is a power of two: exact).
template <int kCols>
void PairedRowsAveragePlanes(const PairedRows& t, const float* const* in, float* const* out, std::size_t planes,
                             const float* end, std::size_t prefetch_bytes, std::uint8_t* suspect) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t cols = kCols > 0 ? static_cast<std::size_t>(kCols) : t.window_cols;
  IV cell[kCols > 0 ? kCols : kPairedRowsMaxWindow];
  hn::Mask<DF> real[kCols > 0 ? kCols : kPairedRowsMaxWindow];
  for (std::size_t k = 0; k < cols; ++k) {
    cell[k] = hn::LoadU(DI(), t.col_cell + k * N);
    real[k] = hn::RebindMask(d, hn::Ne(hn::LoadU(DI(), t.col_real + k * N), hn::Zero(DI())));
  }
  const auto mask_a = hn::FirstN(d, t.lanes_a), mask_b = hn::FirstN(d, t.lanes_b);
  for (std::size_t i = 0; i < planes; ++i) {
    const float* plane = in[i];
    float* o = out[i];
    PrefetchPlane(plane, t.plane_floats, prefetch_bytes);
    VF probe = hn::Zero(d);
    const std::int32_t* loads = t.loads;
    for (std::size_t v = 0; v < t.vectors; ++v) {
      VF sum = hn::Zero(d);
      for (std::size_t r = 0; r < t.window_rows; ++r, loads += 2) {
        const VF a = loads[0] < 0 ? hn::Zero(d) : LoadShortRow(plane + loads[0], t.lanes_a, end, mask_a);
        const VF b = loads[1] < 0 ? hn::Zero(d) : LoadShortRow(plane + loads[1], t.lanes_b, end, mask_b);
        for (std::size_t k = 0; k < cols; ++k) sum = hn::Add(sum, hn::IfThenElseZero(real[k], LookupPair(a, b, cell[k])));
      }
      const VF mean = t.reciprocal_exact[v] ? hn::Mul(sum, hn::LoadU(d, t.reciprocal + v * N))
                                            : hn::Div(sum, hn::LoadU(d, t.count + v * N));
      probe = hn::Add(probe, mean);
      const std::size_t first = v * t.outputs_per_vector;
      hn::BlendedStore(mean, hn::FirstN(d, std::min(t.outputs_per_vector, t.outputs - first)), d, o + first);
    }
    suspect[i] = !AllFinite(probe);
  }
}

void ForwardPlanesPairedRowsMax(const PairedRows& t, const float* const* in, float* const* out,
                                std::uint8_t* const* argmax, std::size_t planes, const float* end,
                                std::size_t prefetch_bytes, std::uint8_t* suspect) {
  const CleanUpperOnReturn clean_upper;
  switch (t.window_cols) {
    case 2: return PairedRowsMaxPlanes<2>(t, in, out, argmax, planes, end, prefetch_bytes, suspect);
    case 3: return PairedRowsMaxPlanes<3>(t, in, out, argmax, planes, end, prefetch_bytes, suspect);
    default: return PairedRowsMaxPlanes<0>(t, in, out, argmax, planes, end, prefetch_bytes, suspect);
  }
}
void ForwardPlanesPairedRowsAverage(const PairedRows& t, const float* const* in, float* const* out,
                                    std::size_t planes, const float* end, std::size_t prefetch_bytes,
                                    std::uint8_t* suspect) {
  const CleanUpperOnReturn clean_upper;
  switch (t.window_cols) {
    case 2: return PairedRowsAveragePlanes<2>(t, in, out, planes, end, prefetch_bytes, suspect);
    case 3: return PairedRowsAveragePlanes<3>(t, in, out, planes, end, prefetch_bytes, suspect);
    default: return PairedRowsAveragePlanes<0>(t, in, out, planes, end, prefetch_bytes, suspect);
  }
}

// ---- channels_first planes, stride 1 along long rows (simd_kernels.hpp: Stride1Plane) ---------

// Input row `row` into `to` (cell c at to[pad_before + c]) between margins of `margin`: the cells
// of the vectors of outputs whose windows leave the row (Stride1Inside is false).
HWY_INLINE void PadRow(const Stride1Plane& t, const float* row, float* to, float margin) {
  std::fill_n(to, t.pad_before, margin);
  std::memcpy(to + t.pad_before, row, t.cols_in * sizeof(float));
  std::fill(to + t.pad_before + t.cols_in, to + t.padded_row_floats, margin);
}

// Whether vector j of outputs (cols j .. j + N) reads only cells of the row, [j - pad, j - pad +
// N + window - 1): the max loads those straight from the input, not from the padded copy
// (in cache, (2,64,56,56) 3x3/1 'same' 209-216 -> 188-194 us). The average, which reads every
// window row once per output row, measured slower so (241-249 -> 295-298 us) and reads the copy.
HWY_INLINE bool Stride1Inside(const Stride1Plane& t, std::size_t j) {
  return j >= t.pad_before && j - t.pad_before + hn::Lanes(DF()) + t.window_cols - 1 <= t.cols_in;
}

// The sum of a row's cells (the NaN probe), from the input, in two chains of adds.
HWY_INLINE VF Stride1Probe(const float* row, std::size_t cols_in, const float* end) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF a = hn::Zero(d), b = hn::Zero(d);
  std::size_t i = 0;
  for (; i + 2 * N <= cols_in; i += 2 * N) {
    a = hn::Add(a, hn::LoadU(d, row + i));
    b = hn::Add(b, hn::LoadU(d, row + i + N));
  }
  if (i + N <= cols_in) {
    a = hn::Add(a, hn::LoadU(d, row + i));
    i += N;
  }
  if (i < cols_in) b = hn::Add(b, LoadShortRow(row + i, cols_in - i, end, hn::FirstN(d, cols_in - i)));
  return hn::Add(a, b);
}

HWY_INLINE void StoreRowVector(VF v, const Stride1Plane& t, std::size_t j, float* out) {
  const std::size_t N = hn::Lanes(DF());
  if (j + N <= t.cols_out) {
    hn::StoreU(v, DF(), out + j);
  } else {
    StorePartial(v, static_cast<std::int64_t>(t.cols_out - j), out + j);
  }
}

// Max: margins of -inf (never larger than a real cell, and a real -inf has the same bits); each
// row along the cols first (ties keep the earlier col), then the window's rows in order.
bool ForwardPlaneStride1Max(const Stride1Plane& t, const float* plane, const float* end, float* scratch, float* out) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d), whole_cols = (t.cols_out + N - 1) / N * N;
  float* padded = scratch;
  float* row_max = scratch + t.padded_row_floats;
  VF probe = hn::Zero(d);
  for (std::size_t h = 0; h < t.rows_in; ++h) {
    const float* row = plane + h * t.cols_in;
    probe = hn::Add(probe, Stride1Probe(row, t.cols_in, end));
    PadRow(t, row, padded, -std::numeric_limits<float>::infinity());
    for (std::size_t j = 0; j < whole_cols; j += N) {
      const float* cells = Stride1Inside(t, j) ? row + j - t.pad_before : padded + j;
      VF acc = hn::LoadU(d, cells);
      for (std::size_t k = 1; k < t.window_cols; ++k) acc = MaxFirst(hn::LoadU(d, cells + k), acc);
      hn::StoreU(acc, d, row_max + h * whole_cols + j);
    }
  }
  for (std::size_t oh = 0; oh < t.rows_out; ++oh)
    for (std::size_t j = 0; j < whole_cols; j += N) {
      VF acc = hn::LoadU(d, row_max + t.row_begin[oh] * whole_cols + j);
      for (std::uint32_t r = t.row_begin[oh] + 1; r < t.row_end[oh]; ++r)
        acc = MaxFirst(hn::LoadU(d, row_max + r * whole_cols + j), acc);
      StoreRowVector(acc, t, j, out + oh * t.cols_out);
    }
  return AllFinite(probe);
}

// Average: margins of 0 (a sum that starts at +0 stays the same), cells in window order, one
// division per vector of outputs.
bool ForwardPlaneStride1Average(const Stride1Plane& t, const float* plane, float* scratch, float* out) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d), whole_cols = (t.cols_out + N - 1) / N * N;
  for (std::size_t h = 0; h < t.rows_in; ++h) PadRow(t, plane + h * t.cols_in, scratch + h * t.padded_row_floats, 0.0f);
  VF probe = hn::Zero(d);
  for (std::size_t oh = 0; oh < t.rows_out; ++oh) {
    const VF rows = hn::Set(d, static_cast<float>(t.row_end[oh] - t.row_begin[oh]));
    for (std::size_t j = 0; j < whole_cols; j += N) {
      VF sum = hn::Zero(d);
      for (std::uint32_t r = t.row_begin[oh]; r < t.row_end[oh]; ++r) {
        const float* cells = scratch + r * t.padded_row_floats + j;
        for (std::size_t k = 0; k < t.window_cols; ++k) sum = hn::Add(sum, hn::LoadU(d, cells + k));
      }
      const VF mean = hn::Div(sum, hn::Mul(rows, hn::LoadU(d, t.col_count + j)));
      probe = hn::Add(probe, mean);
      StoreRowVector(mean, t, j, out + oh * t.cols_out);
    }
  }
  return AllFinite(probe);
}

// Pass 2: output row r is the first maximum, col by col, of the col-max rows at offsets
// [first[r], first[r + 1]) of `rows` (whole vectors are read).
void RowsMax(const RowsMaxTable& t, const float* col_max, float* out) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d);
  for (std::size_t r = 0; r < t.out_rows; ++r, out += t.cols) {
    const std::uint32_t* at = t.offsets + t.first[r];
    const std::size_t n = t.first[r + 1] - t.first[r];
    for (std::size_t c = 0; c < t.cols; c += N) {
      VF acc = hn::LoadU(d, col_max + at[0] + c);
      for (std::size_t k = 1; k < n; ++k) acc = MaxFirst(hn::LoadU(d, col_max + at[k] + c), acc);
      StorePartial(acc, static_cast<std::int64_t>(std::min(N, t.cols - c)), out + c);
    }
  }
}

// Whole vectors with non-temporal stores (`to` vector-aligned, n a multiple of lanes()).
HWY_INLINE void CopyStreamed(const float* from, float* to, std::size_t n) {
  const DF d;
  for (std::size_t i = 0; i < n; i += hn::Lanes(d)) hn::Stream(hn::LoadU(d, from + i), d, to + i);
}
void StreamCopy(const float* from, float* to, std::size_t n) {
  const CleanUpperOnReturn clean_upper;
  CopyStreamed(from, to, n);
}

// ---- 2x2/2 windows (simd::PairWindows) --------------------------------------------------------

// The even and odd cells of cols [0, 2 * lanes) from p: lanes past `lanes` hold whatever follows
// (the next row) while that is before `end`, else zeros (the last row of the input).
HWY_INLINE void LoadPairs(const float* p, std::size_t lanes, const float* end, VF& even, VF& odd) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  if (p + 2 * N <= end) {
    hn::LoadInterleaved2(d, p, even, odd);
    return;
  }
  alignas(64) float cells[2 * HWY_MAX_BYTES / sizeof(float)] = {};
  std::copy(p, p + 2 * lanes, cells);
  hn::LoadInterleaved2(d, cells, even, odd);
}

// How far ahead (4 KiB) the channels_first pair kernels prefetch their rows into L1. Their
// deinterleaving shuffles put enough instructions between the loads that the core keeps fewer
// misses in flight than the memory needs, and the hardware prefetcher did not make up for it on
// the AMD EPYC (Zen 5) of the tenth session: (32,64,112,112) max 2x2/2, 2 threads, 4 interleaved
// rounds, 3.99 -> 2.90 ms (our channels_last: 2.92 ms), average 3.94 -> 2.94 ms; 3D
// (8,32,32,56,56) 3.63 -> 3.14 ms. channels_last (loads only) measured the same with it.
constexpr std::size_t kPairPrefetchFloats = 1024;

// The two window cols of the vectors of one output row, in order, in one of its window rows:
// channels_first, output o's cells are 2o and 2o + 1 (deinterleaved); channels_last (channels a
// multiple of the lanes), output (ow, c)'s are 2 * ow * C + c and C further.
template <bool kChannelsLast>
struct PairCells {
  explicit PairCells(const PairWindows& a) : C(a.channels), end(a.end) {}
  // Vector o of the row (`lanes` real lanes) in the window row at `row`.
  HWY_INLINE void load(const float* row, std::size_t o, std::size_t lanes, VF& even, VF& odd) const {
    const DF d;
    if constexpr (kChannelsLast) {
      even = hn::LoadU(d, row + ow_base + c);
      odd = hn::LoadU(d, row + ow_base + c + C);
    } else if (lanes == hn::Lanes(d)) {
      hn::LoadInterleaved2(d, row + 2 * o, even, odd);
    } else {
      LoadPairs(row + 2 * o, lanes, end, even, odd);
    }
  }
  // channels_first: the lines of load(row, o)'s cells kPairPrefetchFloats further on (a hint:
  // past the input's end it does nothing).
  HWY_INLINE void prefetch(const float* row, std::size_t o) const {
    if constexpr (!kChannelsLast) {
      // As an integer: the address may lie past the end of the input.
      const std::uintptr_t at = reinterpret_cast<std::uintptr_t>(row + 2 * o) + kPairPrefetchFloats * sizeof(float);
      hwy::Prefetch(reinterpret_cast<const float*>(at));
      hwy::Prefetch(reinterpret_cast<const float*>(at + hn::Lanes(DF()) * sizeof(float)));
    }
  }
  HWY_INLINE void next() {
    if constexpr (kChannelsLast) {
      c += hn::Lanes(DF());
      if (c == C) {
        c = 0;
        ow_base += 2 * C;
      }
    }
  }
  std::size_t C, ow_base = 0, c = 0;
  const float* end;
};

inline std::size_t out_row(const PairWindows& a) { return a.cols_out * a.channels; }

// One output row, exactly (first maximum, NaN propagated, argmax kept when asked).
template <bool kChannelsLast, std::size_t kRows>
void pair_windows_max_row_exact(const PairWindows& a, const float* base, float* out, std::uint8_t* argmax) {
  const DF d;
  const std::size_t N = hn::Lanes(d), nrows = kRows, n = out_row(a);
  PairCells<kChannelsLast> cells(a);
  for (std::size_t o = 0; o < n; o += N, cells.next()) {
    const std::size_t lanes = std::min(N, n - o);
    VF acc = hn::Zero(d), idx = hn::Zero(d);
    for (std::size_t r = 0; r < nrows; ++r) {
      VF even, odd;
      cells.load(base + a.offsets[r], o, lanes, even, odd);
      if (r == 0) {
        acc = even;
      } else {
        const auto take = Takes(even, acc);
        acc = hn::IfThenElse(take, even, acc);
        idx = hn::IfThenElse(take, hn::Set(d, static_cast<float>(2 * r)), idx);
      }
      const auto take = Takes(odd, acc);
      acc = hn::IfThenElse(take, odd, acc);
      idx = hn::IfThenElse(take, hn::Set(d, static_cast<float>(2 * r + 1)), idx);
    }
    StorePartial(Canonical(d, acc), static_cast<std::int64_t>(lanes), out + o);
    if (argmax) StoreArgmaxLanes(idx, lanes, argmax + o);
  }
}

// P output rows (1, or 2 in one loop: four streams of input for two window rows where one row
// reads two) without argmax: loads (deinterleaved in channels_first) and MAXPS only (MaxFirst
// keeps the first maximum); NaN is only detected, by a sum of the cells per row (lanes past the
// row included), and a row whose sum is not finite is then redone exactly. The whole vectors run
// in a loop with nothing else: the loads miss to memory, and the fewer instructions between them,
// the more of them the core keeps in flight.
template <bool kChannelsLast, std::size_t kRows, int P>
void pair_windows_max_rows(const PairWindows& a, const float* const* bases, float* const* outs, bool stream) {
  const DF d;
  const std::size_t N = hn::Lanes(d), nrows = kRows, n = out_row(a);
  const float* rows[P][kRows];
  VF probe[P];
  for (int k = 0; k < P; ++k) {
    for (std::size_t r = 0; r < nrows; ++r) rows[k][r] = bases[k] + a.offsets[r];
    probe[k] = hn::Zero(d);
  }
  PairCells<kChannelsLast> cells(a);
  auto window_max = [&](int k, std::size_t o, std::size_t lanes) {
    VF acc = hn::Zero(d), sum = hn::Zero(d);
    for (std::size_t r = 0; r < nrows; ++r) {
      VF even, odd;
      cells.prefetch(rows[k][r], o);
      cells.load(rows[k][r], o, lanes, even, odd);
      acc = r == 0 ? MaxFirst(odd, even) : MaxFirst(odd, MaxFirst(even, acc));
      sum = r == 0 ? hn::Add(even, odd) : hn::Add(sum, hn::Add(even, odd));
    }
    probe[k] = hn::Add(probe[k], sum);  // one add per vector on the loop-carried chain
    return acc;
  };
  std::size_t o = 0;
  for (; o + N <= n; o += N, cells.next()) {
    VF m[P];
    for (int k = 0; k < P; ++k) m[k] = window_max(k, o, N);
    for (int k = 0; k < P; ++k) StoreOut(m[k], outs[k] + o, stream);
  }
  if (o < n) {
    for (int k = 0; k < P; ++k) StorePartial(window_max(k, o, n - o), static_cast<std::int64_t>(n - o), outs[k] + o);
  }
  for (int k = 0; k < P; ++k) {
    if (!AllFinite(probe[k])) pair_windows_max_row_exact<kChannelsLast, kRows>(a, bases[k], outs[k], nullptr);
  }
}

// The output rows of a PairWindows, one `row(i, base, out, stream)` call each (output row i, its
// window's first row `base`, where its outputs go). Streamed rows that are not whole vectors
// (112x112 planes: 56 outputs) are computed in groups of rows that are, into L1, and go out in
// whole aligned lines.
template <class Row>
HWY_INLINE void pair_windows_rows(const PairWindows& a, const Row& row) {
  const std::size_t N = hn::Lanes(DF()), n = out_row(a);
  constexpr std::size_t kStagedFloats = 2048;
  const std::size_t group = N / std::gcd(n, N);
  const bool staging = a.stream && group > 1 && group * n <= kStagedFloats;
  alignas(64) float staged[kStagedFloats];
  for (std::size_t i = 0; i < a.rows;) {
    const float* base = a.in + static_cast<std::int64_t>(i) * a.row_step;
    float* out = a.out + i * n;
    if (staging && i + group <= a.rows && reinterpret_cast<std::uintptr_t>(out) % (N * sizeof(float)) == 0) {
      for (std::size_t k = 0; k < group; ++k) {
        row(i + k, base + static_cast<std::int64_t>(k) * a.row_step, staged + k * n, false);
      }
      CopyStreamed(staged, out, group * n);
      i += group;
    } else {
      row(i, base, out, a.stream && group == 1);
      ++i;
    }
  }
}

// The same with two rows per call, `row2(base0, out0, base1, out1, stream)`: the task's rows are
// split in halves, and row k of the first half goes with row k of the second (groups of rows
// staged in L1 likewise); a last odd row or group goes alone through `row`. A core keeps more
// misses in flight for four streams than for two (see the global kernels); 2D windows (two
// window rows) take it for runs of kRowPairsMinRows rows or more. 2 threads, 4-5 interleaved
// rounds: 112x112x64 max 4.35 -> 3.95 ms, average 4.31 -> 3.75 ms; channels_first (32,64,112,112)
// max 4.90 -> 4.65 ms, average 5.0 -> 4.65 ms; 26x26x32 average 0.52 -> 0.48 ms. 3D windows
// (eight streams) measured slower in the fifth session, 1D (one -> two, channels_first 4096
// cols) the same or slower. channels_first keeps one row per call since its loads are
// prefetched (kPairPrefetchFloats): on the Zen 5 of the tenth session, (32,64,112,112) max
// 3.29 ms in pairs against 2.90 ms one by one (4 interleaved rounds).
constexpr std::size_t kRowPairsMinRows = 8;
template <class Row, class Row2>
HWY_INLINE void pair_windows_row_pairs(const PairWindows& a, const Row& row, const Row2& row2) {
  const std::size_t N = hn::Lanes(DF()), n = out_row(a);
  constexpr std::size_t kStagedFloats = 2048;
  const std::size_t group = N / std::gcd(n, N);
  const bool staging = a.stream && group > 1 && 2 * group * n <= kStagedFloats;
  if (a.stream && group > 1 && !staging) return pair_windows_rows(a, row);
  const std::size_t step = staging ? group : 1;
  const std::size_t half = a.rows / (2 * step) * step;
  alignas(64) float staged[kStagedFloats];
  auto base_of = [&](std::size_t i) { return a.in + static_cast<std::int64_t>(i) * a.row_step; };
  for (std::size_t i = 0; i < half; i += step) {
    float* out0 = a.out + i * n;
    float* out1 = a.out + (half + i) * n;
    const bool aligned = reinterpret_cast<std::uintptr_t>(out0) % (N * sizeof(float)) == 0 &&
                         reinterpret_cast<std::uintptr_t>(out1) % (N * sizeof(float)) == 0;
    if (staging && aligned) {
      for (std::size_t k = 0; k < group; ++k)
        row2(base_of(i + k), staged + k * n, base_of(half + i + k), staged + (group + k) * n, false);
      CopyStreamed(staged, out0, group * n);
      CopyStreamed(staged + group * n, out1, group * n);
    } else {
      for (std::size_t k = 0; k < step; ++k)
        row2(base_of(i + k), out0 + k * n, base_of(half + i + k), out1 + k * n, a.stream && group == 1);
    }
  }
  for (std::size_t i = 2 * half; i < a.rows; ++i) row(i, base_of(i), a.out + i * n, a.stream && group == 1);
}

// Runs a PairWindows' output rows through `rows_of.template operator()<P>(bases, outs, stream)`
// (P rows per call): two per loop for channels_last 2D runs of kRowPairsMinRows rows or more,
// else one.
template <std::size_t kRows, class RowsOf>
HWY_INLINE void pair_windows_run(const PairWindows& a, const RowsOf& rows_of) {
  auto one = [&](std::size_t, const float* base, float* out, bool stream) {
    rows_of.template operator()<1>(&base, &out, stream);
  };
  if (kRows == 2 && a.rows >= kRowPairsMinRows && a.channels > 1) {
    pair_windows_row_pairs(a, one, [&](const float* base0, float* out0, const float* base1, float* out1, bool stream) {
      const float* bases[2] = {base0, base1};
      float* outs[2] = {out0, out1};
      rows_of.template operator()<2>(bases, outs, stream);
    });
  } else {
    pair_windows_rows(a, one);
  }
}

// One output row with its argmax (the training forward): the maximum as pair_windows_max_rows
// (MAXPS, NaN only detected, by a sum of the cells), then the argmax as the first cell in window
// order equal to it: cells before the first maximum are smaller, so that is the reference's
// first-maximum index, for -0/+0 ties too (the maximum keeps the first one's bits, and -0 == +0).
// A row whose sum is not finite (a NaN or an infinity in it) is redone exactly. Against the exact
// row (compare, NaN tests and two selects per cell), 2 threads, 3 interleaved rounds of
// poolnet-bench --direction forward_training: channels_last (128,26,26,32) 0.666 -> 0.462 ms (in
// cache, 8 images: 16.5 -> 7.1 us; without the argmax 4.9 us), (256,11,11,64) 0.469 -> 0.279 ms;
// oneDNN's training forward 0.529 and 0.346 ms. Two rows per loop (pair_windows_run) measured the
// same on 26x26 and slower on 11x11 (0.281 -> 0.311 ms). The argmax's compares and selects
// between the loads left the memory idle: in memory it took 1.3-1.4x the forward without the
// argmax, though storing constant argmax bytes (no compares) ran at the forward's speed.
// channels_last rows prefetch 8 KiB ahead (the forward without the argmax measured the same or
// slower so): 2 threads, 5-7 interleaved rounds, 26x26 0.454 -> 0.413 ms, 11x11 0.291 -> 0.231
// ms (4 KiB: 0.425, 0.241; 2 KiB: 0.466, 0.280); 112x112, 1D and 3D the same. Index selection by
// a tournament of neighbours (a shorter chain, as many instructions) measured the same.
constexpr std::uintptr_t kArgmaxRowPrefetchBytes = 8192;
template <bool kChannelsLast, std::size_t kRows>
void pair_windows_max_argmax_row(const PairWindows& a, const float* base, float* out, std::uint8_t* argmax,
                                 bool stream) {
  const DF d;
  const DI di;
  const D8 d8;
  const std::size_t N = hn::Lanes(d), nrows = kRows, n = out_row(a);
  const float* rows[kRows];
  for (std::size_t r = 0; r < nrows; ++r) rows[r] = base + a.offsets[r];
  PairCells<kChannelsLast> cells(a);
  VF probe = hn::Zero(d);
  for (std::size_t o = 0; o < n; o += N, cells.next()) {
    const std::size_t lanes = std::min(N, n - o);
    VF cell[2 * kRows];
    for (std::size_t r = 0; r < nrows; ++r) {
      if constexpr (kChannelsLast) {
        PrefetchAhead(rows[r] + cells.ow_base + cells.c, kArgmaxRowPrefetchBytes);
      } else {
        cells.prefetch(rows[r], o);
      }
      cells.load(rows[r], o, lanes, cell[2 * r], cell[2 * r + 1]);
    }
    VF acc = MaxFirst(cell[1], cell[0]), sum = hn::Add(cell[0], cell[1]);
    for (std::size_t k = 2; k < 2 * nrows; ++k) {
      acc = MaxFirst(cell[k], acc);
      sum = hn::Add(sum, cell[k]);
    }
    probe = hn::Add(probe, sum);
    auto idx = hn::Set(di, static_cast<std::int32_t>(2 * nrows - 1));
    for (std::size_t k = 2 * nrows - 1; k-- > 0;)
      idx = hn::IfThenElse(hn::RebindMask(di, hn::Eq(cell[k], acc)), hn::Set(di, static_cast<std::int32_t>(k)), idx);
    const auto bytes = hn::DemoteTo(d8, idx);
    if (lanes == N) {
      StoreOut(acc, out + o, stream);
      hn::StoreU(bytes, d8, argmax + o);
    } else {
      StorePartial(acc, static_cast<std::int64_t>(lanes), out + o);
      StoreArgmaxPartial(bytes, lanes, argmax + o);
    }
  }
  if (!AllFinite(probe)) pair_windows_max_row_exact<kChannelsLast, kRows>(a, base, out, argmax);
}

template <bool kChannelsLast, std::size_t kRows>
void pair_windows_max(const PairWindows& a) {
  if (a.argmax) {
    pair_windows_rows(a, [&](std::size_t i, const float* base, float* out, bool stream) {
      pair_windows_max_argmax_row<kChannelsLast, kRows>(a, base, out, a.argmax + i * out_row(a), stream);
    });
    return;
  }
  pair_windows_run<kRows>(a, [&]<int P>(const float* const* bases, float* const* outs, bool stream) {
    pair_windows_max_rows<kChannelsLast, kRows, P>(a, bases, outs, stream);
  });
}

// Average: ((0 + a) + b) + c ... in window order, as the reference adds; a non-finite float mean
// is redone in double. Vector o (`lanes` real lanes) of the output row whose window rows are `rows`.
template <bool kChannelsLast, std::size_t kRows>
HWY_INLINE VF pair_windows_mean(const float* const* rows, const PairCells<kChannelsLast>& cells,
                                const Divisor& count, std::size_t o, std::size_t lanes) {
  const std::size_t nrows = kRows;
  VF even[kRows], odd[kRows];
  FloatSum sum = FloatSum::zero();
  for (std::size_t r = 0; r < nrows; ++r) {
    cells.load(rows[r], o, lanes, even[r], odd[r]);
    sum.add(even[r]);
    sum.add(odd[r]);
  }
  VF mean = sum.mean(count);
  if (!AllFinite(mean)) {
    DoubleSum exact = DoubleSum::zero();
    for (std::size_t r = 0; r < nrows; ++r) {
      exact.add(even[r]);
      exact.add(odd[r]);
    }
    mean = KeepFinite(mean, exact.mean(count));
  }
  return mean;
}

HWY_INLINE void StoreMean(VF mean, std::size_t lanes, float* p, bool stream) {
  if (lanes == hn::Lanes(DF())) {
    StoreOut(mean, p, stream);
  } else {
    StorePartial(mean, static_cast<std::int64_t>(lanes), p);
  }
}

// One output row exactly: each vector's float mean checked, and redone in double where not finite.
template <bool kChannelsLast, std::size_t kRows>
void pair_windows_average_row_exact(const PairWindows& a, const float* base, float* out) {
  const std::size_t N = hn::Lanes(DF()), n = out_row(a);
  const Divisor count(static_cast<double>(2 * kRows));
  const float* rows[kRows];
  for (std::size_t r = 0; r < kRows; ++r) rows[r] = base + a.offsets[r];
  PairCells<kChannelsLast> cells(a);
  for (std::size_t o = 0; o < n; o += N, cells.next()) {
    const std::size_t lanes = std::min(N, n - o);
    StoreMean(pair_windows_mean<kChannelsLast, kRows>(rows, cells, count, o, lanes), lanes, out + o, false);
  }
}

// P output rows (1, or 2 in one loop, as pair_windows_max_rows). The whole vectors run with
// loads, adds, one multiply (2, 4 or 8 cells: by the exact reciprocal) and the store only; the
// means are summed into a probe per row, and a row whose probe is not finite (a non-finite
// mean, or means large enough to overflow the probe) is redone exactly. A check and branch per
// vector kept the average behind the max in memory: 1D (64,4096,64), 2 threads, 4 interleaved
// rounds, channels_last 3.61 -> 3.23 ms (max: 3.18), channels_first 3.47 -> 3.36 ms; 2D and 3D
// the same. The loop repeats pair_windows_max_rows' on purpose: one skeleton for both, the window
// and the probe passed in as lambdas, ran 1D 3.27 -> 3.75 ms and 3D in cache 19 -> 22 us.
template <bool kChannelsLast, std::size_t kRows, int P>
void pair_windows_average_rows(const PairWindows& a, const float* const* bases, float* const* outs, bool stream) {
  const DF d;
  const std::size_t N = hn::Lanes(d), n = out_row(a);
  const VF reciprocal = hn::Set(d, 1.0f / static_cast<float>(2 * kRows));
  const float* rows[P][kRows];
  VF probe[P];
  for (int k = 0; k < P; ++k) {
    for (std::size_t r = 0; r < kRows; ++r) rows[k][r] = bases[k] + a.offsets[r];
    probe[k] = hn::Zero(d);
  }
  PairCells<kChannelsLast> cells(a);
  auto window_mean = [&](int k, std::size_t o, std::size_t lanes) {
    VF sum = hn::Zero(d);  // from +0, as the reference: a window of -0 cells averages to +0
    for (std::size_t r = 0; r < kRows; ++r) {
      VF even, odd;
      cells.prefetch(rows[k][r], o);
      cells.load(rows[k][r], o, lanes, even, odd);
      sum = hn::Add(hn::Add(sum, even), odd);
    }
    const VF mean = hn::Mul(sum, reciprocal);
    probe[k] = hn::Add(probe[k], mean);
    return mean;
  };
  std::size_t o = 0;
  for (; o + N <= n; o += N, cells.next()) {
    VF m[P];
    for (int k = 0; k < P; ++k) m[k] = window_mean(k, o, N);
    for (int k = 0; k < P; ++k) StoreOut(m[k], outs[k] + o, stream);
  }
  if (o < n) {
    for (int k = 0; k < P; ++k) StorePartial(window_mean(k, o, n - o), static_cast<std::int64_t>(n - o), outs[k] + o);
  }
  for (int k = 0; k < P; ++k) {
    if (!AllFinite(probe[k])) pair_windows_average_row_exact<kChannelsLast, kRows>(a, bases[k], outs[k]);
  }
}

template <bool kChannelsLast, std::size_t kRows>
void pair_windows_average(const PairWindows& a) {
  pair_windows_run<kRows>(a, [&]<int P>(const float* const* bases, float* const* outs, bool stream) {
    pair_windows_average_rows<kChannelsLast, kRows, P>(a, bases, outs, stream);
  });
}

// The kernels instantiated per layout and window rows (1, 2 or 4). A count fixed at compile time
// keeps the 3D window's cells in registers: with the count read at run time the average's eight
// cells went through the stack (2 threads, 5 interleaved rounds: (8,32,56,56,32) average 4.14 ->
// 3.87 ms, channels_first 5.01 -> 4.40 ms, channels_first max 4.68 -> 4.34 ms; in cache 28.4 ->
// 25.4 us per 16x28x28x32 image).
template <template <bool, std::size_t> class Kernel>
HWY_INLINE void pair_windows_dispatch(const PairWindows& a) {
  const bool cl = a.channels > 1;
  switch (a.nrows) {
    case 1: return cl ? Kernel<true, 1>::run(a) : Kernel<false, 1>::run(a);
    case 2: return cl ? Kernel<true, 2>::run(a) : Kernel<false, 2>::run(a);
    default: return cl ? Kernel<true, 4>::run(a) : Kernel<false, 4>::run(a);
  }
}
template <bool kChannelsLast, std::size_t kRows>
struct PairWindowsMax {
  static void run(const PairWindows& a) { pair_windows_max<kChannelsLast, kRows>(a); }
};
template <bool kChannelsLast, std::size_t kRows>
struct PairWindowsAverage {
  static void run(const PairWindows& a) { pair_windows_average<kChannelsLast, kRows>(a); }
};
void ForwardPairWindowsMax(const PairWindows& a) { const CleanUpperOnReturn clean_upper; pair_windows_dispatch<PairWindowsMax>(a); }
void ForwardPairWindowsAverage(const PairWindows& a) { const CleanUpperOnReturn clean_upper; pair_windows_dispatch<PairWindowsAverage>(a); }

// Backward (simd::PairWindowsBackward). The window rows of one depth are adjacent in grad_input
// (rows 2h and 2h + 1): they are assembled in L1, row by row (the upstream gradient and argmax
// reloaded from L1 for the second), and go out as one block, streamed in whole lines when asked.
// So rows that are not whole lines (3D 56x56 planes: 224 B) stream too: one plain store among a
// row's streamed lines made the channels_first rows as slow as plain stores everywhere (3D 56x56
// backward: 5.3-6.0 ms through the transposes, 6.3-7.7 ms streaming row by row, 3.1-3.8 ms so).
// Vectors of outputs outermost with both rows in turn measured slower (3D: 5.8-8.1 ms).
template <bool kMax, std::size_t kRows>
void pair_windows_backward(const PairWindowsBackward& a) {
  const DF d;
  const std::size_t N = hn::Lanes(d), nrows = kRows > 0 ? kRows : a.nrows;
  const std::size_t block_rows = nrows == 1 ? 1 : 2, block = block_rows * a.cols_in;
  const Divisor count(static_cast<double>(2 * nrows));
  alignas(64) float g_part[HWY_MAX_BYTES / sizeof(float)] = {};
  alignas(64) std::uint8_t am_part[HWY_MAX_BYTES / sizeof(float)] = {};
  for (std::size_t i = 0; i < a.rows; ++i) {
    float* base = a.grad_in + static_cast<std::int64_t>(i) * a.row_step;
    const float* g_row = a.grad_out + i * a.cols_out;
    const std::uint8_t* am_row = kMax ? a.argmax + i * a.cols_out : nullptr;
    for (std::size_t first = 0; first < nrows; first += block_rows) {
      for (std::size_t r = first; r < first + block_rows; ++r) {
        // Row r's cells, in order: a last, partial vector spills into the next row's first
        // cells (written after it) or the stage's margin.
        float* row = a.stage + (r - first) * a.cols_in;
        for (std::size_t c = 0; c < a.cols_out; c += N) {
          const std::size_t lanes = std::min(N, a.cols_out - c);
          const float* g_at = g_row + c;
          const std::uint8_t* am_at = kMax ? am_row + c : nullptr;
          if (g_at + N > a.grad_out_end) {  // the last, partial vector of the upstream gradient
            std::copy(g_at, g_at + lanes, g_part);
            g_at = g_part;
          }
          if (kMax && am_at + N > a.argmax_end) {
            std::copy(am_at, am_at + lanes, am_part);
            am_at = am_part;
          }
          const VF g = Upstream(g_at);
          if constexpr (kMax) {
            const VF am = LoadArgmax(am_at);
            hn::StoreInterleaved2(hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(2 * r))), g),
                                  hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(2 * r + 1))), g), d,
                                  row + 2 * c);
          } else {
            const VF share = count.divide(g);
            hn::StoreInterleaved2(share, share, d, row + 2 * c);
          }
        }
        if (a.cols_in > 2 * a.cols_out) row[2 * a.cols_out] = 0.0f;  // the col in no window
      }
      float* dst = base + a.offsets[first];
      if (a.stream && block % N == 0 && reinterpret_cast<std::uintptr_t>(dst) % (N * sizeof(float)) == 0) {
        CopyStreamed(a.stage, dst, block);
      } else {
        std::size_t k = 0;
        for (; k + N <= block; k += N) hn::StoreU(hn::LoadU(d, a.stage + k), d, dst + k);
        if (k < block) StorePartial(hn::LoadU(d, a.stage + k), static_cast<std::int64_t>(block - k), dst + k);
      }
    }
  }
}

// channels_last: every vector of channels of an output goes to its two window cols of each
// window row directly (whole vectors; streamed when asked).
template <bool kMax, std::size_t kRows>
void pair_windows_backward_channels_last(const PairWindowsBackward& a) {
  const DF d;
  const std::size_t N = hn::Lanes(d), nrows = kRows > 0 ? kRows : a.nrows, C = a.channels;
  const std::size_t n = a.cols_out * C;  // upstream floats per output row
  const Divisor count(static_cast<double>(2 * nrows));
  for (std::size_t i = 0; i < a.rows; ++i) {
    float* base = a.grad_in + static_cast<std::int64_t>(i) * a.row_step;
    const float* g_row = a.grad_out + i * n;
    const std::uint8_t* am_row = kMax ? a.argmax + i * n : nullptr;
    for (std::size_t r = 0; r < nrows; ++r) {
      float* row = base + a.offsets[r];
      for (std::size_t ow = 0; ow < a.cols_out; ++ow) {
        for (std::size_t c = 0; c < C; c += N) {
          const std::size_t o = ow * C + c;
          const VF g = Upstream(g_row + o);
          float* cell = row + 2 * ow * C + c;
          if constexpr (kMax) {
            const VF am = LoadArgmax(am_row + o);
            StoreOut(hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(2 * r))), g), cell, a.stream);
            StoreOut(hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(2 * r + 1))), g), cell + C, a.stream);
          } else {
            const VF share = count.divide(g);
            StoreOut(share, cell, a.stream);
            StoreOut(share, cell + C, a.stream);
          }
        }
      }
      if (a.cols_in > 2 * a.cols_out) std::fill(row + 2 * n, row + 2 * n + C, 0.0f);  // the col in no window
    }
  }
}

template <bool kMax>
void pair_windows_backward(const PairWindowsBackward& a) {
  const bool cl = a.channels > 1;
  switch (a.nrows) {
    case 1: return cl ? pair_windows_backward_channels_last<kMax, 1>(a) : pair_windows_backward<kMax, 1>(a);
    case 2: return cl ? pair_windows_backward_channels_last<kMax, 2>(a) : pair_windows_backward<kMax, 2>(a);
    default: return cl ? pair_windows_backward_channels_last<kMax, 0>(a) : pair_windows_backward<kMax, 0>(a);
  }
}
void BackwardPairWindowsMax(const PairWindowsBackward& a) { const CleanUpperOnReturn clean_upper; pair_windows_backward<true>(a); }
void BackwardPairWindowsAverage(const PairWindowsBackward& a) { const CleanUpperOnReturn clean_upper; pair_windows_backward<false>(a); }

std::size_t Lanes() { return hn::Lanes(DF()); }

// An N x N block of floats transposed (N = lanes): dst row i, col j = src row j, col i. Rows are
// `src_stride` / `dst_stride` floats apart. x86 transposes in registers (log2(N) rounds of
// shuffles, 64 for 16x16: several times faster than one gather or scatter per row on Zen 4, whose
// gathers bound the plane kernels); other targets go through a scalar loop.
HWY_INLINE void TransposeBlock(const float* src, std::size_t src_stride, float* dst, std::size_t dst_stride,
                               bool stream = false) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // Non-temporal stores when asked and every row is line-aligned (a large destination nobody
  // reads soon: no read-for-ownership of its lines).
  stream = stream && reinterpret_cast<std::uintptr_t>(dst) % 64 == 0 && dst_stride % 16 == 0;
  const auto store = [stream](float* p, __m512 v) {
    if (stream) {
      _mm512_stream_ps(p, v);
    } else {
      _mm512_storeu_ps(p, v);
    }
  };
  __m512 r[16], t[16];
  for (std::size_t i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  // Round 1: 32-bit interleave of row pairs; t[2i] holds cols 4k, 4k+1 of rows 2i, 2i+1 (lane k).
  for (std::size_t i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  // Round 2: 64-bit interleave; r[4i + j] lane k = col 4k + j of rows 4i..4i+3.
  for (std::size_t i = 0; i < 16; i += 4) {
    const __m512d a = _mm512_castps_pd(t[i]), b = _mm512_castps_pd(t[i + 1]);
    const __m512d c = _mm512_castps_pd(t[i + 2]), e = _mm512_castps_pd(t[i + 3]);
    r[i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, e));
    r[i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, e));
  }
  // Rounds 3 and 4: 128-bit lane shuffles gather lane k of the four row groups: col 4k + j.
  for (std::size_t j = 0; j < 4; ++j) {
    const __m512 v0 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(r[j], r[4 + j], 0xDD);
    const __m512 w0 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0x88);
    const __m512 w1 = _mm512_shuffle_f32x4(r[8 + j], r[12 + j], 0xDD);
    store(dst + j * dst_stride, _mm512_shuffle_f32x4(v0, w0, 0x88));
    store(dst + (4 + j) * dst_stride, _mm512_shuffle_f32x4(v1, w1, 0x88));
    store(dst + (8 + j) * dst_stride, _mm512_shuffle_f32x4(v0, w0, 0xDD));
    store(dst + (12 + j) * dst_stride, _mm512_shuffle_f32x4(v1, w1, 0xDD));
  }
#elif HWY_TARGET == HWY_AVX2
  (void)stream;
  __m256 r[8], t[8];
  for (std::size_t i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  for (std::size_t i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  // r[4i + j] 128-bit lane k = col 4k + j of rows 4i..4i+3.
  for (std::size_t i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (std::size_t j = 0; j < 4; ++j) {
    _mm256_storeu_ps(dst + j * dst_stride, _mm256_permute2f128_ps(r[j], r[4 + j], 0x20));
    _mm256_storeu_ps(dst + (4 + j) * dst_stride, _mm256_permute2f128_ps(r[j], r[4 + j], 0x31));
  }
#else
  (void)stream;
  const std::size_t N = hn::Lanes(DF());
  for (std::size_t i = 0; i < N; ++i)
    for (std::size_t j = 0; j < N; ++j) dst[i * dst_stride + j] = src[j * src_stride + i];
#endif
}

// `prefetch` (floats; 0: none): where the next call's planes are, fetched into L2 block by block
// while this call transposes. The group's N planes are N short strided streams, which the hardware
// prefetcher does not follow (11x11 planes, 1 thread: 2.2 -> 1.1 ms; into L1 instead: 1.6-2.2 ms).
void PlanesToChannelsLast(const float* first, std::size_t cells, std::size_t plane_stride, float* out,
                          std::ptrdiff_t prefetch, std::size_t out_channels) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const DI di;
  const std::size_t N = hn::Lanes(d);
  if (cells >= N) {
    // Whole blocks; the last one overlaps its neighbour rather than leaving a tail to gather.
    for (std::size_t i = 0; i < cells; i += N) {
      const std::size_t at = std::min(i, cells - N);
      if (prefetch != 0) {
        for (std::size_t p = 0; p < N; ++p) {  // both lines an unaligned block may span
          const float* next = first + prefetch + at + p * plane_stride;
          __builtin_prefetch(next, 0, 2);
          __builtin_prefetch(next + N - 1, 0, 2);
        }
      }
      TransposeBlock(first + at, plane_stride, out + at * out_channels, out_channels);
    }
    return;
  }
  std::size_t i = 0;
  const auto offsets = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<std::int32_t>(plane_stride)));
  for (; i < cells; ++i) hn::StoreU(hn::GatherIndex(d, first + i, offsets), d, out + i * out_channels);
}

// Bytes of lanes() planes (`plane_stride` apart, `cells` each) to cell-major order
// (out[cell * lanes() + plane]): a group of channels_first planes' saved argmax. 16 lanes: 16x16
// byte blocks in registers (four rounds of interleaving rows i and i + 8, each of which rotates
// a byte's row:col index by one bit); other widths and the tail byte by byte.
void PlanesToCellsBytes(const std::uint8_t* first, std::size_t cells, std::size_t plane_stride, std::uint8_t* out) {
  const CleanUpperOnReturn clean_upper;
  const std::size_t N = hn::Lanes(DF());
  std::size_t i = 0;
#if HWY_ARCH_X86 && HWY_TARGET != HWY_SCALAR && HWY_TARGET != HWY_EMU128
  if (N == 16) {
    for (; i + 16 <= cells; i += 16) {
      __m128i y[16], x[16];
      for (std::size_t p = 0; p < 16; ++p)
        y[p] = _mm_loadu_si128(reinterpret_cast<const __m128i*>(first + p * plane_stride + i));
      for (int round = 0; round < 4; ++round) {
        for (std::size_t k = 0; k < 8; ++k) {
          x[2 * k] = _mm_unpacklo_epi8(y[k], y[k + 8]);
          x[2 * k + 1] = _mm_unpackhi_epi8(y[k], y[k + 8]);
        }
        for (std::size_t k = 0; k < 16; ++k) y[k] = x[k];
      }
      for (std::size_t c = 0; c < 16; ++c) _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (i + c) * 16), y[c]);
    }
  }
#endif
  for (; i < cells; ++i)
    for (std::size_t p = 0; p < N; ++p) out[i * N + p] = first[p * plane_stride + i];
}

void ChannelsLastToPlanes(const float* in, std::size_t cells, float* first, std::size_t plane_stride, bool stream,
                          std::size_t in_channels) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const DI di;
  const std::size_t N = hn::Lanes(d);
  if (cells >= N) {
    for (std::size_t i = 0; i < cells; i += N) {
      const std::size_t at = std::min(i, cells - N);
      TransposeBlock(in + at * in_channels, in_channels, first + at, plane_stride, stream);
    }
    return;
  }
  std::size_t i = 0;
  const auto offsets = hn::Mul(hn::Iota(di, 0), hn::Set(di, static_cast<std::int32_t>(plane_stride)));
  for (; i < cells; ++i) hn::ScatterIndex(hn::LoadU(d, in + i * in_channels), d, first + i, offsets);
}

// Lanes table[index[i]] of two vectors at `table` (index < 2N), on x86 one permute instruction
// (AVX-512) or two and a blend (AVX2); false where the target has neither.
HWY_INLINE bool TwoVectorLookup(const float* table, const std::int32_t* index, VF& out) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m512i idx = _mm512_loadu_si512(index);
  out = VF{_mm512_permutex2var_ps(_mm512_loadu_ps(table), idx, _mm512_loadu_ps(table + 16))};
  return true;
#elif HWY_TARGET == HWY_AVX2
  const __m256i idx = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(index));
  const __m256 lo = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table), idx);
  const __m256 hi = _mm256_permutevar8x32_ps(_mm256_loadu_ps(table + 8), idx);
  const __m256 upper = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));  // bit 3 -> sign bit
  out = VF{_mm256_blendv_ps(lo, hi, upper)};
  return true;
#else
  (void)table;
  (void)index;
  (void)out;
  return false;
#endif
}

// The plane's per-output values (max: the upstream gradient, 0 + g; average: its share, (0 + g) /
// count) and (max) argmax indices as floats: whole vectors, then the rest one by one, with the
// same bits. Against a scalar loop in the driver, 2 threads, 3 interleaved rounds of poolnet-bench,
// (128,32,26,26) 2x2/2: average 0.443 -> 0.385 ms, max 0.410 -> 0.387 ms. Assembling each
// plane in L1 and copying it out (aligned stores) measured 1.3-1.5x slower.
HWY_INLINE void BackwardPlaneValues(const float* g, const std::uint8_t* argmax, const float* count, std::size_t outputs,
                                    float* values, float* indices) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  std::size_t o = 0;
  for (; o + N <= outputs; o += N) {
    const VF upstream = Upstream(g + o);
    hn::StoreU(count ? hn::Div(upstream, hn::LoadU(d, count + o)) : upstream, d, values + o);
    if (argmax) hn::StoreU(LoadArgmax(argmax + o), d, indices + o);
  }
  for (; o < outputs; ++o) {
    const float upstream = 0.0f + g[o];
    values[o] = count ? upstream / count[o] : upstream;
    if (argmax) indices[o] = argmax[o];
  }
}

void BackwardPlane(const ReversePlaneTable& t, const float* grad_out, const std::uint8_t* argmax, const float* count,
                   std::size_t outputs, float* values, float* indices, float* grad_in) {
  const CleanUpperOnReturn clean_upper;
  BackwardPlaneValues(grad_out, argmax, count, outputs, values, indices);
  if (!argmax) indices = nullptr;
  const DF d;
  const DI di;
  const auto N = static_cast<std::int64_t>(hn::Lanes(d));
  const auto inputs = static_cast<std::int64_t>(t.inputs);
  for (std::int64_t i = 0; i < inputs; i += N) {
    const auto code = hn::LoadU(di, t.code + i);
    auto take = hn::RebindMask(d, hn::Gt(code, hn::Set(di, -1)));
    VF value, index;
    const std::int32_t base = t.base[i / N];
    if (base < 0 || !TwoVectorLookup(values + base, t.relative + i, value) ||
        (indices && !TwoVectorLookup(indices + base, t.relative + i, index))) {
      const auto from = hn::LoadU(di, t.output + i);
      value = hn::GatherIndex(d, values, from);
      if (indices) index = hn::GatherIndex(d, indices, from);
    }
    if (indices) take = hn::And(take, hn::Eq(index, hn::ConvertTo(d, code)));
    StorePartial(hn::IfThenElseZero(take, value), std::min(N, inputs - i), grad_in + i);
  }
}

// Max backward of `planes` consecutive planes straight from their upstream gradients and argmax:
// each vector of inputs permutes its upstream values and argmax out of the two vectors at
// grad_out + base and argmax + base and keeps the lanes whose argmax names them. No pass over
// the outputs first (BackwardPlane's values and indices, with their scalar tail, then lookups
// that wait on those stores): in L2, 1 thread, (16,64,11,11) 35 -> 14 us. The permutes, not
// the memory, bound it there (channels_last: 4.6 us). The caller makes sure that every vector
// has a base and that the reads stay in its buffers.
void BackwardPlanesMaxDirect(const ReversePlaneTable& t, const float* grad_out, const std::uint8_t* argmax,
                             std::size_t outputs, std::size_t planes, float* grad_in) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const DI di;
  const D8 d8;
  const auto N = static_cast<std::int64_t>(hn::Lanes(d));
  const auto inputs = static_cast<std::int64_t>(t.inputs);
  const std::int64_t whole = (inputs - 1) / N * N;  // the last vector, partial or not, stored apart
  // Local copies: the vector stores (through may_alias types) would make the compiler reload t's
  // pointers on every vector ((128,32,26,26) in L2, 1 thread: 14.3 -> 12.8 us).
  const std::int32_t* const bases = t.base;
  const std::int32_t* const relative = t.relative;
  const std::int32_t* const code = t.code;
  auto vector_at = [&](const float* g, const std::uint8_t* am, std::int64_t i) {
    const std::int32_t base = bases[i / N];
    const IV index = hn::LoadU(di, relative + i);
    const VF value = LookupPair(hn::LoadU(d, g + base), hn::LoadU(d, g + base + N), index);
    // The argmax bytes zero-extended, permuted as float bits.
    const IV cell = hn::BitCast(di, LookupPair(hn::BitCast(d, hn::PromoteTo(di, hn::LoadU(d8, am + base))),
                                               hn::BitCast(d, hn::PromoteTo(di, hn::LoadU(d8, am + base + N))), index));
    const auto take = hn::RebindMask(d, hn::Eq(cell, hn::LoadU(di, code + i)));
    return hn::IfThenElseZero(take, hn::Add(hn::Zero(d), value));  // 0 + g: see Upstream
  };
  for (std::size_t p = 0; p < planes; ++p) {
    const float* g = grad_out + p * outputs;
    const std::uint8_t* am = argmax + p * outputs;
    float* out = grad_in + p * t.inputs;
    for (std::int64_t i = 0; i < whole; i += N) hn::StoreU(vector_at(g, am, i), d, out + i);
    StorePartial(vector_at(g, am, whole), inputs - whole, out + whole);
  }
}

// ---- backward --------------------------------------------------------------------------------


// The gradient a window cell (col w, channel c) receives from output col ow, in scalar code.
template <bool kMax>
float cell_gradient(const BackwardRow& a, std::int64_t ow, std::int64_t w, std::size_t c) {
  const std::size_t o = static_cast<std::size_t>(ow) * a.channels + c;
  if constexpr (kMax) {
    const std::int64_t id = a.row_id + (w - start_of(a.cols, ow));
    return a.argmax[o] == id ? 0.0f + a.grad_out[o] : 0.0f;  // 0 + g: see Upstream
  } else {
    const auto cols = static_cast<float>(end_of(a.cols, ow) - begin_of(a.cols, ow));
    return (0.0f + a.grad_out[o]) / (static_cast<float>(a.real_rows) * cols);
  }
}

// Writes (or adds) the window cells of output col ow and, when writing, zeros the cols from
// `next` up to the window (gaps between windows); returns the first col after the window.
template <bool kMax>
std::int64_t backward_col(const BackwardRow& a, std::int64_t ow, std::int64_t next) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t C = a.channels;
  const auto Cs = static_cast<std::int64_t>(C);
  const std::int64_t ws = start_of(a.cols, ow), wb = begin_of(a.cols, ow), we = end_of(a.cols, ow);
  if (!a.accumulate && wb > next) std::fill(a.grad_in + next * Cs, a.grad_in + wb * Cs, 0.0f);
  const float* g = a.grad_out + static_cast<std::size_t>(ow) * C;
  const float count = static_cast<float>(a.real_rows) * static_cast<float>(we - wb);
  const Divisor divisor(count);
  for (std::int64_t w = wb; w < we; ++w) {
    float* dst = a.grad_in + w * Cs;
    const VF id = hn::Set(d, static_cast<float>(a.row_id + (w - ws)));
    std::size_t c = 0;
    for (; c + N <= C; c += N) {
      VF val;
      if constexpr (kMax) {
        val = hn::IfThenElseZero(hn::Eq(LoadArgmax(a.argmax + static_cast<std::size_t>(ow) * C + c), id), Upstream(g + c));
      } else {
        val = divisor.divide(Upstream(g + c));
      }
      if (a.accumulate) {
        hn::StoreU(hn::Add(val, hn::LoadU(d, dst + c)), d, dst + c);
      } else {
        StoreOut(val, dst + c, a.stream);
      }
    }
    for (; c < C; ++c) {
      const float val = cell_gradient<kMax>(a, ow, w, c);
      dst[c] = a.accumulate ? dst[c] + val : val;
    }
  }
  return std::max(next, we);
}

template <bool kMax>
void backward_row(const BackwardRow& a) {
  const Axis& x = a.cols;
  std::int64_t next = 0;
  std::int64_t ow = 0;
  // channels_first, windows that tile the row (stride == window, 1 or 2): N outputs at a time
  // in the interior (interleaved stores for 2-wide windows).
  if (a.channels == 1 && !a.accumulate && x.stride == x.window && x.stride <= 2) {
    const DF d;
    const auto N = static_cast<std::int64_t>(hn::Lanes(d));
    std::int64_t lo, hi;
    interior(x, x.window, lo, hi);
    for (; ow < lo; ++ow) next = backward_col<kMax>(a, ow, next);
    if (ow < hi && start_of(x, ow) > next) std::fill(a.grad_in + next, a.grad_in + start_of(x, ow), 0.0f);
    // The last vector of a row may be partial: its inputs and outputs go through buffers, so
    // nothing outside this row is read or written.
    alignas(64) float g_part[HWY_MAX_BYTES / sizeof(float)] = {};
    alignas(64) std::uint8_t am_part[HWY_MAX_BYTES / sizeof(float)] = {};
    alignas(64) float out_part[2 * HWY_MAX_BYTES / sizeof(float)] = {};
    // A grad_input too large for the cache is written with non-temporal stores, and then every
    // whole line of the row must be (one plain store among them made the row as slow as plain
    // stores everywhere): 2-wide windows interleave into `pair` in L1 and stream from there, and a
    // partial last vector that still fills whole vectors streams from out_part (112x112 planes,
    // 2 threads, pool_backward alone: average 10.2-10.5 -> 5.5-5.7 ms, max 10.6-11.1 -> 7.2-7.5 ms).
    alignas(64) float pair[2 * HWY_MAX_BYTES / sizeof(float)] = {};
    // The average's share g / count: a multiplication when count is a power of two (same bits).
    const Divisor count(static_cast<double>(a.real_rows * x.window));
    // Stores n floats of `from` (whole vectors) at `to`, streaming.
    auto stream_out = [&](const float* from, float* to, std::int64_t n) {
      for (std::int64_t i = 0; i < n; i += N) StoreOut(hn::Load(d, from + i), to + i, true);
    };
    for (std::int64_t lanes = 0; ow < hi; ow += lanes) {
      lanes = std::min(N, hi - ow);
      const bool whole = lanes == N;
      const std::int64_t ws = start_of(x, ow);
      const float* g_at = a.grad_out + ow;
      const std::uint8_t* am_at = kMax ? a.argmax + ow : nullptr;
      if (!whole) {
        std::copy(g_at, g_at + lanes, g_part);
        g_at = g_part;
        if constexpr (kMax) {
          std::copy(am_at, am_at + lanes, am_part);
          am_at = am_part;
        }
      }
      const std::int64_t written = lanes * x.window;  // grad_in floats of this vector's windows
      const bool stream = a.stream && written % N == 0;
      float* dst = !whole ? out_part : stream ? pair : a.grad_in + ws;
      const VF g = Upstream(g_at);
      if (x.window == 1) {
        const VF value = kMax ? hn::IfThenElseZero(hn::Eq(LoadArgmax(am_at), hn::Set(d, static_cast<float>(a.row_id))), g)
                              : count.divide(g);
        hn::StoreU(value, d, dst);
      } else if constexpr (kMax) {
        const VF am = LoadArgmax(am_at);
        const VF even = hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(a.row_id))), g);
        const VF odd = hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(a.row_id + 1))), g);
        hn::StoreInterleaved2(even, odd, d, dst);
      } else {
        const VF share = count.divide(g);
        hn::StoreInterleaved2(share, share, d, dst);
      }
      if (stream && dst != a.grad_in + ws) {
        stream_out(dst, a.grad_in + ws, written);
      } else if (!whole) {
        std::copy(out_part, out_part + written, a.grad_in + ws);
      }
      next = ws + written;
    }
  }
  // channels_last, windows that tile the row (stride == window) and whole vectors of channels:
  // the unclipped cols without per-col bookkeeping; the upstream gradient (and argmax) of a vector
  // of channels is loaded once for all the window's cols.
  if (a.channels > 1 && !a.accumulate && x.stride == x.window) {
    const DF d;
    const std::size_t N = hn::Lanes(d);
    const std::size_t C = a.channels;
    if (C % N == 0) {
      const auto Cs = static_cast<std::int64_t>(C);
      std::int64_t lo, hi;
      interior(x, x.window, lo, hi);
      for (; ow < lo; ++ow) next = backward_col<kMax>(a, ow, next);
      if (ow < hi && start_of(x, ow) > next) std::fill(a.grad_in + next * Cs, a.grad_in + start_of(x, ow) * Cs, 0.0f);
      const Divisor count(static_cast<double>(a.real_rows) * static_cast<double>(x.window));
      for (; ow < hi; ++ow) {
        float* dst = a.grad_in + start_of(x, ow) * Cs;
        const float* g = a.grad_out + static_cast<std::size_t>(ow) * C;
        for (std::size_t c = 0; c < C; c += N) {
          const VF gv = Upstream(g + c);
          if constexpr (kMax) {
            const VF am = LoadArgmax(a.argmax + static_cast<std::size_t>(ow) * C + c);
            for (std::int64_t kw = 0; kw < x.window; ++kw)
              StoreOut(hn::IfThenElseZero(hn::Eq(am, hn::Set(d, static_cast<float>(a.row_id + kw))), gv),
                       dst + kw * Cs + static_cast<std::int64_t>(c), a.stream);
          } else {
            const VF share = count.divide(gv);
            for (std::int64_t kw = 0; kw < x.window; ++kw) StoreOut(share, dst + kw * Cs + static_cast<std::int64_t>(c), a.stream);
          }
        }
        next = start_of(x, ow) + x.window;
      }
    }
  }
  for (; ow < x.out; ++ow) next = backward_col<kMax>(a, ow, next);
  if (!a.accumulate && next < x.in) {
    const auto Cs = static_cast<std::int64_t>(a.channels);
    std::fill(a.grad_in + next * Cs, a.grad_in + x.in * Cs, 0.0f);
  }
}

void BackwardRowMax(const BackwardRow& a) { const CleanUpperOnReturn clean_upper; backward_row<true>(a); }
void BackwardRowAverage(const BackwardRow& a) { const CleanUpperOnReturn clean_upper; backward_row<false>(a); }

// ---- global ----------------------------------------------------------------------------------

// Cells per pass over a channels_last image: the pass's rows stay in L1/L2 while every channel
// vector sweeps them.
inline std::size_t chunk_cells(std::size_t channels) { return std::max<std::size_t>(1, 8192 / channels); }

// Global pooling reads each channels_last image as kStreams streams, its quarters (or halves) side
// by side: the hardware prefetcher runs one stream per page, and a core keeps more misses in
// flight for more streams (Xeon, 2 threads, a plain max over 103 MB: 4.4 ms as one stream per
// thread, 3.9 ms as two, 3.4 ms as four or eight). The parts' results are combined in order, so
// nothing depends on the split but the average's rounding. Two -> four streams on the Xeon, 2
// threads, 4 interleaved rounds: 112x112x64 max 3.92 -> 3.39 ms, average 3.60 -> 3.43 ms;
// 26x26x32 max 0.42 -> 0.39 ms; 11x11x64 average 0.38 -> 0.31 ms; 3D max 3.61 -> 3.45 ms; 1D
// average 2.36 -> 2.26 ms. On the AMD EPYC (Zen 5), four -> two, 3 interleaved rounds: 112x112x64
// max 1.69 -> 1.51 ms, 26x26x32 max 0.300 -> 0.256 ms, 11x11x64 average 0.193 -> 0.172 ms, the
// rest the same (fast.cpp's memory_streams picks).

// Cells [s0, s1) of each quarter (the quarters `quarter` cells apart), K channel vectors from c:
// a set of running maxima per quarter (maxima + q * C), and NaN seen.
template <std::size_t kStreams, int K>
HWY_INLINE void global_max_block(const float* image, std::size_t s0, std::size_t s1, std::size_t quarter,
                                 std::size_t C, std::size_t c, float* maxima, hn::Mask<DF>* nan_io) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF acc[kStreams][K];
  hn::Mask<DF> nan[K];
  for (int j = 0; j < K; ++j) {
    for (std::size_t q = 0; q < kStreams; ++q) acc[q][j] = hn::LoadU(d, maxima + q * C + c + static_cast<std::size_t>(j) * N);
    nan[j] = nan_io[c / N + static_cast<std::size_t>(j)];
  }
  for (std::size_t s = s0; s < s1; ++s) {
    const float* cell = image + s * C + c;
    for (int j = 0; j < K; ++j) {
      for (std::size_t q = 0; q < kStreams; ++q) {
        const VF v = hn::LoadU(d, cell + q * quarter * C + static_cast<std::size_t>(j) * N);
        acc[q][j] = MaxFirst(v, acc[q][j]);
        nan[j] = hn::Or(nan[j], hn::IsNaN(v));
      }
    }
  }
  for (int j = 0; j < K; ++j) {
    for (std::size_t q = 0; q < kStreams; ++q) hn::StoreU(acc[q][j], d, maxima + q * C + c + static_cast<std::size_t>(j) * N);
    nan_io[c / N + static_cast<std::size_t>(j)] = nan[j];
  }
}

// One mask per channel vector (a few per call: C / N), on the stack up to 64 vectors.
class NanMasks {
 public:
  explicit NanMasks(std::size_t vectors) {
    if (vectors > kOnStack) {
      heap_.resize(vectors);
      data_ = heap_.data();
    }
  }
  NanMasks(const NanMasks&) = delete;
  NanMasks& operator=(const NanMasks&) = delete;
  hn::Mask<DF>* data() { return data_; }

 private:
  static constexpr std::size_t kOnStack = 64;
  hn::Mask<DF> stack_[kOnStack];
  std::vector<hn::Mask<DF>> heap_;
  hn::Mask<DF>* data_ = stack_;
};

template <std::size_t kStreams>
void global_max_image(const float* image, std::size_t cells, std::size_t C, float* out, float* scratch) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  const std::size_t vectors = C / N;
  NanMasks nan_masks(vectors);  // NaN seen so far, per channel vector
  hn::Mask<DF>* nan = nan_masks.data();
  // Quarter q's running maxima: scratch + q * C.
  const std::size_t quarter = cells / kStreams;
  float* maxima = scratch;
  // Cells [from, to) into the running maxima `acc`, one cell at a time.
  auto fold_cells = [&](std::size_t from, std::size_t to, float* acc) {
    for (std::size_t s = from; s < to; ++s) {
      const float* cell = image + s * C;
      for (std::size_t j = 0; j < vectors; ++j) {
        const VF v = hn::LoadU(d, cell + j * N);
        hn::StoreU(MaxFirst(v, hn::LoadU(d, acc + j * N)), d, acc + j * N);
        nan[j] = hn::Or(nan[j], hn::IsNaN(v));
      }
      for (std::size_t c = vectors * N; c < C; ++c)
        if (takes(cell[c], acc[c])) acc[c] = cell[c];
    }
  };
  if (quarter == 0) {
    // Fewer cells than streams: one stream, in order.
    std::copy(image, image + C, out);
    for (std::size_t j = 0; j < vectors; ++j) nan[j] = hn::IsNaN(hn::LoadU(d, out + j * N));
    fold_cells(1, cells, out);
  } else {
    // Each quarter's first cell starts its running maxima.
    for (std::size_t q = 0; q < kStreams; ++q) std::copy(image + q * quarter * C, image + (q * quarter + 1) * C, maxima + q * C);
    for (std::size_t j = 0; j < vectors; ++j) {
      nan[j] = hn::IsNaN(hn::LoadU(d, maxima + j * N));
      for (std::size_t q = 1; q < kStreams; ++q) nan[j] = hn::Or(nan[j], hn::IsNaN(hn::LoadU(d, maxima + q * C + j * N)));
    }
    for (std::size_t s0 = 1; s0 < quarter; s0 += chunk_cells(C)) {
      const std::size_t s1 = std::min(quarter, s0 + chunk_cells(C));
      std::size_t c = 0;
      for (; c + 4 * N <= C; c += 4 * N) global_max_block<kStreams, 4>(image, s0, s1, quarter, C, c, maxima, nan);
      if (c + 2 * N <= C) {
        global_max_block<kStreams, 2>(image, s0, s1, quarter, C, c, maxima, nan);
        c += 2 * N;
      }
      for (; c + N <= C; c += N) global_max_block<kStreams, 1>(image, s0, s1, quarter, C, c, maxima, nan);
      for (; c < C; ++c) {
        for (std::size_t s = s0; s < s1; ++s)
          for (std::size_t q = 0; q < kStreams; ++q) {
            const float v = image[(s + q * quarter) * C + c];
            if (takes(v, maxima[q * C + c])) maxima[q * C + c] = v;
          }
      }
    }
    // The cells after the last whole quarter end the last quarter.
    fold_cells(kStreams * quarter, cells, maxima + (kStreams - 1) * C);
    // An earlier quarter's maximum wins ties: it comes first.
    for (std::size_t j = 0; j < vectors; ++j) {
      VF m = hn::LoadU(d, maxima + j * N);
      for (std::size_t q = 1; q < kStreams; ++q) m = MaxFirst(hn::LoadU(d, maxima + q * C + j * N), m);
      hn::StoreU(m, d, out + j * N);
    }
    for (std::size_t c = vectors * N; c < C; ++c) {
      out[c] = maxima[c];
      for (std::size_t q = 1; q < kStreams; ++q)
        if (takes(maxima[q * C + c], out[c])) out[c] = maxima[q * C + c];
    }
  }
  for (std::size_t j = 0; j < vectors; ++j)
    hn::StoreU(hn::IfThenElse(nan[j], hn::Set(d, kNaN), hn::LoadU(d, out + j * N)), d, out + j * N);
  for (std::size_t c = vectors * N; c < C; ++c) out[c] = canonical(out[c]);
}

// Global sums add runs of this many cells in float, then each run's sum in double: float speed,
// and an error that does not grow with the number of cells (a 112x112 plane summed in float alone
// would drift by about 1e-4 relative on same-signed data).
constexpr std::size_t kFloatRun = 16;

// K channel vectors summed together over cells [s0, s1) of each quarter (`quarter` cells apart),
// into sums + q * C: one pass reads whole cells (a pass per vector would read every cell K times
// with a stride, which the prefetcher serves poorly).
template <std::size_t kStreams, int K>
HWY_INLINE void global_sum_block(const float* image, std::size_t s0, std::size_t s1, std::size_t quarter,
                                 std::size_t C, std::size_t c, double* sums) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  DoubleSum sum[kStreams][K];
  for (std::size_t q = 0; q < kStreams; ++q)
    for (int j = 0; j < K; ++j) sum[q][j] = DoubleSum::load(sums + q * C + c + static_cast<std::size_t>(j) * N);
  for (std::size_t r0 = s0; r0 < s1; r0 += kFloatRun) {
    FloatSum run[kStreams][K];
    for (std::size_t q = 0; q < kStreams; ++q)
      for (int j = 0; j < K; ++j) run[q][j] = FloatSum::zero();
    for (std::size_t s = r0; s < std::min(s1, r0 + kFloatRun); ++s) {
      const float* cell = image + s * C + c;
      for (int j = 0; j < K; ++j)
        for (std::size_t q = 0; q < kStreams; ++q)
          run[q][j].add(hn::LoadU(d, cell + q * quarter * C + static_cast<std::size_t>(j) * N));
    }
    for (std::size_t q = 0; q < kStreams; ++q)
      for (int j = 0; j < K; ++j) sum[q][j].add(run[q][j].s);
  }
  for (std::size_t q = 0; q < kStreams; ++q)
    for (int j = 0; j < K; ++j) sum[q][j].store(sums + q * C + c + static_cast<std::size_t>(j) * N);
}

template <std::size_t kStreams>
void global_average_image(const float* image, std::size_t cells, std::size_t C, float* out, double* sums) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  std::fill(sums, sums + kStreams * C, 0.0);  // quarter q's at sums + q * C
  const std::size_t quarter = cells / kStreams;
  for (std::size_t s0 = 0; s0 < quarter; s0 += chunk_cells(C)) {
    const std::size_t s1 = std::min(quarter, s0 + chunk_cells(C));
    std::size_t c = 0;
    for (; c + 4 * N <= C; c += 4 * N) global_sum_block<kStreams, 4>(image, s0, s1, quarter, C, c, sums);
    if (c + 2 * N <= C) {
      global_sum_block<kStreams, 2>(image, s0, s1, quarter, C, c, sums);
      c += 2 * N;
    }
    for (; c + N <= C; c += N) global_sum_block<kStreams, 1>(image, s0, s1, quarter, C, c, sums);
    for (; c < C; ++c)
      for (std::size_t s = s0; s < s1; ++s)
        for (std::size_t q = 0; q < kStreams; ++q) sums[q * C + c] += image[(s + q * quarter) * C + c];
  }
  // The cells after the last whole quarter (all of them when there are fewer than kStreams).
  double* last = sums + (kStreams - 1) * C;
  for (std::size_t s = kStreams * quarter; s < cells; ++s)
    for (std::size_t c = 0; c < C; ++c) last[c] += image[s * C + c];
  for (std::size_t c = 0; c < C; ++c) {
    double sum = sums[c];
    for (std::size_t q = 1; q < kStreams; ++q) sum += sums[q * C + c];
    if (!std::isfinite(sum)) {  // a float run overflowed, or inf/NaN: redo in double (FloatSum)
      sum = 0.0;
      for (std::size_t s = 0; s < cells; ++s) sum += image[s * C + c];
    }
    out[c] = static_cast<float>(sum / static_cast<double>(cells));
  }
}

// Images too small to split into streams of their own (11x11x64: 31 KiB), whose parts restart the
// hardware prefetcher at every image: a run of `count` consecutive images two at a time, image k
// with image k + count / 2, each read in order as one stream (the last, odd one alone). Channels
// a multiple of the lanes. Max: a NaN in either image of a pair (tracked for both together) has
// the pair redone one image at a time. Average: each image's cells summed in order, as one stream.
void global_max_image_pairs(const float* first, std::size_t count, std::size_t cells, std::size_t C, float* out,
                            float* scratch) {
  const DF d;
  const std::size_t N = hn::Lanes(d), vectors = C / N, part = count / 2, image_floats = cells * C;
  NanMasks nan_masks(vectors);  // NaN seen so far in either image of a pair, per channel vector
  hn::Mask<DF>* nan = nan_masks.data();
  for (std::size_t k = 0; k < part; ++k) {
    const float* a = first + k * image_floats;
    const float* b = a + part * image_floats;
    float* maxima = scratch;  // image a's at maxima, b's at maxima + C
    std::copy(a, a + C, maxima);
    std::copy(b, b + C, maxima + C);
    for (std::size_t j = 0; j < vectors; ++j)
      nan[j] = hn::Or(hn::IsNaN(hn::LoadU(d, maxima + j * N)), hn::IsNaN(hn::LoadU(d, maxima + C + j * N)));
    for (std::size_t s0 = 1; s0 < cells; s0 += chunk_cells(C)) {
      const std::size_t s1 = std::min(cells, s0 + chunk_cells(C));
      std::size_t c = 0;
      for (; c + 4 * N <= C; c += 4 * N) global_max_block<2, 4>(a, s0, s1, part * cells, C, c, maxima, nan);
      if (c + 2 * N <= C) {
        global_max_block<2, 2>(a, s0, s1, part * cells, C, c, maxima, nan);
        c += 2 * N;
      }
      for (; c < C; c += N) global_max_block<2, 1>(a, s0, s1, part * cells, C, c, maxima, nan);
    }
    bool any_nan = false;
    for (std::size_t j = 0; j < vectors; ++j) any_nan = any_nan || !hn::AllFalse(d, nan[j]);
    if (any_nan) {
      global_max_image<2>(a, cells, C, out + k * C, scratch);
      global_max_image<2>(b, cells, C, out + (part + k) * C, scratch);
    } else {
      std::copy(maxima, maxima + C, out + k * C);
      std::copy(maxima + C, maxima + 2 * C, out + (part + k) * C);
    }
  }
  for (std::size_t k = 2 * part; k < count; ++k) global_max_image<2>(first + k * image_floats, cells, C, out + k * C, scratch);
}

void global_average_image_pairs(const float* first, std::size_t count, std::size_t cells, std::size_t C, float* out,
                                double* sums) {
  const DF d;
  const std::size_t N = hn::Lanes(d), part = count / 2, image_floats = cells * C;
  for (std::size_t k = 0; k < part; ++k) {
    const float* a = first + k * image_floats;
    std::fill(sums, sums + 2 * C, 0.0);  // image a's at sums, b's at sums + C
    for (std::size_t s0 = 0; s0 < cells; s0 += chunk_cells(C)) {
      const std::size_t s1 = std::min(cells, s0 + chunk_cells(C));
      std::size_t c = 0;
      for (; c + 4 * N <= C; c += 4 * N) global_sum_block<2, 4>(a, s0, s1, part * cells, C, c, sums);
      if (c + 2 * N <= C) {
        global_sum_block<2, 2>(a, s0, s1, part * cells, C, c, sums);
        c += 2 * N;
      }
      for (; c < C; c += N) global_sum_block<2, 1>(a, s0, s1, part * cells, C, c, sums);
    }
    for (std::size_t q = 0; q < 2; ++q) {
      const float* image = a + q * part * image_floats;
      float* o = out + (k + q * part) * C;
      for (std::size_t c = 0; c < C; ++c) {
        double sum = sums[q * C + c];
        if (!std::isfinite(sum)) {  // a float run overflowed, or inf/NaN: redo in double
          sum = 0.0;
          for (std::size_t s = 0; s < cells; ++s) sum += image[s * C + c];
        }
        o[c] = static_cast<float>(sum / static_cast<double>(cells));
      }
    }
  }
  for (std::size_t k = 2 * part; k < count; ++k)
    global_average_image<2>(first + k * image_floats, cells, C, out + k * C, sums);
}

void GlobalMaxChannelsLastImages(const float* first, std::size_t count, std::size_t cells, std::size_t C, float* out,
                                 float* scratch) {
  const CleanUpperOnReturn clean_upper;
  global_max_image_pairs(first, count, cells, C, out, scratch);
}
void GlobalAverageChannelsLastImages(const float* first, std::size_t count, std::size_t cells, std::size_t C,
                                     float* out, double* sums) {
  const CleanUpperOnReturn clean_upper;
  global_average_image_pairs(first, count, cells, C, out, sums);
}

void GlobalMaxChannelsLast(const float* image, std::size_t cells, std::size_t C, float* out, float* scratch,
                           std::size_t streams) {
  const CleanUpperOnReturn clean_upper;
  if (streams <= 2) {
    global_max_image<2>(image, cells, C, out, scratch);
  } else {
    global_max_image<kGlobalStreams>(image, cells, C, out, scratch);
  }
}
void GlobalAverageChannelsLast(const float* image, std::size_t cells, std::size_t C, float* out, double* sums,
                               std::size_t streams) {
  const CleanUpperOnReturn clean_upper;
  if (streams <= 2) {
    global_average_image<2>(image, cells, C, out, sums);
  } else {
    global_average_image<kGlobalStreams>(image, cells, C, out, sums);
  }
}

// The streams a channels_first slice is read as, and the whole vectors of each (the cells after
// them are read at the end): four from 64 vectors on, two from 8 (26x26 planes, 42 vectors of 16
// lanes, measured the same with two or four; 11x11 planes, under 8, measured slower as two and
// keep one). 2 threads, 4 interleaved rounds, two -> four: 112x112 max 3.84 -> 3.72 ms, average
// 3.84 -> 3.67 ms; 3D 56x56 max 3.82 -> 3.45 ms; 1D 4096 average 2.76 -> 2.53 ms.
// With two memory streams per thread (see ReduceSlices) every slice is one stream.
inline std::size_t slice_streams(std::size_t cells, std::size_t N, std::size_t memory_streams) {
  if (memory_streams <= 2) return 1;
  return cells >= 64 * N ? 4 : cells >= 8 * N ? 2 : 1;
}

HWY_INLINE float GlobalMaxOf(const float* p, std::size_t cells, std::size_t memory_streams) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  float acc = p[0];
  if (cells >= 2 * N) {
    // A lane-wise running maximum per stream (whole vectors) and a NaN flag; the cells after them
    // are taken in vectors, the last of which re-reads cells already seen (harmless for a
    // maximum). The value is order-independent except for the sign of a zero maximum, fixed
    // below from the first zero (the reference's first maximum).
    const std::size_t streams = slice_streams(cells, N, memory_streams);
    const std::size_t part = streams > 1 ? cells / (streams * N) * N : 0;
    VF a[4];
    auto nan = hn::IsNaN(hn::Zero(d));
    for (std::size_t q = 0; q < 4; ++q) {
      a[q] = hn::LoadU(d, p + (q < streams ? q * part : 0));
      nan = hn::Or(nan, hn::IsNaN(a[q]));
    }
    if (streams == 4) {
      for (std::size_t i = N; i < part; i += N) {
        for (std::size_t q = 0; q < 4; ++q) {
          const VF v = hn::LoadU(d, p + q * part + i);
          a[q] = MaxFirst(v, a[q]);
          nan = hn::Or(nan, hn::IsNaN(v));
        }
      }
    } else if (streams == 2) {
      for (std::size_t i = N; i < part; i += N) {
        const VF v0 = hn::LoadU(d, p + i), v1 = hn::LoadU(d, p + part + i);
        a[0] = MaxFirst(v0, a[0]);
        a[1] = MaxFirst(v1, a[1]);
        nan = hn::Or(nan, hn::Or(hn::IsNaN(v0), hn::IsNaN(v1)));
      }
    }
    for (std::size_t i = streams * part; i < cells; i += N) {
      const VF v = hn::LoadU(d, p + std::min(i, cells - N));
      a[0] = MaxFirst(v, a[0]);
      nan = hn::Or(nan, hn::IsNaN(v));
    }
    if (!hn::AllFalse(d, nan)) return kNaN;
    acc = hn::GetLane(hn::MaxOfLanes(d, MaxFirst(MaxFirst(a[3], a[2]), MaxFirst(a[1], a[0]))));
  } else {
    for (std::size_t i = 1; i < cells; ++i)
      if (takes(p[i], acc)) acc = p[i];
  }
  if (acc == 0.0f) {
    for (std::size_t j = 0; j < cells; ++j)
      if (p[j] == 0.0f) return p[j];
  }
  return canonical(acc);
}

// Slices of fewer than 8 vectors (11x11 planes) in one float run, their last partial vector
// masked, where the general loop below adds every vector in double and the last cells one by one.
HWY_INLINE double SmallSliceSum(const float* p, std::size_t cells, const float* end) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  FloatSum run = FloatSum::zero();
  std::size_t i = 0;
  for (; i + N <= cells; i += N) run.add(hn::LoadU(d, p + i));
  if (i < cells) {
    if (p + i + N <= end) {
      run.add(hn::IfThenElseZero(hn::FirstN(d, cells - i), hn::LoadU(d, p + i)));
    } else {
      alignas(64) float cells_left[HWY_MAX_BYTES / sizeof(float)] = {};
      std::copy(p + i, p + cells, cells_left);
      run.add(hn::Load(d, cells_left));
    }
  }
  DoubleSum total = DoubleSum::zero();
  total.add(run.s);
  return total.total();
}

HWY_INLINE float GlobalAverageOf(const float* p, std::size_t cells, const float* end, std::size_t memory_streams) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  double sum;
  if (cells < 8 * N) {
    sum = SmallSliceSum(p, cells, end);
  } else {
    DoubleSum total = DoubleSum::zero();
    // The streams' whole vectors (slice_streams: one, two or four), in runs of kFloatRun vectors
    // in float chains, each run's sum then added in double; then the vectors and cells after them.
    const std::size_t streams = slice_streams(cells, N, memory_streams);
    const std::size_t part = cells / (streams * N) * N;
    for (std::size_t i = 0; i < part;) {
      const std::size_t run_end = std::min(part, i + kFloatRun / streams * N);
      if (streams == 4) {
        FloatSum a[4] = {FloatSum::zero(), FloatSum::zero(), FloatSum::zero(), FloatSum::zero()};
        for (; i < run_end; i += N)
          for (std::size_t q = 0; q < 4; ++q) a[q].add(hn::LoadU(d, p + q * part + i));
        total.add(hn::Add(hn::Add(a[0].s, a[1].s), hn::Add(a[2].s, a[3].s)));
      } else if (streams == 1) {
        FloatSum a0 = FloatSum::zero();
        for (; i < run_end; i += N) a0.add(hn::LoadU(d, p + i));
        total.add(a0.s);
      } else {
        FloatSum a0 = FloatSum::zero(), a1 = FloatSum::zero();
        for (; i < run_end; i += N) {
          a0.add(hn::LoadU(d, p + i));
          a1.add(hn::LoadU(d, p + part + i));
        }
        total.add(hn::Add(a0.s, a1.s));
      }
    }
    std::size_t i = streams * part;
    for (; i + N <= cells; i += N) total.add(hn::LoadU(d, p + i));
    sum = total.total();
    for (; i < cells; ++i) sum += p[i];
  }
  if (!std::isfinite(sum)) {  // a float run overflowed, or inf/NaN: redo in double (FloatSum)
    sum = 0.0;
    for (std::size_t k = 0; k < cells; ++k) sum += p[k];
  }
  return static_cast<float>(sum / static_cast<double>(cells));
}

// `count` slices of `cells` floats one after another, reduced by `of`: one call for a thread's run
// of them (for 11x11 planes of 121 cells, a call per slice cost as much as reading it). With four
// memory streams (Intel Xeon), slices of fewer than 64 vectors (read as one or two streams each)
// are taken from the four quarters of the run in turn, so that four streams are read at once (2
// threads, 4 interleaved rounds, global average / max: (256,64,11,11) 0.49 -> 0.28 ms / 0.41 ->
// 0.31 ms; (128,32,26,26) 0.46 -> 0.40 ms / 0.52 -> 0.45 ms). With two (AMD EPYC Zen 5), every
// slice is one stream and they come from the two halves of the run in turn (4 interleaved rounds
// against the four-stream order there: (256,64,11,11) max 234 -> 127 us, average 297 -> 132 us;
// (128,32,26,26) max 431 -> 241 us; (64,64,4096) max 1.87 -> 1.18 ms).
// Units [0, units) in the order of ReduceSlices: unit k of each of `parts` parts in turn.
template <class Unit>
HWY_INLINE void InParts(std::size_t units, std::size_t parts, const Unit& unit) {
  std::size_t k = 0;
  if (parts > 1) {
    const std::size_t part = units / parts;
    for (; k < part; ++k)
      for (std::size_t q = 0; q < parts; ++q) unit(q * part + k);
    k = parts * part;
  }
  for (; k < units; ++k) unit(k);
}
template <class Reduce>
HWY_INLINE void ReduceSlices(const float* p, std::size_t cells, std::size_t count, float* out,
                             std::size_t memory_streams, const Reduce& of) {
  const std::size_t parts = memory_streams <= 2 ? 2 : cells < 64 * hn::Lanes(DF()) ? 4 : 1;
  InParts(count, parts, [&](std::size_t k) HWY_ATTR { out[k] = of(p + k * cells); });
}

#if HWY_TARGET != HWY_SCALAR
// Slices of one to kAcrossMaxVectors vectors (11x11 planes: 121 cells, 7.6 vectors of 16) go in
// groups of N (GlobalMaxAcross, GlobalAverageAcross): each slice's vectors reduced lane by lane,
// then the N slices' vectors across their lanes together (ReduceAcross), one store for the N
// results, where GlobalMaxOf and GlobalAverageOf reduced each slice's lanes on its own (log2 N
// dependent shuffles, a scalar result and branches per slice). Zen 5, 2 threads, 4 interleaved
// rounds of poolnet-bench, (256,64,11,11): max 0.204 -> 0.130 ms, average 0.156 -> 0.119 ms (our
// channels_last: 0.100 and 0.097 ms).
constexpr std::size_t kAcrossMaxVectors = 8;

// v[0..N): returns the vector whose lane s is op over the lanes of v[s], in log2 N rounds that
// each halve the vectors (lanes of v[2i] then of v[2i + 1], even with odd: the order of lanes
// is kept), N - 1 ops and 2 (N - 1) shuffles in all. Clobbers v.
template <class Op>
HWY_INLINE VF ReduceAcross(VF* v, const Op& op) {
  const DF d;
  for (std::size_t width = hn::Lanes(d); width > 1; width /= 2)
    for (std::size_t i = 0; i < width / 2; ++i)
      v[i] = op(hn::ConcatEven(d, v[2 * i + 1], v[2 * i]), hn::ConcatOdd(d, v[2 * i + 1], v[2 * i]));
  return v[0];
}

constexpr std::uintptr_t kGroupPrefetchBytes = 4096;

// The global max of N slices of `cells` floats (N <= cells <= kAcrossMaxVectors N) at each of
// first[0..kStreams), into out[q][0..N): slice s of every group in turn, so that kStreams streams
// are read at once (whole groups one after the other kept one stream busy at a time:
// (256,64,11,11) 0.194 -> 0.145 ms), every line prefetched kGroupPrefetchBytes ahead (0.145 ->
// 0.130 ms; 2 and 8 KiB measured slower in a loop). The lane-wise maxima take each slice's whole
// vectors and its last N cells (some read twice: harmless for a max) in any order, so only the
// sign of a zero maximum can differ from the reference's first maximum: fixed from the slice's
// first zero. NaN, which MAXPS does not carry, shows in a probe (the sum of every vector read); a
// group with one is redone slice by slice (GlobalMaxOf).
template <std::size_t kStreams>
HWY_INLINE void GlobalMaxAcross(const float* const* first, std::size_t cells, float* const* out) {
  const DF d;
  const std::size_t N = hn::Lanes(d);
  VF lane_max[kStreams][HWY_MAX_BYTES / sizeof(float)];
  VF probe[kStreams];
  for (std::size_t q = 0; q < kStreams; ++q) probe[q] = hn::Zero(d);
  for (std::size_t s = 0; s < N; ++s) {
    for (std::size_t q = 0; q < kStreams; ++q) {
      const float* slice = first[q] + s * cells;
      VF a = hn::LoadU(d, slice), b = hn::LoadU(d, slice + cells - N);
      PrefetchAhead(slice, kGroupPrefetchBytes);
      VF sum = hn::Add(a, b);
      for (std::size_t i = N; i + N < cells; i += N) {
        const VF v = hn::LoadU(d, slice + i);
        PrefetchAhead(slice + i, kGroupPrefetchBytes);
        a = hn::Max(a, v);
        sum = hn::Add(sum, v);
      }
      lane_max[q][s] = hn::Max(a, b);
      probe[q] = hn::Add(probe[q], sum);
    }
  }
  for (std::size_t q = 0; q < kStreams; ++q) {
    const float* p = first[q];
    float* o = out[q];
    if (!hn::AllFalse(d, hn::IsNaN(probe[q]))) {
      for (std::size_t s = 0; s < N; ++s) o[s] = GlobalMaxOf(p + s * cells, cells, 1);
      continue;
    }
    const VF max = ReduceAcross(lane_max[q], [](VF x, VF y) HWY_ATTR { return hn::Max(x, y); });
    hn::StoreU(max, d, o);
    if (hn::AllFalse(d, hn::Eq(max, hn::Zero(d)))) continue;
    for (std::size_t s = 0; s < N; ++s) {
      if (o[s] != 0.0f) continue;
      const float* slice = p + s * cells;
      o[s] = *std::find(slice, slice + cells, 0.0f);
    }
  }
}

// The global average of N slices of `cells` floats (as GlobalMaxAcross): each slice's lanes
// summed in float (its last partial vector from the N cells that end it, the lanes already
// added zeroed, so that nothing past the slice is read), the N slices' lane sums then added
// across, and divided in float. A group with a sum that is not finite (a float overflow, or
// inf/NaN in the input) is redone slice by slice in double (GlobalAverageOf).
template <std::size_t kStreams>
HWY_INLINE void GlobalAverageAcross(const float* const* first, std::size_t cells, float* const* out) {
  const DF d;
  const std::size_t N = hn::Lanes(d), whole = cells / N * N;
  const auto seen = hn::FirstN(d, N - (cells - whole));  // lanes of the last N cells already added
  VF lane_sum[kStreams][HWY_MAX_BYTES / sizeof(float)];
  for (std::size_t s = 0; s < N; ++s) {
    for (std::size_t q = 0; q < kStreams; ++q) {
      const float* slice = first[q] + s * cells;
      PrefetchAhead(slice, kGroupPrefetchBytes);
      VF a = hn::LoadU(d, slice), b = hn::Zero(d);
      for (std::size_t i = N; i < whole; i += N) {
        PrefetchAhead(slice + i, kGroupPrefetchBytes);
        if (i / N % 2) {
          b = hn::Add(b, hn::LoadU(d, slice + i));
        } else {
          a = hn::Add(a, hn::LoadU(d, slice + i));
        }
      }
      if (whole < cells) b = hn::Add(b, hn::IfThenZeroElse(seen, hn::LoadU(d, slice + cells - N)));
      lane_sum[q][s] = hn::Add(a, b);
    }
  }
  for (std::size_t q = 0; q < kStreams; ++q) {
    const VF sum = ReduceAcross(lane_sum[q], [](VF x, VF y) HWY_ATTR { return hn::Add(x, y); });
    if (!AllFinite(sum)) {
      for (std::size_t s = 0; s < N; ++s) out[q][s] = GlobalAverageOf(first[q] + s * cells, cells, first[q] + (s + 1) * cells, 1);
      continue;
    }
    hn::StoreU(hn::Div(sum, hn::Set(d, static_cast<float>(cells))), d, out[q]);
  }
}

// Groups [0, groups) of N slices, `kStreams` at a time (group k of each part of the run), by
// across<kStreams>(first, cells, out) (GlobalMaxAcross, GlobalAverageAcross).
template <std::size_t kStreams, class Across>
HWY_INLINE void ReduceGroups(const float* p, std::size_t cells, std::size_t groups, float* out, const Across& across) {
  const std::size_t N = hn::Lanes(DF()), part = groups / kStreams;
  for (std::size_t k = 0; k < part; ++k) {
    const float* first[kStreams];
    float* o[kStreams];
    for (std::size_t q = 0; q < kStreams; ++q) {
      first[q] = p + (q * part + k) * N * cells;
      o[q] = out + (q * part + k) * N;
    }
    across.template operator()<kStreams>(first, cells, o);
  }
  for (std::size_t g = kStreams * part; g < groups; ++g) {
    const float* first[1] = {p + g * N * cells};
    float* o[1] = {out + g * N};
    across.template operator()<1>(first, cells, o);
  }
}
// Whether ReduceGroups takes slices of `cells`.
HWY_INLINE bool SmallSlices(std::size_t cells) {
  const std::size_t N = hn::Lanes(DF());
  return N > 1 && cells >= N && cells <= kAcrossMaxVectors * N;
}
// The groups of `count` small slices (SmallSlices) by `across`, on memory_streams streams; the
// slices after the last whole group by `of`.
template <class Across, class Reduce>
HWY_INLINE void ReduceSmallSlices(const float* p, std::size_t cells, std::size_t count, float* out,
                                  std::size_t memory_streams, const Across& across, const Reduce& of) {
  const std::size_t N = hn::Lanes(DF()), groups = count / N;
  if (memory_streams <= 2) {
    ReduceGroups<2>(p, cells, groups, out, across);
  } else {
    ReduceGroups<4>(p, cells, groups, out, across);
  }
  for (std::size_t k = groups * N; k < count; ++k) out[k] = of(p + k * cells);
}
#endif

void GlobalMaxSlices(const float* p, std::size_t cells, std::size_t count, float* out, std::size_t memory_streams) {
  const CleanUpperOnReturn clean_upper;
  const auto of = [cells, memory_streams](const float* slice) HWY_ATTR {
    return GlobalMaxOf(slice, cells, memory_streams);
  };
#if HWY_TARGET != HWY_SCALAR
  if (SmallSlices(cells)) {
    const auto across = []<std::size_t kStreams>(const float* const* first, std::size_t n, float* const* o) HWY_ATTR {
      GlobalMaxAcross<kStreams>(first, n, o);
    };
    ReduceSmallSlices(p, cells, count, out, memory_streams, across, of);
    return;
  }
#endif
  ReduceSlices(p, cells, count, out, memory_streams, of);
}
void GlobalAverageSlices(const float* p, std::size_t cells, std::size_t count, float* out,
                         std::size_t memory_streams) {
  const CleanUpperOnReturn clean_upper;
  const float* end = p + count * cells;
  const auto of = [cells, end, memory_streams](const float* slice) HWY_ATTR {
    return GlobalAverageOf(slice, cells, end, memory_streams);
  };
#if HWY_TARGET != HWY_SCALAR
  if (SmallSlices(cells)) {
    const auto across = []<std::size_t kStreams>(const float* const* first, std::size_t n, float* const* o) HWY_ATTR {
      GlobalAverageAcross<kStreams>(first, n, o);
    };
    ReduceSmallSlices(p, cells, count, out, memory_streams, across, of);
    return;
  }
#endif
  ReduceSlices(p, cells, count, out, memory_streams, of);
}

HWY_INLINE hn::Mask<DF> Winner(VF v, VF m) {
  return hn::Or(hn::Eq(v, m), hn::And(hn::IsNaN(v), hn::IsNaN(m)));
}
inline bool winner(float v, float m) { return v == m || (v != v && m != m); }

void CountWinners(const float* image, std::size_t cells, std::size_t C, const float* maximum,
                  std::int64_t* counts) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d);
  if (C == 1) {
    const VF m = hn::Set(d, maximum[0]);
    std::size_t i = 0, n = 0;
    for (; i + N <= cells; i += N) n += hn::CountTrue(d, Winner(hn::LoadU(d, image + i), m));
    for (; i < cells; ++i) n += winner(image[i], maximum[0]) ? 1 : 0;
    counts[0] += static_cast<std::int64_t>(n);
    return;
  }
  for (std::size_t s = 0; s < cells; ++s)
    for (std::size_t c = 0; c < C; ++c) counts[c] += winner(image[s * C + c], maximum[c]) ? 1 : 0;
}

void WriteShares(const float* image, std::size_t cells, std::size_t C, const float* maximum,
                 const float* share, float* grad_in) {
  const CleanUpperOnReturn clean_upper;
  const DF d;
  const std::size_t N = hn::Lanes(d);
  if (C == 1) {
    const VF m = hn::Set(d, maximum[0]), w = hn::Set(d, share[0]);
    std::size_t i = 0;
    for (; i + N <= cells; i += N) hn::StoreU(hn::IfThenElseZero(Winner(hn::LoadU(d, image + i), m), w), d, grad_in + i);
    for (; i < cells; ++i) grad_in[i] = winner(image[i], maximum[0]) ? share[0] : 0.0f;
    return;
  }
  for (std::size_t s = 0; s < cells; ++s) {
    const float* x = image + s * C;
    float* g = grad_in + s * C;
    std::size_t c = 0;
    for (; c + N <= C; c += N)
      hn::StoreU(hn::IfThenElseZero(Winner(hn::LoadU(d, x + c), hn::LoadU(d, maximum + c)), hn::LoadU(d, share + c)), d, g + c);
    for (; c < C; ++c) g[c] = winner(x[c], maximum[c]) ? share[c] : 0.0f;
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace poolnet::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace poolnet::simd {

HWY_EXPORT(ForwardRowMax);
HWY_EXPORT(ForwardRowsMaxPair);
HWY_EXPORT(ForwardRowMaxWindow3Chain);
HWY_EXPORT(ForwardRowMaxWindow3Volume);
HWY_EXPORT(ForwardRowAverage);
HWY_EXPORT(ForwardPlaneMax);
HWY_EXPORT(ForwardPlaneAverage);
HWY_EXPORT(ForwardPlanePairsMax);
HWY_EXPORT(ForwardPlanePairsAverage);
HWY_EXPORT(ForwardPairWindowsMax);
HWY_EXPORT(ForwardPairWindowsAverage);
HWY_EXPORT(BackwardPairWindowsMax);
HWY_EXPORT(BackwardPairWindowsAverage);
HWY_EXPORT(Lanes);
HWY_EXPORT(ColsMaxStride2);
HWY_EXPORT(RowsMax);
HWY_EXPORT(ForwardPlaneMaxWindow3Stride2);
HWY_EXPORT(ForwardPlanesShortRowsMax);
HWY_EXPORT(ForwardPlanesShortRowsAverage);
HWY_EXPORT(ForwardPlanesPairedRowsMax);
HWY_EXPORT(ForwardPlanesPairedRowsAverage);
HWY_EXPORT(ForwardPlaneStride1Max);
HWY_EXPORT(ForwardPlaneStride1Average);
HWY_EXPORT(StreamCopy);
HWY_EXPORT(PlanesToChannelsLast);
HWY_EXPORT(ChannelsLastToPlanes);
HWY_EXPORT(PlanesToCellsBytes);
HWY_EXPORT(BackwardPlane);
HWY_EXPORT(BackwardPlanesMaxDirect);
HWY_EXPORT(BackwardRowMax);
HWY_EXPORT(BackwardRowAverage);
HWY_EXPORT(GlobalMaxChannelsLast);
HWY_EXPORT(GlobalAverageChannelsLast);
HWY_EXPORT(GlobalMaxChannelsLastImages);
HWY_EXPORT(GlobalAverageChannelsLastImages);
HWY_EXPORT(GlobalMaxSlices);
HWY_EXPORT(GlobalAverageSlices);
HWY_EXPORT(CountWinners);
HWY_EXPORT(WriteShares);

void forward_row_max(const ForwardRow& args) { HWY_DYNAMIC_DISPATCH(ForwardRowMax)(args); }
bool forward_rows_max_pair(const ForwardRow& a, const ForwardRow& b) {
  return HWY_DYNAMIC_DISPATCH(ForwardRowsMaxPair)(a, b);
}
bool forward_row_max_window3_chain(const ForwardRow& a, Window3RowChain& chain) {
  return HWY_DYNAMIC_DISPATCH(ForwardRowMaxWindow3Chain)(a, chain);
}
bool forward_row_max_window3_volume(const Window3Volume& a, bool& suspect) {
  return HWY_DYNAMIC_DISPATCH(ForwardRowMaxWindow3Volume)(a, suspect);
}
void forward_row_average(const ForwardRow& args) { HWY_DYNAMIC_DISPATCH(ForwardRowAverage)(args); }
std::size_t lanes() { return HWY_DYNAMIC_DISPATCH(Lanes)(); }
bool cols_max_stride2(const ColsStride2& cfg, const float* in, float* scratch, float* out) {
  return HWY_DYNAMIC_DISPATCH(ColsMaxStride2)(cfg, in, scratch, out);
}
void rows_max(const RowsMaxTable& table, const float* col_max, float* out) {
  HWY_DYNAMIC_DISPATCH(RowsMax)(table, col_max, out);
}
void forward_plane_max_window3_stride2(const Window3Stride2Plane& args) {
  HWY_DYNAMIC_DISPATCH(ForwardPlaneMaxWindow3Stride2)(args);
}
void forward_planes_short_rows_max(const ShortRows& table, const float* in, std::size_t planes, const float* end,
                                   float* out, std::uint8_t* suspect) {
  HWY_DYNAMIC_DISPATCH(ForwardPlanesShortRowsMax)(table, in, planes, end, out, suspect);
}
void forward_planes_short_rows_average(const ShortRows& table, const float* in, std::size_t planes, const float* end,
                                       float* out, std::uint8_t* suspect) {
  HWY_DYNAMIC_DISPATCH(ForwardPlanesShortRowsAverage)(table, in, planes, end, out, suspect);
}
void forward_planes_paired_rows_max(const PairedRows& table, const float* const* in, float* const* out,
                                    std::uint8_t* const* argmax, std::size_t planes, const float* end,
                                    std::size_t prefetch_bytes, std::uint8_t* suspect) {
  HWY_DYNAMIC_DISPATCH(ForwardPlanesPairedRowsMax)(table, in, out, argmax, planes, end, prefetch_bytes, suspect);
}
void forward_planes_paired_rows_average(const PairedRows& table, const float* const* in, float* const* out,
                                        std::size_t planes, const float* end, std::size_t prefetch_bytes,
                                        std::uint8_t* suspect) {
  HWY_DYNAMIC_DISPATCH(ForwardPlanesPairedRowsAverage)(table, in, out, planes, end, prefetch_bytes, suspect);
}
bool forward_plane_stride1_max(const Stride1Plane& table, const float* plane, const float* end, float* scratch,
                               float* out) {
  return HWY_DYNAMIC_DISPATCH(ForwardPlaneStride1Max)(table, plane, end, scratch, out);
}
bool forward_plane_stride1_average(const Stride1Plane& table, const float* plane, float* scratch, float* out) {
  return HWY_DYNAMIC_DISPATCH(ForwardPlaneStride1Average)(table, plane, scratch, out);
}
void stream_copy(const float* from, float* to, std::size_t n) { HWY_DYNAMIC_DISPATCH(StreamCopy)(from, to, n); }
void planes_to_channels_last(const float* first, std::size_t cells, std::size_t plane_stride, float* out,
                             std::ptrdiff_t prefetch, std::size_t out_channels) {
  HWY_DYNAMIC_DISPATCH(PlanesToChannelsLast)(first, cells, plane_stride, out, prefetch,
                                             out_channels ? out_channels : lanes());
}
void planes_to_cells_bytes(const std::uint8_t* first, std::size_t cells, std::size_t plane_stride,
                           std::uint8_t* out) {
  HWY_DYNAMIC_DISPATCH(PlanesToCellsBytes)(first, cells, plane_stride, out);
}
void channels_last_to_planes(const float* in, std::size_t cells, float* first, std::size_t plane_stride,
                             bool stream, std::size_t in_channels) {
  HWY_DYNAMIC_DISPATCH(ChannelsLastToPlanes)(in, cells, first, plane_stride, stream,
                                             in_channels ? in_channels : lanes());
}
void backward_plane(const ReversePlaneTable& table, const float* grad_out, const std::uint8_t* argmax,
                    const float* count, std::size_t outputs, float* values, float* indices, float* grad_in) {
  HWY_DYNAMIC_DISPATCH(BackwardPlane)(table, grad_out, argmax, count, outputs, values, indices, grad_in);
}
void backward_planes_max_direct(const ReversePlaneTable& table, const float* grad_out, const std::uint8_t* argmax,
                                std::size_t outputs, std::size_t planes, float* grad_in) {
  HWY_DYNAMIC_DISPATCH(BackwardPlanesMaxDirect)(table, grad_out, argmax, outputs, planes, grad_in);
}
void forward_plane_max(const PlaneTable& table, const float* plane, float* out, std::uint8_t* argmax) {
  HWY_DYNAMIC_DISPATCH(ForwardPlaneMax)(table, plane, out, argmax);
}
void forward_plane_pairs_max(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                             std::uint8_t* argmax, float* pair_max, float* pair_idx) {
  HWY_DYNAMIC_DISPATCH(ForwardPlanePairsMax)(plane, rows_out, cols_in, out, argmax, pair_max, pair_idx);
}
void forward_plane_pairs_average(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                                 float* pair_sum, float* pair_cells) {
  HWY_DYNAMIC_DISPATCH(ForwardPlanePairsAverage)(plane, rows_out, cols_in, out, pair_sum, pair_cells);
}
void forward_pair_windows_max(const PairWindows& args) { HWY_DYNAMIC_DISPATCH(ForwardPairWindowsMax)(args); }
void forward_pair_windows_average(const PairWindows& args) { HWY_DYNAMIC_DISPATCH(ForwardPairWindowsAverage)(args); }
void backward_pair_windows_max(const PairWindowsBackward& args) { HWY_DYNAMIC_DISPATCH(BackwardPairWindowsMax)(args); }
void backward_pair_windows_average(const PairWindowsBackward& args) {
  HWY_DYNAMIC_DISPATCH(BackwardPairWindowsAverage)(args);
}
void forward_plane_average(const PlaneTable& table, const float* plane, float* out) {
  HWY_DYNAMIC_DISPATCH(ForwardPlaneAverage)(table, plane, out);
}
void backward_row_max(const BackwardRow& args) { HWY_DYNAMIC_DISPATCH(BackwardRowMax)(args); }
void backward_row_average(const BackwardRow& args) { HWY_DYNAMIC_DISPATCH(BackwardRowAverage)(args); }
void global_max_channels_last(const float* image, std::size_t cells, std::size_t channels, float* out,
                              float* scratch, std::size_t memory_streams) {
  HWY_DYNAMIC_DISPATCH(GlobalMaxChannelsLast)(image, cells, channels, out, scratch, memory_streams);
}
void global_average_channels_last(const float* image, std::size_t cells, std::size_t channels, float* out,
                                  double* scratch, std::size_t memory_streams) {
  HWY_DYNAMIC_DISPATCH(GlobalAverageChannelsLast)(image, cells, channels, out, scratch, memory_streams);
}
void global_max_channels_last_images(const float* first, std::size_t count, std::size_t cells, std::size_t channels,
                                     float* out, float* scratch) {
  HWY_DYNAMIC_DISPATCH(GlobalMaxChannelsLastImages)(first, count, cells, channels, out, scratch);
}
void global_average_channels_last_images(const float* first, std::size_t count, std::size_t cells,
                                         std::size_t channels, float* out, double* scratch) {
  HWY_DYNAMIC_DISPATCH(GlobalAverageChannelsLastImages)(first, count, cells, channels, out, scratch);
}
void global_max_slices(const float* slices, std::size_t cells, std::size_t count, float* out,
                       std::size_t memory_streams) {
  HWY_DYNAMIC_DISPATCH(GlobalMaxSlices)(slices, cells, count, out, memory_streams);
}
void global_average_slices(const float* slices, std::size_t cells, std::size_t count, float* out,
                           std::size_t memory_streams) {
  HWY_DYNAMIC_DISPATCH(GlobalAverageSlices)(slices, cells, count, out, memory_streams);
}
void count_winners(const float* image, std::size_t cells, std::size_t channels, const float* maximum,
                   std::int64_t* counts) {
  HWY_DYNAMIC_DISPATCH(CountWinners)(image, cells, channels, maximum, counts);
}
void write_shares(const float* image, std::size_t cells, std::size_t channels, const float* maximum,
                  const float* share, float* grad_in) {
  HWY_DYNAMIC_DISPATCH(WriteShares)(image, cells, channels, maximum, share, grad_in);
}

const char* target_name() {
  // The best target both compiled in and supported: what HWY_DYNAMIC_DISPATCH picks.
  const std::int64_t targets = hwy::SupportedTargets() & HWY_TARGETS;
  return hwy::TargetName(targets & -targets);
}

}  // namespace poolnet::simd
#endif  // HWY_ONCE
