// Path choice, packing and the blocked driver shared by every path: for each block of at most
// 256 rows, K in passes of kc, column panels of nr, row tiles of at most mr. With RNN_DEPTH_L1 a
// kc × nr block of the packed panel (24 KiB on AVX-512) stays in L1 while every row block of
// the batch streams it; with RNN_DEPTH_SINGLE_PASS the whole depth is one pass, so C is loaded
// and stored once, the blocks coming from L2. Which wins depends on L1, L2 and the load
// ports, not on the instruction set (on a Zen 4, one pass ran 5–15% faster at H = 256–2048;
// on the Sapphire Rapids Xeon the L1 depth was tuned): RecurrenceKernelTuner times both.
// Whether the packed W_hh (4·G·H² bytes: 1 MiB for the tanh cell at H = 512) stays in L2
// from one time step to the next depends on the CPU (2 MiB per core on that Xeon, 1 MiB on
// Zen 4, 512 KiB on Zen 3); when it does not, each block comes from L3 in a burst, all of it
// during the first row tile. So every row tile prefetches its share of the next block's
// lines, one per k step: the lines arrive spread over the whole block's work (G = 4,
// H = 512 on the Xeon: 129 → 145–150 GF/s).
#include "tile.h"
#include <math.h>
#include <string.h>

int rnn_recurrence_supported(rnn_recurrence_path path) {
    switch (path) {
    case RNN_RECURRENCE_GENERIC: return 1;
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
    case RNN_RECURRENCE_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case RNN_RECURRENCE_AVX512: return __builtin_cpu_supports("avx512f");
#endif
    default: return 0;
    }
}

static const rnn_path_spec *spec(rnn_recurrence_path path) {
    switch (path) {
#if defined(__x86_64__) || defined(__i386__)
    case RNN_RECURRENCE_AVX2: return &rnn_recurrence_avx2_spec;
    case RNN_RECURRENCE_AVX512: return &rnn_recurrence_avx512_spec;
#endif
    default: return &rnn_recurrence_generic_spec;
    }
}

static int min_int(int a, int b) { return a < b ? a : b; }
static int round_up(int x, int multiple) { return (x + multiple - 1) / multiple * multiple; }

// Packed layout: panel p holds columns [p·nr, p·nr + nr) of B as k rows of width
// round_up(columns, vw), zero-padded; panels follow each other, so panel p starts at p·nr·k.
size_t rnn_recurrence_packed_count(rnn_recurrence_path path, int n, int k) {
    return (size_t)round_up(n, spec(path)->vw) * (size_t)k;
}

void rnn_recurrence_pack(rnn_recurrence_path path, int n, int k, const float *w, ptrdiff_t ldw,
                         int transposed, float *packed) {
    const rnn_path_spec *s = spec(path);
    for (int n0 = 0; n0 < n; n0 += s->nr) {
        const int columns = min_int(s->nr, n - n0), width = round_up(columns, s->vw);
        float *panel = packed + (ptrdiff_t)n0 * k;
        if (width > columns)
            for (int kk = 0; kk < k; kk++) memset(panel + (ptrdiff_t)kk * width + columns, 0,
                                                  sizeof(float) * (size_t)(width - columns));
        if (transposed) {
            // B[kk, j] = W[j, kk]: read each row of W once, sequentially.
            for (int j = 0; j < columns; j++) {
                const float *row = w + (ptrdiff_t)(n0 + j) * ldw;
                for (int kk = 0; kk < k; kk++) panel[(ptrdiff_t)kk * width + j] = row[kk];
            }
        } else {
            for (int kk = 0; kk < k; kk++)
                memcpy(panel + (ptrdiff_t)kk * width, w + (ptrdiff_t)kk * ldw + n0, sizeof(float) * (size_t)columns);
        }
    }
}

enum { ROW_BLOCK = 256 };

double rnn_recurrence_product(rnn_recurrence_path path, rnn_recurrence_depth depth, int m, int n, int k,
                              const float *a, ptrdiff_t lda, const float *packed,
                              float *c, ptrdiff_t ldc, rnn_recurrence_epilogue epilogue,
                              const float *h, ptrdiff_t ldh) {
    const rnn_path_spec *s = spec(path);
    const int kc = depth == RNN_DEPTH_SINGLE_PASS ? RNN_DEPTH_SINGLE_PASS_MAX : s->kc;
    double normSum = 0;
    const int passes = k > 0 ? (k + kc - 1) / kc : 1;   // k = 0: the epilogue alone
    for (int m0 = 0; m0 < m; m0 += ROW_BLOCK) {
        const int rows = min_int(ROW_BLOCK, m - m0);
        double rowSumsq[ROW_BLOCK];
        for (int i = 0; i < rows; i++) rowSumsq[i] = 0;
        for (int pass = 0; pass < passes; pass++) {
            const int k0 = pass * kc;
            rnn_tile t;
            t.k = min_int(kc, k - k0);
            t.lda = lda;
            t.ldc = ldc;
            t.ldh = ldh;
            t.epilogue = pass == passes - 1 ? epilogue : RNN_EPILOGUE_ACCUMULATE;
            for (int n0 = 0; n0 < n; n0 += s->nr) {
                t.n = min_int(s->nr, n - n0);
                t.panel_width = round_up(t.n, s->vw);
                t.b = k > 0 ? packed + (ptrdiff_t)n0 * k + (ptrdiff_t)k0 * t.panel_width : packed;
                // The block after this one: the next panel of this pass, else the first of the next.
                const int nextN0 = n0 + s->nr < n ? n0 + s->nr : 0, nextK0 = n0 + s->nr < n ? k0 : k0 + kc;
                int nextLines = 0;
                const char *next = NULL;
                if (k > 0 && nextK0 < k) {
                    const int width = round_up(min_int(s->nr, n - nextN0), s->vw);
                    next = (const char *)(packed + (ptrdiff_t)nextN0 * k + (ptrdiff_t)nextK0 * width);
                    nextLines = (int)(((size_t)width * (size_t)min_int(kc, k - nextK0) * sizeof(float) + 63) / 64);
                }
                const int tiles = (rows + s->mr - 1) / s->mr, linesPerTile = (nextLines + tiles - 1) / tiles;
                // The rows are shared out evenly (32 rows at mr = 6: 6 6 5 5 5 5, not 6 6 6 6 6 2):
                // a tile of two rows has too few independent accumulators to hide the FMA
                // latency. Which rows share a tile changes no sum, so no result either.
                for (int rowTile = 0, i0 = 0; rowTile < tiles; rowTile++) {
                    const ptrdiff_t row = m0 + i0;
                    const int firstLine = rowTile * linesPerTile;
                    t.prefetch = next ? next + 64 * (ptrdiff_t)firstLine : next;
                    t.prefetch_lines = firstLine < nextLines ? min_int(linesPerTile, nextLines - firstLine) : 0;
                    t.m = rows / tiles + (rowTile < rows % tiles);
                    t.a = a + row * lda + k0;
                    t.c = c + row * ldc + n0;
                    t.h = h ? h + row * ldh + n0 : h;
                    t.row_sumsq = rowSumsq + i0;
                    s->tile(&t);
                    i0 += t.m;
                }
            }
        }
        if (epilogue == RNN_EPILOGUE_TANH_BACKWARD)
            for (int i = 0; i < rows; i++) normSum += sqrt(rowSumsq[i]);
    }
    return normSum;
}
