// Portable path: plain C with fixed trip counts, which compilers vectorize for the baseline
// ISA of any target (SSE2 on x86-64, NEON on arm64). Panels are padded to the full tile
// width and the tile always computes MR rows (rows past m repeat the last one and are not
// stored), so the inner loops have no run-time bounds.
#include "tile.h"

enum { MR = 4, NR = 8 };

static void tile_generic(const rnn_tile *t) {
    float acc[MR][NR] = {{0}};
    const float *a[MR];
    for (int i = 0; i < MR; i++) a[i] = t->a + (i < t->m ? i : t->m - 1) * t->lda;
    for (int k = 0; k < t->k; k++) {
        const float *bk = t->b + (ptrdiff_t)k * NR;
        for (int i = 0; i < MR; i++) {
            const float ai = a[i][k];
            for (int j = 0; j < NR; j++) acc[i][j] += ai * bk[j];
        }
    }
    const int n = t->n;
    for (int i = 0; i < t->m; i++) {
        float *c = t->c + i * t->ldc;
        switch (t->epilogue) {
        case RNN_EPILOGUE_ACCUMULATE:
            for (int j = 0; j < n; j++) c[j] += acc[i][j];
            break;
        case RNN_EPILOGUE_TANH:
            for (int j = 0; j < n; j++) c[j] = rnn_tanhf(c[j] + acc[i][j]);
            break;
        case RNN_EPILOGUE_TANH_BACKWARD: {
            const float *h = t->h + i * t->ldh;
            float sumsq = 0;
            for (int j = 0; j < n; j++) {
                const float dh = c[j] + acc[i][j];
                sumsq += dh * dh;
                c[j] = (1 - h[j] * h[j]) * dh;
            }
            t->row_sumsq[i] += sumsq;
            break;
        }
        }
    }
}

const rnn_path_spec rnn_recurrence_generic_spec = {MR, NR, NR, 256, tile_generic};
