// AVX2 default-edge kernel: 16 values per step as two 8-float (or four 4-double) vectors.
// Slots are computed as in the AVX-512 kernel (see there), with an 8-cell mantissa table
// (one register permute) and one more term of the series; the statistics run in double on four 4-lane accumulators
// without branches: d = x - x is +0 for finite x and NaN otherwise, which hides the value from minpd/maxpd (they return
// their second operand on NaN) and masks it out of the sums. Same lanes and operations as the portable kernel, so the
// results are bit-identical.
#include "histogram_pipeline.h"
#include "trainscope/detail/histogram_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace trainscope::detail {
namespace {

#define TS_AVX2 __attribute__((target("avx2,fma")))

struct Acc {
  __m256d min, max, sum, sq;
  __m256i num;
};

TS_AVX2 inline Acc load_acc(const StatLanes& l, int base) {
  return {_mm256_load_pd(l.min + base), _mm256_load_pd(l.max + base), _mm256_load_pd(l.sum + base),
          _mm256_load_pd(l.sum_squares + base), _mm256_setzero_si256()};
}

TS_AVX2 inline void store_acc(const Acc& a, StatLanes& l, int base) {
  _mm256_store_pd(l.min + base, a.min);
  _mm256_store_pd(l.max + base, a.max);
  _mm256_store_pd(l.sum + base, a.sum);
  _mm256_store_pd(l.sum_squares + base, a.sq);
  alignas(32) int64_t num[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(num), a.num);
  l.num += num[0] + num[1] + num[2] + num[3];
}

// Sum lanes start at +0 and can never become -0 (+0 + -0 = +0 in round-to-nearest), so
// adding +0 for a non-finite value is the same as leaving the lane alone.
TS_AVX2 inline void add_stats(Acc& a, __m256d x) {
  const __m256d d = _mm256_sub_pd(x, x);               // +0 when finite, NaN otherwise
  const __m256d ok = _mm256_cmp_pd(d, d, _CMP_ORD_Q);  // all ones when finite
  const __m256d x_or_nan = _mm256_sub_pd(x, d);        // x exactly (-0.0 stays -0.0), or NaN
  a.min = _mm256_min_pd(x_or_nan, a.min);
  a.max = _mm256_max_pd(x_or_nan, a.max);
  const __m256d x_or_zero = _mm256_and_pd(x, ok);
  a.sum = _mm256_add_pd(a.sum, x_or_zero);
  a.sq = _mm256_add_pd(a.sq, _mm256_mul_pd(x_or_zero, x_or_zero));
  a.num = _mm256_sub_epi64(a.num, _mm256_castpd_si256(ok));  // all ones == -1
}

// Slots are counted one batch behind (histogram_pipeline.h), 32 bits each (as stored).
using Pipeline = SlotPipeline<uint32_t>;
constexpr size_t kBatch = Pipeline::kBatch;

// The approximate slots of 8 floats; `exact` gets a bit per lane that needs the exact lookup.
class Approx {
 public:
  TS_AVX2 explicit Approx(const TensorflowLookup& lookup)
      : inv_(_mm256_load_ps(lookup.inv8)),
        log_(_mm256_load_ps(lookup.log8)),
        k_exp_(_mm256_set1_ps(lookup.k_exp)),
        k_ln_(_mm256_set1_ps(lookup.k_ln)) {}

  TS_AVX2 __m256i slots(__m256 x, unsigned& exact) const {
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i mantissa = _mm256_and_si256(bits, _mm256_set1_epi32(0x007FFFFF));
    const __m256i expo = _mm256_and_si256(_mm256_srli_epi32(bits, 23), _mm256_set1_epi32(0xFF));
    __m256i special = _mm256_or_si256(_mm256_cmpeq_epi32(expo, _mm256_setzero_si256()),
                                      _mm256_cmpeq_epi32(expo, _mm256_set1_epi32(0xFF)));
    const __m256i cell = _mm256_srli_epi32(mantissa, 23 - 3);
    const __m256 m = _mm256_castsi256_ps(_mm256_or_si256(mantissa, _mm256_set1_epi32(0x3F800000)));
    // r = m / mid(cell) - 1 in [-1/16, 1/16]; ln(1 + r) by five terms of its series.
    const __m256 r = _mm256_fmsub_ps(m, _mm256_permutevar8x32_ps(inv_, cell), _mm256_set1_ps(1.0f));
    __m256 ln = _mm256_fmadd_ps(r, _mm256_set1_ps(0.2f), _mm256_set1_ps(-0.25f));
    ln = _mm256_fmadd_ps(ln, r, _mm256_set1_ps(1.0f / 3.0f));
    ln = _mm256_fmadd_ps(ln, r, _mm256_set1_ps(-0.5f));
    ln = _mm256_fmadd_ps(ln, r, _mm256_set1_ps(1.0f));
    ln = _mm256_mul_ps(ln, r);
    const __m256 e = _mm256_cvtepi32_ps(_mm256_sub_epi32(expo, _mm256_set1_epi32(127)));
    const __m256 k =
        _mm256_add_ps(_mm256_mul_ps(e, k_exp_), _mm256_fmadd_ps(ln, k_ln_, _mm256_permutevar8x32_ps(log_, cell)));
    const __m256 nearest = _mm256_round_ps(k, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m256 dist = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), _mm256_sub_ps(k, nearest));
    special = _mm256_or_si256(
        special, _mm256_castps_si256(_mm256_cmp_ps(dist, _mm256_set1_ps(TensorflowLookup::kTfUncertain), _CMP_LT_OQ)));
    exact = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(special)));
    __m256i bin = _mm256_cvttps_epi32(_mm256_floor_ps(k));
    bin = _mm256_min_epi32(_mm256_max_epi32(bin, _mm256_set1_epi32(-1)), _mm256_set1_epi32(kTfPositive - 1));
    // Positive: slot kTfPositive + 3 + k; negative (mirrored): kTfPositive - k.
    const __m256i positive_slot = _mm256_add_epi32(bin, _mm256_set1_epi32(kTfPositive + 3));
    const __m256i negative_slot = _mm256_sub_epi32(_mm256_set1_epi32(kTfPositive), bin);
    return _mm256_blendv_epi8(positive_slot, negative_slot, _mm256_srai_epi32(bits, 31));
  }

 private:
  __m256 inv_, log_, k_exp_, k_ln_;
};

template <typename T>
inline void fix_exact(const TensorflowLookup& lookup, const T* v, unsigned exact, uint32_t* slots) {
  while (exact != 0) {
    const int j = __builtin_ctz(exact);
    slots[j] = static_cast<uint32_t>(lookup.slot(v[j]));
    exact &= exact - 1;
  }
}

// Slots of 16 floats into `slots`, exact.
TS_AVX2 inline void slots16(const TensorflowLookup& lookup, const Approx& approx, const float* v, __m256 x0, __m256 x1,
                            uint32_t* slots) {
  unsigned e0, e1;
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(slots), approx.slots(x0, e0));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(slots + 8), approx.slots(x1, e1));
  fix_exact(lookup, v, e0 | (e1 << 8), slots);
}

TS_AVX2 void slots_float(const float* v, size_t blocks, uint32_t* out) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  const Approx approx(lookup);
  for (size_t b = 0; b < blocks; ++b, v += 16, out += 16) {
    slots16(lookup, approx, v, _mm256_loadu_ps(v), _mm256_loadu_ps(v + 8), out);
  }
}

TS_AVX2 void blocks_float(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  const Approx approx(lookup);
  Acc a0 = load_acc(lanes, 0), a1 = load_acc(lanes, 4), a2 = load_acc(lanes, 8), a3 = load_acc(lanes, 12);
  Pipeline pipe(counts);
  while (blocks > 0) {
    const size_t batch = blocks < kBatch ? blocks : kBatch;
    for (size_t b = 0; b < batch; ++b, v += 16) {
      const __m256 x0 = _mm256_loadu_ps(v);
      const __m256 x1 = _mm256_loadu_ps(v + 8);
      slots16(lookup, approx, v, x0, x1, pipe.block(b));
      add_stats(a0, _mm256_cvtps_pd(_mm256_castps256_ps128(x0)));
      add_stats(a1, _mm256_cvtps_pd(_mm256_extractf128_ps(x0, 1)));
      add_stats(a2, _mm256_cvtps_pd(_mm256_castps256_ps128(x1)));
      add_stats(a3, _mm256_cvtps_pd(_mm256_extractf128_ps(x1, 1)));
    }
    pipe.end_batch(batch);
    blocks -= batch;
  }
  store_acc(a0, lanes, 0);
  store_acc(a1, lanes, 4);
  store_acc(a2, lanes, 8);
  store_acc(a3, lanes, 12);
}

// Doubles are rounded to float for the approximation (see the AVX-512 kernel).
TS_AVX2 inline __m256 to_float(__m256d a, __m256d b) {
  return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm256_cvtpd_ps(a)), _mm256_cvtpd_ps(b), 1);
}

TS_AVX2 void blocks_double(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  const TensorflowLookup& lookup = tensorflow_lookup();
  const Approx approx(lookup);
  Acc a0 = load_acc(lanes, 0), a1 = load_acc(lanes, 4), a2 = load_acc(lanes, 8), a3 = load_acc(lanes, 12);
  Pipeline pipe(counts);
  while (blocks > 0) {
    const size_t batch = blocks < kBatch ? blocks : kBatch;
    for (size_t b = 0; b < batch; ++b, v += 16) {
      const __m256d x0 = _mm256_loadu_pd(v), x1 = _mm256_loadu_pd(v + 4);
      const __m256d x2 = _mm256_loadu_pd(v + 8), x3 = _mm256_loadu_pd(v + 12);
      uint32_t* out = pipe.block(b);
      unsigned e0, e1;
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), approx.slots(to_float(x0, x1), e0));
      _mm256_store_si256(reinterpret_cast<__m256i*>(out + 8), approx.slots(to_float(x2, x3), e1));
      fix_exact(lookup, v, e0 | (e1 << 8), out);
      add_stats(a0, x0);
      add_stats(a1, x1);
      add_stats(a2, x2);
      add_stats(a3, x3);
    }
    pipe.end_batch(batch);
    blocks -= batch;
  }
  store_acc(a0, lanes, 0);
  store_acc(a1, lanes, 4);
  store_acc(a2, lanes, 8);
  store_acc(a3, lanes, 12);
}

}  // namespace

void tf_blocks_avx2(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  blocks_float(v, blocks, counts, lanes);
}
void tf_blocks_avx2(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  blocks_double(v, blocks, counts, lanes);
}
void tf_slots_avx2(const float* v, size_t blocks, uint32_t* out) { slots_float(v, blocks, out); }

}  // namespace trainscope::detail

#else  // not x86-64: never selected (isa_supported is false), kept so that the symbols exist

namespace trainscope::detail {
void tf_blocks_avx2(const float* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  tf_blocks_portable(v, blocks, counts, lanes);
}
void tf_blocks_avx2(const double* v, size_t blocks, SlotCounts& counts, StatLanes& lanes) {
  tf_blocks_portable(v, blocks, counts, lanes);
}
void tf_slots_avx2(const float*, size_t, uint32_t*) {}
}  // namespace trainscope::detail

#endif
