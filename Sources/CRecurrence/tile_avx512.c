// AVX-512F path: an MR × (16·NV) tile of C in zmm registers (8 × 48: 24 accumulators, three
// panel vectors, h broadcast from memory into the FMA), K streamed from the packed panel.
// Compiled with a per-function target attribute, so the package needs no -march flag and
// this code runs only after cpuid said yes.
#if defined(__x86_64__) || defined(__i386__)
#include "tile.h"
#include <immintrin.h>

#define TARGET __attribute__((target("avx512f"), always_inline)) static inline
enum { MR = 8, NV_MAX = 3, VW = 16 };

TARGET __m512 tanh512(__m512 x) {
    const __m512 bound = _mm512_set1_ps(RNN_TANH_BOUND);
    // max/min return their second operand when either is NaN: x goes second to keep NaN.
    const __m512 c = _mm512_min_ps(bound, _mm512_max_ps(_mm512_sub_ps(_mm512_setzero_ps(), bound), x));
    const __m512 c2 = _mm512_mul_ps(c, c);
    __m512 p = _mm512_set1_ps(RNN_TANH_P13);
    p = _mm512_fmadd_ps(p, c2, _mm512_set1_ps(RNN_TANH_P11));
    p = _mm512_fmadd_ps(p, c2, _mm512_set1_ps(RNN_TANH_P9));
    p = _mm512_fmadd_ps(p, c2, _mm512_set1_ps(RNN_TANH_P7));
    p = _mm512_fmadd_ps(p, c2, _mm512_set1_ps(RNN_TANH_P5));
    p = _mm512_fmadd_ps(p, c2, _mm512_set1_ps(RNN_TANH_P3));
    p = _mm512_fmadd_ps(p, c2, _mm512_set1_ps(RNN_TANH_P1));
    __m512 q = _mm512_set1_ps(RNN_TANH_Q6);
    q = _mm512_fmadd_ps(q, c2, _mm512_set1_ps(RNN_TANH_Q4));
    q = _mm512_fmadd_ps(q, c2, _mm512_set1_ps(RNN_TANH_Q2));
    q = _mm512_fmadd_ps(q, c2, _mm512_set1_ps(RNN_TANH_Q0));
    return _mm512_div_ps(_mm512_mul_ps(c, p), q);
}

/// rows and nv are compile-time constants in every instance (see tile_avx512 below), so the
/// loops unroll and acc lives in registers.
TARGET void tile_rows(const rnn_tile *t, const int rows, const int nv) {
    __m512 acc[MR][NV_MAX];
    for (int i = 0; i < rows; i++)
        for (int v = 0; v < nv; v++) acc[i][v] = _mm512_setzero_ps();
    const float *a = t->a, *b = t->b;
    const ptrdiff_t lda = t->lda, pw = t->panel_width;
    const char *prefetch = t->prefetch;
    const int lines = t->prefetch_lines;
    for (int k = 0; k < t->k; k++) {
        if (k < lines) _mm_prefetch(prefetch + 64 * (ptrdiff_t)k, _MM_HINT_T0);
        __m512 w[NV_MAX];
        for (int v = 0; v < nv; v++) w[v] = _mm512_loadu_ps(b + k * pw + VW * v);
        for (int i = 0; i < rows; i++) {
            const __m512 ai = _mm512_set1_ps(a[i * lda + k]);
            for (int v = 0; v < nv; v++) acc[i][v] = _mm512_fmadd_ps(ai, w[v], acc[i][v]);
        }
    }
    __mmask16 mask[NV_MAX];
    for (int v = 0; v < nv; v++) {
        const int lanes = t->n - VW * v;
        mask[v] = lanes >= VW ? (__mmask16)0xFFFF : (__mmask16)((1u << lanes) - 1);
    }
    for (int i = 0; i < rows; i++) {
        float *c = t->c + i * t->ldc;
        switch (t->epilogue) {
        case RNN_EPILOGUE_ACCUMULATE:
            for (int v = 0; v < nv; v++)
                _mm512_mask_storeu_ps(c + VW * v, mask[v],
                                      _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], c + VW * v), acc[i][v]));
            break;
        case RNN_EPILOGUE_TANH:
            for (int v = 0; v < nv; v++)
                _mm512_mask_storeu_ps(c + VW * v, mask[v],
                                      tanh512(_mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], c + VW * v), acc[i][v])));
            break;
        case RNN_EPILOGUE_TANH_BACKWARD: {
            const float *h = t->h + i * t->ldh;
            __m512 sumsq = _mm512_setzero_ps();
            for (int v = 0; v < nv; v++) {
                // Masked-off lanes load as 0 and the padded panel columns are 0: dh = 0 there.
                const __m512 dh = _mm512_add_ps(_mm512_maskz_loadu_ps(mask[v], c + VW * v), acc[i][v]);
                const __m512 hv = _mm512_maskz_loadu_ps(mask[v], h + VW * v);
                sumsq = _mm512_fmadd_ps(dh, dh, sumsq);
                const __m512 derivative = _mm512_fnmadd_ps(hv, hv, _mm512_set1_ps(1));
                _mm512_mask_storeu_ps(c + VW * v, mask[v], _mm512_mul_ps(derivative, dh));
            }
            t->row_sumsq[i] += _mm512_reduce_add_ps(sumsq);
            break;
        }
        }
    }
}

#define NV_CASES(rows)                         \
    case rows:                                 \
        if (nv == 3) tile_rows(t, rows, 3);    \
        else if (nv == 2) tile_rows(t, rows, 2); \
        else tile_rows(t, rows, 1);            \
        break;

__attribute__((target("avx512f"))) static void tile_avx512(const rnn_tile *t) {
    const int nv = (t->n + VW - 1) / VW;
    switch (t->m) {
        NV_CASES(1) NV_CASES(2) NV_CASES(3) NV_CASES(4)
        NV_CASES(5) NV_CASES(6) NV_CASES(7) NV_CASES(8)
    }
}

const rnn_path_spec rnn_recurrence_avx512_spec = {MR, NV_MAX * VW, VW, 128, tile_avx512};
#endif
