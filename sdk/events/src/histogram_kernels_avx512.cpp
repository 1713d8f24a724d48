// AVX-512 (F and DQ) default-edge kernel: 16 values per step. Slots are computed, not looked
// up: k' = log_1.1(|x| / 1e-12) from getexp (the exponent) plus a straight line in getmant
// (the mantissa in [1, 2)) whose two coefficients come from a 32-cell table by register
// permutes (table gathers cost ~40 cycles a block on the machine this was tuned on);
// floor(k') is the bin unless k' is near an integer, and those few values (and infinities,
// NaN, and a -0.0 rounded from a double) take the exact scalar lookup. The statistics run in double on two 8-lane
// halves, masked to the finite values. The counters are bumped one by one from the stored
// slots (a scatter would serialise on repeated slots), one batch behind the vector work.
// Same lanes and operations as the portable kernel, so counts and statistics are
// bit-identical to it.
#include "histogram_pipeline.h"
#include "trainscope/detail/histogram_kernels.h"

#if defined(__x86_64__)
// GCC 12 warns "__Y may be used uninitialized" inside its own AVX-512 headers when they
// are inlined into target("avx512f") functions (GCC bug 105593); the header is not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <limits>

namespace trainscope::detail {
namespace {

#define TS_AVX512 __attribute__((target("avx512f,avx512dq,avx2,fma")))

// Double-precision statistics of 8 lanes (for double input: min and max too).
struct Acc {
  __m512d min, max, sum, sq;
};

TS_AVX512 inline Acc load_acc(const StatLanes& l, int base) {
  return {_mm512_load_pd(l.min + base), _mm512_load_pd(l.max + base), _mm512_load_pd(l.sum + base),
          _mm512_load_pd(l.sum_squares + base)};
}

TS_AVX512 inline void store_acc(const Acc& a, StatLanes& l, int base) {
  _mm512_store_pd(l.min + base, a.min);
  _mm512_store_pd(l.max + base, a.max);
  _mm512_store_pd(l.sum + base, a.sum);
  _mm512_store_pd(l.sum_squares + base, a.sq);
}

TS_AVX512 inline void add_sums(Acc& a, __mmask8 finite, __m512d x) {
  a.sum = _mm512_mask_add_pd(a.sum, finite, a.sum, x);
  a.sq = _mm512_mask_add_pd(a.sq, finite, a.sq, _mm512_mul_pd(x, x));
}

// min/max: a < b ? a : b (max alike), i.e. the old value stays on ties, as in the portable
// kernel; masked lanes (non-finite values) keep the old value.
TS_AVX512 inline void add_min_max(Acc& a, __mmask8 finite, __m512d x) {
  a.min = _mm512_mask_min_pd(a.min, finite, x, a.min);
  a.max = _mm512_mask_max_pd(a.max, finite, x, a.max);
}

// Slots are counted one batch behind (histogram_pipeline.h), 16 bits each.
using Pipeline = SlotPipeline<uint16_t>;
constexpr size_t kBatch = Pipeline::kBatch;

// Replaces the slots of the lanes in `exact` by the exact lookup (rare: about 1 value in 250
// on normal data). The slots are fixed in the buffer, not in the vector register: reloading
// a vector over fresh scalar stores would stall on store forwarding.
template <typename T, typename Slot>
inline void fix_exact(const TensorflowLookup& lookup, const T* v, unsigned exact, Slot* slots) {
  while (exact != 0) {
    const int j = __builtin_ctz(exact);
    slots[j] = static_cast<Slot>(lookup.slot(v[j]));
    exact &= exact - 1;
  }
}

// The approximate slots of 16 floats; `exact` gets the lanes that need the exact lookup,
// `finite` the lanes that are neither infinite nor NaN.
class Approx {
 public:
  TS_AVX512 explicit Approx(const TensorflowLookup& lookup)
      : a_lo_(_mm512_load_ps(lookup.line_a32)),
        a_hi_(_mm512_load_ps(lookup.line_a32 + 16)),
        b_lo_(_mm512_load_ps(lookup.line_b32)),
        b_hi_(_mm512_load_ps(lookup.line_b32 + 16)),
        k_exp_(_mm512_set1_ps(lookup.k_exp)) {}

  // kRounded: x holds doubles rounded to float, where -0.0 may stand for a negative double
  // too small for float (bin [-1e-12, 0)) and so takes the exact lookup.
  template <bool kRounded>
  TS_AVX512 __m512i slots(__m512 x, __mmask16& exact, __mmask16& finite) const {
    // fpclass: 0x01 quiet NaN, 0x02 +0.0, 0x04 -0.0, 0x08 +inf, 0x10 -inf, 0x80 signalling
    // NaN. Denormals and zeros need no exact lookup: getexp puts a denormal's k' far below
    // 0 and a zero's at -inf, which clamp to the bin below 1e-12 of their sign; a zero counts
    // as positive (-0.0 sorts with +0.0). Only the zeros' reduce() (0 for -inf) is ignored.
    const __mmask16 special = _mm512_fpclass_ps_mask(x, 0x99);
    finite = static_cast<__mmask16>(~special);
    const __mmask16 zero = _mm512_fpclass_ps_mask(x, kRounded ? 0x02 : 0x06);
    const __m512 e = _mm512_getexp_ps(x);                                          // floor(log2 |x|)
    const __m512 m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);  // [1, 2)
    // The top 5 mantissa bits index the cell (permutes read the low 5 bits of the index).
    const __m512i cell = _mm512_srli_epi32(_mm512_castps_si512(x), 23 - 5);
    const __m512 line =
        _mm512_fmadd_ps(m, _mm512_permutex2var_ps(b_lo_, cell, b_hi_), _mm512_permutex2var_ps(a_lo_, cell, a_hi_));
    const __m512 k = _mm512_fmadd_ps(e, k_exp_, line);  // k' + kTfUncertain
    // k - floor(k) (imm: no fraction bits kept, round down, no precision exception).
    const __m512 frac = _mm512_reduce_ps(k, 0x09);
    exact = special | _mm512_mask_cmp_ps_mask(static_cast<__mmask16>(~zero), frac,
                                              _mm512_set1_ps(2 * TensorflowLookup::kTfUncertain), _CMP_LT_OQ);
    __m512i bin = _mm512_cvt_roundps_epi32(k, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    bin = _mm512_min_epi32(_mm512_max_epi32(bin, _mm512_set1_epi32(-1)), _mm512_set1_epi32(kTfPositive - 1));
    // Positive: slot kTfPositive + 3 + k; negative (mirrored): kTfPositive - k.
    const __mmask16 negative = _mm512_movepi32_mask(_mm512_castps_si512(x)) & static_cast<__mmask16>(~zero);
    return _mm512_mask_sub_epi32(_mm512_add_epi32(bin, _mm512_set1_epi32(kTfPositive + 3)), negative,
                                 _mm512_set1_epi32(kTfPositive), bin);
  }

 private:
  __m512 a_lo_, a_hi_, b_lo_, b_hi_, k_exp_;
};

TS_AVX512 void slots_float(const float* v, size_t blocks, uint32_t* out) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  const Approx approx(lookup);
  for (size_t b = 0; b < blocks; ++b, v += 16, out += 16) {
    __mmask16 exact, finite;
    _mm512_storeu_si512(out, approx.slots<false>(_mm512_loadu_ps(v), exact, finite));
    fix_exact(lookup, v, exact, out);
  }
}

// Float input: min and max stay in float (exact: float -> double keeps order and value) and
// are merged into the double lanes at the end with the same keep-the-old-on-ties rule; the
// sums run in double.
TS_AVX512 void blocks_float(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  const Approx approx(lookup);
  Acc lo = load_acc(lanes, 0), hi = load_acc(lanes, 8);
  __m512 fmin = _mm512_set1_ps(std::numeric_limits<float>::infinity());
  __m512 fmax = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t num = 0;
  Pipeline pipe(counts);
  while (blocks > 0) {
    const size_t batch = blocks < kBatch ? blocks : kBatch;
    for (size_t b = 0; b < batch; ++b, v += 16) {
      const __m512 x = _mm512_loadu_ps(v);
      __mmask16 exact, finite;
      const __m512i s = approx.slots<false>(x, exact, finite);
      uint16_t* out = pipe.block(b);
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(s));
      fix_exact(lookup, v, exact, out);
      fmin = _mm512_mask_min_ps(fmin, finite, x, fmin);
      fmax = _mm512_mask_max_ps(fmax, finite, x, fmax);
      add_sums(lo, static_cast<__mmask8>(finite), _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
      add_sums(hi, static_cast<__mmask8>(finite >> 8),
               _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x), 1))));
      num += __builtin_popcount(finite);
    }
    pipe.end_batch(batch);
    blocks -= batch;
  }
  store_acc(lo, lanes, 0);
  store_acc(hi, lanes, 8);
  alignas(64) float mn[16], mx[16];
  _mm512_store_ps(mn, fmin);
  _mm512_store_ps(mx, fmax);
  for (int j = 0; j < 16; ++j) {
    const double a = mn[j], b = mx[j];
    lanes.min[j] = a < lanes.min[j] ? a : lanes.min[j];
    lanes.max[j] = b > lanes.max[j] ? b : lanes.max[j];
  }
  lanes.num += num;
}

TS_AVX512 inline __mmask8 finite_mask(__m512d x) {
  const __m512i exp_mask = _mm512_set1_epi64(0x7FF0000000000000);
  return _mm512_cmpneq_epi64_mask(_mm512_and_si512(_mm512_castpd_si512(x), exp_mask), exp_mask);
}

// Doubles are rounded to float for the approximation: that moves k' by < 1e-6, far inside
// the margin, and values beyond float's range become 0, denormal or inf (exact path).
TS_AVX512 void blocks_double(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  const Approx approx(lookup);
  Acc lo = load_acc(lanes, 0), hi = load_acc(lanes, 8);
  int64_t num = 0;
  Pipeline pipe(counts);
  while (blocks > 0) {
    const size_t batch = blocks < kBatch ? blocks : kBatch;
    for (size_t b = 0; b < batch; ++b, v += 16) {
      const __m512d x0 = _mm512_loadu_pd(v);
      const __m512d x1 = _mm512_loadu_pd(v + 8);
      const __m512d both = _mm512_insertf64x4(_mm512_castps_pd(_mm512_castps256_ps512(_mm512_cvtpd_ps(x0))),
                                              _mm256_castps_pd(_mm512_cvtpd_ps(x1)), 1);
      __mmask16 exact, finite_f;
      const __m512i s = approx.slots<true>(_mm512_castpd_ps(both), exact, finite_f);
      uint16_t* out = pipe.block(b);
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm512_cvtepi32_epi16(s));
      fix_exact(lookup, v, exact, out);
      // Finite in double (a double beyond float's range is finite but its float is not).
      const __mmask8 f0 = finite_mask(x0), f1 = finite_mask(x1);
      add_min_max(lo, f0, x0);
      add_min_max(hi, f1, x1);
      add_sums(lo, f0, x0);
      add_sums(hi, f1, x1);
      num += __builtin_popcount(f0) + __builtin_popcount(f1);
    }
    pipe.end_batch(batch);
    blocks -= batch;
  }
  store_acc(lo, lanes, 0);
  store_acc(hi, lanes, 8);
  lanes.num += num;
}

}  // namespace

void tf_blocks_avx512(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  blocks_float(v, blocks, counts, lanes);
}
void tf_blocks_avx512(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  blocks_double(v, blocks, counts, lanes);
}
void tf_slots_avx512(const float* v, size_t blocks, uint32_t* out) { slots_float(v, blocks, out); }

}  // namespace trainscope::detail

#else  // not x86-64: never selected (isa_supported is false), kept so that the symbols exist

namespace trainscope::detail {
void tf_blocks_avx512(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  tf_blocks_portable(v, blocks, counts, lanes);
}
void tf_blocks_avx512(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  tf_blocks_portable(v, blocks, counts, lanes);
}
void tf_slots_avx512(const float*, size_t, uint32_t*) {}
}  // namespace trainscope::detail

#endif
