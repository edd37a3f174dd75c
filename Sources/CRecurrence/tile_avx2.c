// AVX2+FMA path: a 6 × 16 tile of C in ymm registers (12 accumulators, two panel vectors,
// one broadcast: 15 of the 16 registers), K streamed from the packed panel, four k steps per
// loop iteration so that the loop's own instructions do not compete with the 8 loads and 12
// FMAs of a step for the 6-wide dispatch. Each accumulator still adds its products in k order:
// the results are those of the one-step loop, bit for bit.
#if defined(__x86_64__) || defined(__i386__)
#include "tile.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma"), always_inline)) static inline
enum { MR = 6, NV_MAX = 2, VW = 8, UNROLL = 4 };
_Static_assert(UNROLL == 4, "the unrolled loops of tile_rows spell out four steps");

TARGET __m256 tanh256(__m256 x) {
    const __m256 bound = _mm256_set1_ps(RNN_TANH_BOUND);
    // max/min return their second operand when either is NaN: x goes second to keep NaN.
    const __m256 c = _mm256_min_ps(bound, _mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(), bound), x));
    const __m256 c2 = _mm256_mul_ps(c, c);
    __m256 p = _mm256_set1_ps(RNN_TANH_P13);
    p = _mm256_fmadd_ps(p, c2, _mm256_set1_ps(RNN_TANH_P11));
    p = _mm256_fmadd_ps(p, c2, _mm256_set1_ps(RNN_TANH_P9));
    p = _mm256_fmadd_ps(p, c2, _mm256_set1_ps(RNN_TANH_P7));
    p = _mm256_fmadd_ps(p, c2, _mm256_set1_ps(RNN_TANH_P5));
    p = _mm256_fmadd_ps(p, c2, _mm256_set1_ps(RNN_TANH_P3));
    p = _mm256_fmadd_ps(p, c2, _mm256_set1_ps(RNN_TANH_P1));
    __m256 q = _mm256_set1_ps(RNN_TANH_Q6);
    q = _mm256_fmadd_ps(q, c2, _mm256_set1_ps(RNN_TANH_Q4));
    q = _mm256_fmadd_ps(q, c2, _mm256_set1_ps(RNN_TANH_Q2));
    q = _mm256_fmadd_ps(q, c2, _mm256_set1_ps(RNN_TANH_Q0));
    return _mm256_div_ps(_mm256_mul_ps(c, p), q);
}

TARGET float hsum256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// One k step of the tile: two panel vectors (the second only when nv = 2), then per row one
// broadcast of A and its FMAs. The accumulators are named variables, not an array, so that
// they stay in registers whatever the compiler unrolls first (rows and nv are constants).
#define ROW(i, kk)                                                               \
    if (rows > i) {                                                              \
        const __m256 ai = _mm256_broadcast_ss(a##i + (kk));                      \
        c##i##0 = _mm256_fmadd_ps(ai, w0, c##i##0);                              \
        if (nv > 1) c##i##1 = _mm256_fmadd_ps(ai, w1, c##i##1);                  \
    }
#define STEP(kk)                                                                 \
    {                                                                            \
        const __m256 w0 = _mm256_loadu_ps(b + (kk) * pw);                        \
        const __m256 w1 = nv > 1 ? _mm256_loadu_ps(b + (kk) * pw + VW) : w0;     \
        ROW(0, kk) ROW(1, kk) ROW(2, kk) ROW(3, kk) ROW(4, kk) ROW(5, kk)        \
    }

/// rows and nv are compile-time constants in every instance (see tile_avx2 below).
TARGET void tile_rows(const rnn_tile *t, const int rows, const int nv) {
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
           c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    // The panel is nv · VW floats wide (rnn_recurrence_pack pads to vw), so its stride is a
    // constant and the unrolled steps address it by displacement; each row of A has its own
    // pointer, advanced with the panel's.
    const ptrdiff_t lda = t->lda;
    const int pw = nv * VW;
    // (Rows past m alias row 0 rather than point past A; they are never read.)
    const float *b = t->b, *a0 = t->a, *a1 = rows > 1 ? a0 + lda : a0, *a2 = rows > 2 ? a1 + lda : a0,
                *a3 = rows > 3 ? a2 + lda : a0, *a4 = rows > 4 ? a3 + lda : a0, *a5 = rows > 5 ? a4 + lda : a0;
    const char *prefetch = t->prefetch;
    const int depth = t->k, lines = t->prefetch_lines < depth ? t->prefetch_lines : depth;
#define ADVANCE(steps) \
    b += (steps) * pw, a0 += (steps), a1 += (steps), a2 += (steps), a3 += (steps), a4 += (steps), a5 += (steps)
    // C (and h for TANH_BACKWARD) is read only after the k loop, and in BPTT it was written
    // long before (by the input product over all T steps, or a time step ago), often out of L2
    // by now: ask for its lines first, so that the epilogue does not wait for L3 (+4-9% for
    // the chained per-step products on a Zen 4; prefetching changes no result).
    for (int i = 0; i < rows; i++) {
        const float *ci = t->c + i * t->ldc;
        _mm_prefetch((const char *)ci, _MM_HINT_T0);
        _mm_prefetch((const char *)(ci + pw - 1), _MM_HINT_T0);
        if (t->epilogue == RNN_EPILOGUE_TANH_BACKWARD) {
            const float *hi = t->h + i * t->ldh;
            _mm_prefetch((const char *)hi, _MM_HINT_T0);
            _mm_prefetch((const char *)(hi + pw - 1), _MM_HINT_T0);
        }
    }
    int k = 0;
    // First the steps that also bring one line of the next panel block each (see recurrence.c),
    // then the rest.
#define PREFETCH(kk) _mm_prefetch(prefetch + 64 * (ptrdiff_t)(k + (kk)), _MM_HINT_T0);
    for (; k + UNROLL <= lines; k += UNROLL, ADVANCE(UNROLL)) {
        PREFETCH(0) STEP(0) PREFETCH(1) STEP(1) PREFETCH(2) STEP(2) PREFETCH(3) STEP(3)
    }
    for (; k < lines; k++, ADVANCE(1)) {
        PREFETCH(0) STEP(0)
    }
#undef PREFETCH
    for (; k + UNROLL <= depth; k += UNROLL, ADVANCE(UNROLL)) {
        STEP(0) STEP(1) STEP(2) STEP(3)
    }
    for (; k < depth; k++, ADVANCE(1)) STEP(0)
#undef ADVANCE
    const __m256 acc[MR][NV_MAX] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
    __m256i mask[NV_MAX];
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int v = 0; v < nv; v++) mask[v] = _mm256_cmpgt_epi32(_mm256_set1_epi32(t->n - VW * v), lane);
    for (int i = 0; i < rows; i++) {
        float *c = t->c + i * t->ldc;
        switch (t->epilogue) {
        case RNN_EPILOGUE_ACCUMULATE:
            for (int v = 0; v < nv; v++)
                _mm256_maskstore_ps(c + VW * v, mask[v],
                                    _mm256_add_ps(_mm256_maskload_ps(c + VW * v, mask[v]), acc[i][v]));
            break;
        case RNN_EPILOGUE_TANH:
            for (int v = 0; v < nv; v++)
                _mm256_maskstore_ps(c + VW * v, mask[v],
                                    tanh256(_mm256_add_ps(_mm256_maskload_ps(c + VW * v, mask[v]), acc[i][v])));
            break;
        case RNN_EPILOGUE_TANH_BACKWARD: {
            const float *h = t->h + i * t->ldh;
            __m256 sumsq = _mm256_setzero_ps();
            for (int v = 0; v < nv; v++) {
                // Masked-off lanes load as 0 and the padded panel columns are 0: dh = 0 there.
                const __m256 dh = _mm256_add_ps(_mm256_maskload_ps(c + VW * v, mask[v]), acc[i][v]);
                const __m256 hv = _mm256_maskload_ps(h + VW * v, mask[v]);
                sumsq = _mm256_fmadd_ps(dh, dh, sumsq);
                const __m256 derivative = _mm256_fnmadd_ps(hv, hv, _mm256_set1_ps(1));
                _mm256_maskstore_ps(c + VW * v, mask[v], _mm256_mul_ps(derivative, dh));
            }
            t->row_sumsq[i] += hsum256(sumsq);
            break;
        }
        }
    }
}

#define NV_CASES(rows)                           \
    case rows:                                   \
        if (nv == 2) tile_rows(t, rows, 2);      \
        else tile_rows(t, rows, 1);              \
        break;

__attribute__((target("avx2,fma"))) static void tile_avx2(const rnn_tile *t) {
    const int nv = (t->n + VW - 1) / VW;
    switch (t->m) {
        NV_CASES(1) NV_CASES(2) NV_CASES(3) NV_CASES(4) NV_CASES(5) NV_CASES(6)
    }
}

const rnn_path_spec rnn_recurrence_avx2_spec = {MR, NV_MAX * VW, VW, 256, tile_avx2};
#endif
