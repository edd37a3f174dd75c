// AVX2+FMA path: a 6 × 16 tile of C in ymm registers (12 accumulators, two panel vectors,
// one broadcast: 15 of the 16 registers), K streamed from the packed panel.
#if defined(__x86_64__) || defined(__i386__)
#include "tile.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx2,fma"), always_inline)) static inline
enum { MR = 6, NV_MAX = 2, VW = 8 };

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

/// rows and nv are compile-time constants in every instance (see tile_avx2 below).
TARGET void tile_rows(const rnn_tile *t, const int rows, const int nv) {
    __m256 acc[MR][NV_MAX];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < nv; v++) acc[i][v] = _mm256_setzero_ps();
    const float *a = t->a, *b = t->b;
    const ptrdiff_t lda = t->lda, pw = t->panel_width;
    const char *prefetch = t->prefetch;
    const int lines = t->prefetch_lines;
    for (int k = 0; k < t->k; k++) {
        if (k < lines) _mm_prefetch(prefetch + 64 * (ptrdiff_t)k, _MM_HINT_T0);
        __m256 w[NV_MAX];
        for (int v = 0; v < nv; v++) w[v] = _mm256_loadu_ps(b + k * pw + VW * v);
        for (int i = 0; i < rows; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i * lda + k);
            for (int v = 0; v < nv; v++) acc[i][v] = _mm256_fmadd_ps(ai, w[v], acc[i][v]);
        }
    }
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
