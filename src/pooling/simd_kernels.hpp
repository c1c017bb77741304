// SIMD microkernels of the fast pooling backend (src/pooling/simd_kernels.cpp), compiled once per
// instruction set through Google Highway and chosen at run time for the CPU (HWY_DYNAMIC_DISPATCH):
// one binary runs AVX-512 code on AVX-512 machines, AVX2 code on AVX2 machines, and so on.
//
// XNNPACK's split: fast.cpp (the driver) decides the partition of work, threads and geometry;
// a microkernel loops over one row of output (or one reduction) and knows nothing else.
// Every kernel keeps the reference's rules exactly (SEMANTICS.md): max takes the first maximum in
// row-major window order and propagates NaN (output: the canonical quiet NaN, as the reference),
// in SIMD bodies and scalar tails alike. Averages sum in float32 in window order, as TensorFlow
// does, within 1e-6 of the reference's double sums; a non-finite float sum is redone in double, so
// overflow and special values give the reference's bits (scalar tails sum in double).
#pragma once

#include <cstddef>
#include <cstdint>

namespace poolnet::simd {

// One spatial axis (the innermost, "cols") of a plan.
struct Axis {
  std::int64_t in, window, stride, out, pad_before;
};

// Forward of one output row (fixed batch item, depth and row; all cols and channels).
// `rows[r]` points at the first col of the r-th real input row of the window (in window order),
// `row_ids[r]` is that row's first cell index in the unclipped window ((kd * KH + kh) * KW).
// channels == 1 is the channels_first case (vectorized along the cols); otherwise the cols are
// `channels` floats apart and the kernels vectorize across channels.
struct ForwardRow {
  const float* const* rows;
  const std::int32_t* row_ids;
  std::size_t nrows;
  Axis cols;
  std::size_t channels;
  float* out;             // cols.out * channels floats
  std::uint8_t* argmax;   // max only, optional: cols.out * channels window cell indices
  // channels_first: floats readable from rows[nrows - 1] (to the end of the input), so that a
  // row's last, partial vector may load whole vectors and keep only its lanes.
  std::int64_t readable;
  // Non-temporal stores (the output is too large to be read back from cache). The caller fences
  // them (hwy::FlushStream) once before anyone reads the output.
  bool stream = false;
};
void forward_row_max(const ForwardRow& args);
void forward_row_average(const ForwardRow& args);
// Two output rows of one plan at once (channels_last max without argmax, windows of 3 cols with
// stride 2, channels a multiple of lanes()): the windows of both in one loop, for more input
// streams in flight. Returns false, having done nothing, where it does not apply (the caller then
// does the rows one by one).
bool forward_rows_max_pair(const ForwardRow& a, const ForwardRow& b);
// Consecutive output rows of one channels_last image whose windows of 3 cols with stride 2
// share a row (3x3/2: the last row of one is the first of the next), max without argmax: the
// shared row's window maxima, computed with one output row, are kept in `top` for the next,
// which then reads two rows of input instead of three. Returns false, having done nothing, where
// it does not apply (forward_row_max then does the row; the next row must not use `top`).
struct Window3RowChain {
  float* top;                   // cols.out * channels floats, per thread
  bool use_top;                 // in: rows[0]'s window maxima are in `top`
  bool save_bottom;             // in: put rows[nrows - 1]'s window maxima into `top`
  bool top_suspect;             // in (with use_top): the row in `top` may hold a NaN
  bool bottom_suspect = false;  // out (with save_bottom): the saved row may hold a NaN
};
bool forward_row_max_window3_chain(const ForwardRow& a, Window3RowChain& chain);

// channels_last max without argmax over 3D windows of 3 cols with stride 2 whose rows and depths
// consecutive output rows share (3x3x3/2): one output row, reduced over the cols, then the rows,
// then the depths (window order: the first maximum's bits stay the reference's), each row's
// and each depth's maxima reduced once. The window maxima (over the cols) of each depth's last
// row wait in `rows_top[depth]` for output row oh + 1, whose window begins with that row; the
// maxima (over rows and cols) of the last depth wait in `depth_top` for output row (od + 1, oh).
// Cells are only probed for NaN: `suspect` turns true when a NaN may be among the cells this call
// read, and the caller redoes, exactly, every row that used what this one cached.
struct Window3Volume {
  const float* const* rows;  // depths * heights input rows (their first col), in window order
  std::size_t depths, heights;
  Axis cols;
  std::size_t channels;
  float* out;
  bool stream;
  float* const* rows_top;  // per depth of the window: cols.out * channels floats
  bool use_rows_top;       // each computed depth's first row's window maxima are in rows_top
  bool save_rows_top;      // put each computed depth's last row's window maxima there
  float* depth_top;        // cols.out * channels floats
  bool use_depth_top;      // the first depth's maxima are in depth_top (it is not computed)
  bool save_depth_top;     // put the last depth's maxima there
};
// False (nothing done) where the cols are not 3/2 windows with two or more inside the row, or
// the channels not whole vectors.
bool forward_row_max_window3_volume(const Window3Volume& a, bool& suspect);

// channels_first planes whose rows are too short for vectors along the cols (a 26x26 plane has 13
// output cols, fewer than 16 AVX-512 lanes): the lanes run over all outputs of the plane instead,
// gathering each window cell. The table is the same for every plane of a plan; the driver builds
// it once per call (PlaneTableStorage in fast.cpp) for lanes() lanes.
struct PlaneTable {
  std::size_t outputs;        // per plane
  std::size_t cells;          // of the full window
  const std::int32_t* index;  // [group][cell][lane]: input offset in the plane (a real cell)
  const std::int32_t* real;   // [group][cell][lane]: -1 where the cell is real, 0 padding or no output
  const float* count;         // [group][lane]: real cells of the window (1 for lanes past the end)
};
std::size_t lanes();  // float lanes of the dispatched target
void forward_plane_max(const PlaneTable& table, const float* plane, float* out, std::uint8_t* argmax);
void forward_plane_average(const PlaneTable& table, const float* plane, float* out);

// Max pooling 2x2/2 without padding of one channels_first plane with an even number of cols (`cols_in`)
// and rows_out * 2 <= its rows, through whole vectors (pair maxima over the flattened plane, then
// row pairs): for planes whose rows are too short for the row kernels. pair_max (and, with
// argmax, pair_idx) are scratch of pair_scratch_floats(rows_out, cols_in, lanes()) floats.
void forward_plane_pairs_max(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                             std::uint8_t* argmax, float* pair_max, float* pair_idx);
// The same for average pooling (sums in the reference's window order): pair_sum is scratch of
// pair_scratch_floats(...) floats, pair_cells of twice that.
void forward_plane_pairs_average(const float* plane, std::size_t rows_out, std::size_t cols_in, float* out,
                                 float* pair_sum, float* pair_cells);
inline std::size_t pair_scratch_floats(std::size_t rows_out, std::size_t cols_in, std::size_t lanes) {
  return rows_out * cols_in + 2 * lanes;
}

// Pooling 2x2x2, 2x2 or 2 (1D) with stride equal to the window and no padding (2x2/2 'valid',
// the most common pooling there is): `rows` output rows, each from the window rows at offsets[0 ..
// nrows) (window order, all real; nrows 4, 2 or 1) floats from its base, the bases `row_step` floats apart from
// `in` on; output row i is out[i * cols_out * channels ..]. channels == 1: channels_first rows
// long enough for vectors along the cols; else channels_last, channels a multiple of lanes()
// (the backward then uses no stage). A
// tight loop per output row: per window row and vector of outputs, one deinterleaving load
// (channels_first) or two loads, and no per-row setup in the driver. Reads nothing at or past
// `end`.
struct PairGeometry {
  std::int64_t offsets[4] = {};
  std::size_t nrows = 0;  // 1, 2 or 4
  std::int64_t row_step = 0;
  std::size_t cols_out = 0;
  std::size_t channels = 1;
};
struct PairWindows : PairGeometry {
  const float* in = nullptr;
  std::size_t rows = 0;
  const float* end = nullptr;
  float* out = nullptr;
  std::uint8_t* argmax = nullptr;  // max only, optional
  bool stream = false;             // non-temporal stores of whole aligned vectors, fenced by the caller
};
void forward_pair_windows_max(const PairWindows& args);
void forward_pair_windows_average(const PairWindows& args);
// Their backward: output row i's upstream gradient (and argmax) at grad_out (argmax) + i *
// cols_out * channels scatter into its window rows (grad_in + i * row_step + offsets[r]),
// writing every col of them once (the gradient, or 0; zeros at col 2 * cols_out when cols_in is
// odd). channels_first: a window's rows of one depth must be adjacent (offsets[2q + 1] =
// offsets[2q] + cols_in). Rows of grad_in in no window are the caller's. Reads nothing at or
// past grad_out_end (argmax_end).
struct PairWindowsBackward : PairGeometry {
  const float* grad_out = nullptr;
  const float* grad_out_end = nullptr;
  const std::uint8_t* argmax = nullptr;  // max only
  const std::uint8_t* argmax_end = nullptr;
  std::size_t rows = 0, cols_in = 0;
  float* grad_in = nullptr;
  float* stage = nullptr;  // channels_first: pair_windows_stage_floats(cols_in, lanes()) floats of scratch
  bool stream = false;     // non-temporal stores of whole aligned vectors, fenced by the caller
};
inline std::size_t pair_windows_stage_floats(std::size_t cols_in, std::size_t lanes) {
  return 2 * cols_in + 2 * lanes;
}
void backward_pair_windows_max(const PairWindowsBackward& args);
void backward_pair_windows_average(const PairWindowsBackward& args);

// Separable max pooling (no argmax) of channels_first planes pooled with stride 2 along an even
// number of cols. Pass 1, cols_max_stride2: every input row of a slice to the maxima along the
// cols of its outputs' windows (half_cols = cols_in / 2 values per row, of which the first
// cols_out are real). Pass 2, rows_max: the window's rows of those to one output row. Each input
// cell is deinterleaved once and shared by every window that covers it, where the row kernels
// load it once per window cell. Exact: with no NaN, the first maximum of a window in row-major
// order is the first of its rows' first maxima, taken in order.
inline constexpr std::int64_t kColsMaxWindow = 16;  // largest window along the cols
struct ColsStride2 {
  std::size_t rows;       // input rows per call (one depth slice of a plane)
  std::size_t half_cols;  // cols_in / 2
  std::int64_t window;    // along the cols
  std::int64_t pad_before;
  // Per window term t (cell 2 * col + t - pad_before of its row): null when that cell always lies
  // in the row, else mask_bytes bytes per vector of pass-1 outputs, bit l set when lane l's cell
  // does (LoadMaskBits order).
  const std::uint8_t* const* lane_masks;
  std::size_t mask_bytes;
};
// Pairs of margin on each side of the even and odd cells in the scratch.
inline std::size_t cols_stride2_margin(std::int64_t window, std::size_t lanes) {
  return lanes + static_cast<std::size_t>(window);
}
inline std::size_t cols_stride2_scratch_floats(const ColsStride2& cfg, std::size_t lanes) {
  return 2 * (cfg.rows * cfg.half_cols + 2 * cols_stride2_margin(cfg.window, lanes));
}
// Returns false, with `out` undefined, when the slice holds a NaN: the caller then takes the row
// kernels, which propagate it. out: rows * half_cols floats rounded up to whole vectors.
bool cols_max_stride2(const ColsStride2& cfg, const float* in, float* scratch, float* out);
// Pass 2 for all output rows of a plane (od, oh in order, `cols` = cols_out floats each): output
// row r is the first maximum, col by col, of the col-max rows at offsets[first[r]] ..
// offsets[first[r + 1] - 1] in window order. The table is the same for every plane of a plan.
// Reads whole vectors (cols rounded up) from the col-max rows.
struct RowsMaxTable {
  std::size_t out_rows;
  std::size_t cols;
  const std::uint32_t* first;    // out_rows + 1 entries
  const std::uint32_t* offsets;  // floats into the plane's col maxima
};
void rows_max(const RowsMaxTable& table, const float* col_max, float* out);
// Max pooling (no argmax) of one channels_first plane with 3x3 windows, stride 2 and no padding
// before ('valid', or 'same' on an even number of rows and cols). Each input row is reduced
// along the cols once, deinterleaved in registers, and the reductions of the window's three rows
// are combined while they are in registers (the shared row through `top`): where the separable
// pass stores the even and odd cells and a plane of col maxima, this reads the input once and
// writes only the output. An output row whose input rows may hold a NaN gets suspect[r] set (its
// output is undefined) and the caller redoes it exactly.
struct Window3Stride2Plane {
  const float* plane;
  std::int64_t rows_in;
  std::size_t cols_in;  // even
  std::int64_t rows_out;
  std::size_t cols_out;       // cols_in / 2, or one less ('valid')
  const float* readable_end;  // reads stop here (the input's end)
  float* top;                 // window3_stride2_top_floats(cols_out, lanes()) floats of scratch
  float* out;                 // rows_out * cols_out
  std::uint8_t* suspect;      // rows_out flags
};
inline std::size_t window3_stride2_top_floats(std::size_t cols_out, std::size_t lanes) {
  return (cols_out + lanes - 1) / lanes * lanes;
}
void forward_plane_max_window3_stride2(const Window3Stride2Plane& args);

// channels_first 1D/2D planes whose rows fit in one vector (cols_in <= lanes(): 11x11, 7x7):
// each input row is one masked load, and the cells of the windows along the cols are picked from
// it in registers by table lookups (one permute per window col), where the general path
// transposes groups of planes to channels_last and back. Any window, stride and padding. The
// table is the same for every plane of a plan (ShortRowsStorage in fast.cpp).
inline constexpr std::size_t kShortRowsMaxRows = 32;    // rows_in
inline constexpr std::size_t kShortRowsMaxWindow = 16;  // window_cols
struct ShortRows {
  std::size_t cols_in, cols_out, rows_in, rows_out, window_cols;
  const std::uint32_t* row_begin;  // [rows_out]: the first real input row of the window
  const std::uint32_t* row_end;    // [rows_out]: one past its last
  // [t][lane]: the col of window term t in lane `lane`'s window; where that term is padding (or
  // the lane is past cols_out), the window's first real col.
  const std::int32_t* col_cell;
  const std::int32_t* col_real;  // [t][lane]: -1 where term t is a real cell, else 0
  const float* count;            // [oh][lane]: real cells of the window (1 past cols_out)
  const float* reciprocal;       // [oh][lane]: 1 / count
  const std::uint8_t* reciprocal_exact;  // [oh]: every count of the row is a power of two
};
// `planes` consecutive planes (rows_in * cols_in floats each) from `in` on, rows_out * cols_out
// outputs each from `out` on. Max takes the first maximum in row-major window order (along the
// cols first, then the rows in order); average sums in float in window order and divides once.
// suspect[p] is set, with plane p's output undefined, when the plane may hold a NaN (max) or a
// mean is not finite (average): the caller redoes it exactly. Reads nothing at or past `end`.
void forward_planes_short_rows_max(const ShortRows& table, const float* in, std::size_t planes, const float* end,
                                   float* out, std::uint8_t* suspect);
void forward_planes_short_rows_average(const ShortRows& table, const float* in, std::size_t planes, const float* end,
                                       float* out, std::uint8_t* suspect);

// channels_first 1D/2D planes pooled with a stride of 2 or more along rows of up to two vectors,
// one vector of outputs at a time, each window row of it one pair of input vectors whose window
// cols a two-vector permute picks: rows that fit in one vector into output rows of at most half
// a vector (11x11 2x2/2, 3x3/2) go two output rows per vector, window row t of both one pair (one
// input row per half); rows of up to two vectors (26x26) one output row per vector, the pair its
// row's two vectors.
inline constexpr std::size_t kPairedRowsMaxWindow = 8;  // window_cols
struct PairedRows {
  std::size_t plane_floats;        // input floats per plane
  std::size_t outputs;             // outputs per plane
  std::size_t vectors;             // vectors of outputs per plane
  std::size_t outputs_per_vector;  // of every vector but maybe the last
  std::size_t window_rows, window_cols;
  std::size_t lanes_a, lanes_b;    // the cells of each input vector of a pair (other lanes load as 0)
  // [v][t][2]: the plane offsets of window row t's pair of input vectors for output vector v; -1
  // where that window row is padding (average only: max reads the window's first real row there
  // again, which changes nothing). The second output row of an odd last pair reads the first's.
  const std::int32_t* loads;
  // [k][lane]: the lane, in the pair (lanes of the first vector, then lanes() + those of the
  // second), of window col k for the output in `lane`; where col k is padding, the window's
  // first real col.
  const std::int32_t* col_cell;
  const std::int32_t* col_real;          // [k][lane]: -1 where col k is a real cell, else 0
  // Max's argmax: [k][lane]: window col k's index in the window row (where k is padding, the
  // first real col's); [v][t][lane]: window row t's first index in the window (t * window_cols;
  // where t is padding, the first real row's).
  const std::int32_t* col_index;
  const std::int32_t* row_base;
  const float* count;                    // [v][lane]: real cells of the window (1 past the vector's outputs)
  const float* reciprocal;               // [v][lane]: 1 / count
  const std::uint8_t* reciprocal_exact;  // [v]: every count of the vector is a power of two
};
// Planes in[i] (outputs to out[i]), i < planes, each prefetched `prefetch_bytes` ahead (0: none).
// Max takes the first maximum in row-major window order (along the cols first, then the rows in
// order), and its index in the window into argmax[i] where argmax is not null (the training
// forward); average sums in float in window order and divides once. suspect[i] as for
// ShortRows. Reads nothing at or past `end`.
void forward_planes_paired_rows_max(const PairedRows& table, const float* const* in, float* const* out,
                                    std::uint8_t* const* argmax, std::size_t planes, const float* end,
                                    std::size_t prefetch_bytes, std::uint8_t* suspect);
void forward_planes_paired_rows_average(const PairedRows& table, const float* const* in, float* const* out,
                                        std::size_t planes, const float* end, std::size_t prefetch_bytes,
                                        std::uint8_t* suspect);

// channels_first 1D/2D planes pooled with stride 1 along cols too long for one vector (28x28,
// 56x56 3x3/1 'same'): each input row is copied once into the scratch between margins of padding,
// so that every window col of a vector of outputs is one unaligned load. Max reads the vectors
// whose windows stay inside the row straight from the input and the others from the copy,
// reduces each row along the cols once (into the scratch), then the window's rows in order;
// average sums each window in window order from a padded copy of the whole plane (margins of 0)
// and divides once by the real cells (rows times col_count).
struct Stride1Plane {
  std::size_t rows_in, cols_in, rows_out, cols_out, window_cols;
  std::size_t pad_before;          // cols
  std::size_t padded_row_floats;   // stride1_padded_row_floats(...)
  const std::uint32_t* row_begin;  // [rows_out]: the first real input row of the window
  const std::uint32_t* row_end;    // [rows_out]: one past its last
  const float* col_count;          // [cols_out rounded up to whole vectors]: real cols (1 past cols_out)
};
inline std::size_t stride1_padded_row_floats(std::size_t cols_out, std::size_t window_cols, std::size_t lanes) {
  return (cols_out + lanes - 1) / lanes * lanes + window_cols - 1 + lanes;
}
// Scratch floats per thread: max, one padded row and the plane's row maxima; average, the padded plane.
inline std::size_t stride1_scratch_floats(std::size_t rows_in, std::size_t cols_out, std::size_t window_cols,
                                          bool is_max, std::size_t lanes) {
  const std::size_t whole_cols = (cols_out + lanes - 1) / lanes * lanes;
  const std::size_t padded = stride1_padded_row_floats(cols_out, window_cols, lanes);
  return is_max ? padded + rows_in * whole_cols : rows_in * padded;
}
// Return false, with `out` undefined, when the plane may hold a NaN (max) or a mean is not finite
// (average): the caller redoes it exactly. Neither reads past the plane; max's whole-vector
// loads stop before `end` (the input's).
bool forward_plane_stride1_max(const Stride1Plane& table, const float* plane, const float* end, float* scratch,
                               float* out);
bool forward_plane_stride1_average(const Stride1Plane& table, const float* plane, float* scratch, float* out);

// Copies n floats with non-temporal stores (`to` aligned to a vector, n a multiple of lanes());
// the caller fences them (hwy::FlushStream).
void stream_copy(const float* from, float* to, std::size_t n);

// lanes() channels_first planes (`plane_stride` floats apart, `cells` each) to channels [0,
// lanes()) of a channels_last image with `channels` channels (out[cell * channels + plane]; 0:
// lanes()), and back. planes_to_channels_last also prefetches the planes `prefetch` floats further
// on (0: none); channels_last_to_planes may write with non-temporal stores (`stream`; the caller
// fences them).
void planes_to_channels_last(const float* first, std::size_t cells, std::size_t plane_stride, float* out,
                             std::ptrdiff_t prefetch, std::size_t channels = 0);
void channels_last_to_planes(const float* in, std::size_t cells, float* first, std::size_t plane_stride,
                             bool stream = false, std::size_t channels = 0);
// The same for bytes (a group of planes' saved argmax), one way only.
void planes_to_cells_bytes(const std::uint8_t* first, std::size_t cells, std::size_t plane_stride,
                           std::uint8_t* out);

// Backward of a small channels_first plane whose windows do not overlap: each input cell gathers
// the gradient of the one output whose window holds it. values: per output, the upstream gradient
// (max) or its share (average); indices (max only): the saved argmax as floats.
struct ReversePlaneTable {
  std::size_t inputs;          // per plane
  const std::int32_t* output;  // [input]: the output whose window holds it (0 when none)
  // [input / lanes]: the first output the vector of inputs takes from, when all lie within two
  // vectors of outputs (else -1); [input]: that output relative to it.
  const std::int32_t* base;
  const std::int32_t* relative;
  // [input]: its index in that window, -1 when no window holds it; the furthest a vector's
  // permutes read past the plane's first output (the largest base + 2 lanes).
  const std::int32_t* code;
  std::size_t reach;
};
// One plane's backward from its `outputs` upstream gradients grad_out and (max) argmax, or
// (average, argmax null) the window cell counts `count` per output. values and indices are
// scratch of `outputs` floats that must be readable two vectors past the end.
void backward_plane(const ReversePlaneTable& table, const float* grad_out, const std::uint8_t* argmax,
                    const float* count, std::size_t outputs, float* values, float* indices, float* grad_in);
// Max backward of `planes` consecutive planes of `outputs` outputs straight from grad_out and
// argmax, for tables whose every vector of inputs has a base: reads up to table.reach floats and
// bytes from each plane's first output on.
void backward_planes_max_direct(const ReversePlaneTable& table, const float* grad_out, const std::uint8_t* argmax,
                                std::size_t outputs, std::size_t planes, float* grad_in);

// Backward of one output row into one input row it covers. `row_id` is the input row's first cell
// index in the unclipped window; `real_rows` the number of real input rows of the window (for the
// average's count). accumulate = false: the windows along cols do not overlap and the kernel
// writes every col of the input row (window cells and the gaps between windows, as zeros);
// accumulate = true: it adds into window cells only.
struct BackwardRow {
  const float* grad_out;       // cols.out * channels floats
  const std::uint8_t* argmax;  // max only: the saved window cell indices
  std::int32_t row_id;
  std::int64_t real_rows;
  Axis cols;
  std::size_t channels;
  float* grad_in;  // cols.in * channels floats
  bool accumulate;
  bool stream = false;  // non-temporal stores (writing only), fenced by the caller
};
void backward_row_max(const BackwardRow& args);
void backward_row_average(const BackwardRow& args);

// Global pooling of one channels_last image (cells x channels floats) into `out` (channels),
// reading `memory_streams` parts of it side by side (2, or kGlobalStreams for any other value).
// The max needs `scratch` of kGlobalStreams * channels floats, the average of kGlobalStreams *
// channels doubles.
inline constexpr std::size_t kGlobalStreams = 4;
void global_max_channels_last(const float* image, std::size_t cells, std::size_t channels, float* out,
                              float* scratch, std::size_t memory_streams);
void global_average_channels_last(const float* image, std::size_t cells, std::size_t channels, float* out,
                                  double* scratch, std::size_t memory_streams);
// The same for `count` consecutive images (out: count x channels), two at a time, each read in
// order as one stream (image k with image k + count / 2): for small images on two memory streams.
// Channels a multiple of lanes(); scratch as above.
void global_max_channels_last_images(const float* first, std::size_t count, std::size_t cells, std::size_t channels,
                                     float* out, float* scratch);
void global_average_channels_last_images(const float* first, std::size_t count, std::size_t cells,
                                         std::size_t channels, float* out, double* scratch);
// Global pooling of `count` contiguous channels_first slices of `cells` floats, one output each,
// reading `memory_streams` streams of input at once (4, or 2; the results do not depend on it but
// for the averages' rounding).
void global_max_slices(const float* slices, std::size_t cells, std::size_t count, float* out,
                       std::size_t memory_streams);
void global_average_slices(const float* slices, std::size_t cells, std::size_t count, float* out,
                           std::size_t memory_streams);

// Global max backward (the gradient is split evenly among the cells equal to the maximum, or among
// the NaN cells when the maximum is NaN). `maximum` holds one value per channel (channels == 1:
// one contiguous slice). count_winners adds the number of winners per channel to `counts`;
// write_shares writes share[c] to the winners and 0 elsewhere.
void count_winners(const float* image, std::size_t cells, std::size_t channels, const float* maximum,
                   std::int64_t* counts);
void write_shares(const float* image, std::size_t cells, std::size_t channels, const float* maximum,
                  const float* share, float* grad_in);

// The instruction set the dispatcher chose on this CPU (e.g. "AVX3"), for the benchmark's header.
const char* target_name();

}  // namespace poolnet::simd
