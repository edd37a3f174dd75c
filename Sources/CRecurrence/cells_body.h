// The cell loops of cells.h, written once and compiled once per path by cells.c, which
// defines CELL_TARGET (a target attribute, or nothing) and CELL_FN (the path's name suffix).
// Plain loops over the H units of a row with restrict pointers and no calls: the compiler
// vectorizes them at the target's width (the rational tanh's clamp compiles to min/max).
#include "tile.h"

CELL_TARGET __attribute__((always_inline)) static inline float CELL_FN(sigmoid)(float x) {
    return 0.5f + 0.5f * rnn_tanhf(0.5f * x);
}

/// The `sums` of one row g [GH] of a step's gradient (the row's pre-activation gradient for
/// db_xh and dW_xhT, dp for db_hh: the same row for lstm).
CELL_TARGET static void CELL_FN(add_sums)(const rnn_cell_gradients *sums, int r, int GH,
                                          const float *restrict g, const float *restrict dp) {
    if (!sums) return;
    if (sums->db_hh) {
        float *restrict db = sums->db_hh;
        for (int k = 0; k < GH; k++) db[k] += dp[k];
    }
    if (sums->db_xh) {
        float *restrict db = sums->db_xh;
        for (int k = 0; k < GH; k++) db[k] += g[k];
    }
    if (sums->dW_xhT) {
        float *restrict column = sums->dW_xhT + (ptrdiff_t)sums->tokens[r * sums->token_stride] * GH;
        for (int k = 0; k < GH; k++) column[k] += g[k];
    }
}

CELL_TARGET static void CELL_FN(lstm_forward)(int B, int H, const float *restrict pre, const float *restrict b_hh,
                                              const float *restrict c_prev, float *restrict gates,
                                              float *restrict c, float *restrict tanh_c, float *restrict h) {
    for (int r = 0; r < B; r++) {
        const ptrdiff_t row = (ptrdiff_t)r * H, gateRow = 4 * row;
        const float *restrict p = pre + gateRow;
        float *restrict a = gates + gateRow;
        for (int j = 0; j < H; j++) {
            const float i = CELL_FN(sigmoid)(p[j] + b_hh[j]);
            const float f = CELL_FN(sigmoid)(p[H + j] + b_hh[H + j]);
            const float g = rnn_tanhf(p[2 * H + j] + b_hh[2 * H + j]);
            const float o = CELL_FN(sigmoid)(p[3 * H + j] + b_hh[3 * H + j]);
            a[j] = i; a[H + j] = f; a[2 * H + j] = g; a[3 * H + j] = o;
            const float cNew = f * c_prev[row + j] + i * g;
            const float tc = rnn_tanhf(cNew);
            c[row + j] = cNew;
            tanh_c[row + j] = tc;
            h[row + j] = o * tc;
        }
    }
}

CELL_TARGET static void CELL_FN(lstm_backward)(int B, int H, const float *restrict dh, float *restrict dc,
                                               const float *restrict gates, const float *restrict c_prev,
                                               const float *restrict tanh_c, float *restrict dxp,
                                               const rnn_cell_gradients *sums, double *restrict c_norms) {
    for (int r = 0; r < B; r++) {
        const ptrdiff_t row = (ptrdiff_t)r * H, gateRow = 4 * row;
        const float *restrict a = gates + gateRow;
        float *restrict d = dxp + gateRow;
        if (c_norms) {
            // The measurement only (diagnose): a scalar pass, so the main loop keeps no reduction.
            double squares = 0;
            for (int j = 0; j < H; j++) {
                const float tc = tanh_c[row + j];
                const float dct = dc[row + j] + dh[row + j] * a[3 * H + j] * (1 - tc * tc);
                squares += (double)dct * dct;
            }
            c_norms[r] = sqrt(squares);
        }
        for (int j = 0; j < H; j++) {
            const float i = a[j], f = a[H + j], g = a[2 * H + j], o = a[3 * H + j];
            const float tc = tanh_c[row + j], dhj = dh[row + j];
            const float dct = dc[row + j] + dhj * o * (1 - tc * tc);
            d[j] = dct * g * i * (1 - i);
            d[H + j] = dct * c_prev[row + j] * f * (1 - f);
            d[2 * H + j] = dct * i * (1 - g * g);
            d[3 * H + j] = dhj * tc * o * (1 - o);
            dc[row + j] = dct * f;
        }
        CELL_FN(add_sums)(sums, r, 4 * H, d, d);   // the row is still in L1
    }
}

CELL_TARGET static void CELL_FN(gru_forward)(int B, int H, const float *restrict xp, const float *restrict hp,
                                             const float *restrict b_hh, const float *restrict h_prev,
                                             float *restrict gates, float *restrict hn, float *restrict h) {
    for (int r = 0; r < B; r++) {
        const ptrdiff_t row = (ptrdiff_t)r * H, gateRow = 3 * row;
        const float *restrict x = xp + gateRow, *restrict p = hp + gateRow;
        float *restrict a = gates + gateRow;
        for (int j = 0; j < H; j++) {
            const float rg = CELL_FN(sigmoid)(x[j] + (p[j] + b_hh[j]));
            const float z = CELL_FN(sigmoid)(x[H + j] + (p[H + j] + b_hh[H + j]));
            const float hnj = p[2 * H + j] + b_hh[2 * H + j];
            const float n = rnn_tanhf(x[2 * H + j] + rg * hnj);
            a[j] = rg; a[H + j] = z; a[2 * H + j] = n;
            hn[row + j] = hnj;
            h[row + j] = (1 - z) * n + z * h_prev[row + j];
        }
    }
}

CELL_TARGET static void CELL_FN(gru_backward)(int B, int H, const float *restrict dh, const float *restrict gates,
                                              const float *restrict hn, const float *restrict h_prev,
                                              float *restrict dxp, float *restrict dhp, float *restrict dh_prev,
                                              const rnn_cell_gradients *sums) {
    for (int r = 0; r < B; r++) {
        const ptrdiff_t row = (ptrdiff_t)r * H, gateRow = 3 * row;
        const float *restrict a = gates + gateRow;
        float *restrict dx = dxp + gateRow, *restrict dp = dhp + gateRow;
        for (int j = 0; j < H; j++) {
            const float rg = a[j], z = a[H + j], n = a[2 * H + j], g = dh[row + j];
            const float dn = g * (1 - z) * (1 - n * n);
            const float dr = dn * hn[row + j] * rg * (1 - rg);
            const float dz = g * (h_prev[row + j] - n) * z * (1 - z);
            dx[j] = dr; dx[H + j] = dz; dx[2 * H + j] = dn;
            dp[j] = dr; dp[H + j] = dz; dp[2 * H + j] = dn * rg;
        }
        if (dh_prev)
            for (int j = 0; j < H; j++) dh_prev[row + j] += dh[row + j] * a[H + j];
        CELL_FN(add_sums)(sums, r, 3 * H, dx, dp);
    }
}
