// Portable path: plain C the compiler may vectorize for the baseline ISA of any target.
// A 4 × 16 tile of C in a local array; panels are not padded (vw = 1).
#include "tile.h"
#include <math.h>

enum { MR = 4, NR = 16 };

static void tile_generic(const rnn_tile *t) {
    float acc[MR][NR] = {{0}};
    const int m = t->m, n = t->n, pw = t->panel_width;
    for (int k = 0; k < t->k; k++) {
        const float *bk = t->b + (ptrdiff_t)k * pw;
        for (int i = 0; i < m; i++) {
            const float ai = t->a[i * t->lda + k];
            for (int j = 0; j < n; j++) acc[i][j] += ai * bk[j];
        }
    }
    for (int i = 0; i < m; i++) {
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

const rnn_path_spec rnn_recurrence_generic_spec = {MR, NR, 1, 256, tile_generic};
