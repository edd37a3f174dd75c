// Internal: the contract between the blocked driver (recurrence.c) and each path's
// microkernel (tile_*.c). One call computes one register tile of C over one K pass.
#ifndef RNN_DIST_RECURRENCE_TILE_H
#define RNN_DIST_RECURRENCE_TILE_H
#include "recurrence.h"

typedef struct {
    int m, n, k;               // valid rows (<= mr), valid columns (<= nr), depth of this pass
    const float *a;            // A[row0, k0], leading dimension lda
    ptrdiff_t lda;
    const float *b;            // packed panel at k0: k rows of panel_width floats (zero-padded)
    int panel_width;
    float *c;                  // C[row0, col0], leading dimension ldc
    ptrdiff_t ldc;
    rnn_recurrence_epilogue epilogue;  // ACCUMULATE on every pass but the last
    const float *h;            // h[row0, col0] for TANH_BACKWARD, leading dimension ldh
    ptrdiff_t ldh;
    double *row_sumsq;         // [m]: += Σ_columns dh² for TANH_BACKWARD
    const char *prefetch;      // cache lines of the next panel block to bring into L1 while this tile
    int prefetch_lines;        // computes, one per k step (see recurrence.c)
} rnn_tile;

/// A path's register blocking: mr × nr tile, panels padded to multiples of vw columns,
/// K passes of at most kc so a kc × nr panel block stays in L1 across the row blocks.
typedef struct {
    int mr, nr, vw, kc;
    void (*tile)(const rnn_tile *tile);
} rnn_path_spec;

extern const rnn_path_spec rnn_recurrence_generic_spec;
#if defined(__x86_64__) || defined(__i386__)
extern const rnn_path_spec rnn_recurrence_avx2_spec;
extern const rnn_path_spec rnn_recurrence_avx512_spec;
#endif

// tanh as the odd rational p(x)/q(x) of degrees 13/6 (Eigen's generic_fast_tanh_float): the one
// definition of the Float paths' tanh (the products' epilogues and the cells' gates), so the
// paths agree to a few ulp. The clamp keeps NaN: the vector paths put x in the operand that
// min/max return.
#define RNN_TANH_BOUND 7.90531110763549805f
#define RNN_TANH_P13 -2.76076847742355e-16f
#define RNN_TANH_P11 2.00018790482477e-13f
#define RNN_TANH_P9 -8.60467152213735e-11f
#define RNN_TANH_P7 5.12229709037114e-08f
#define RNN_TANH_P5 1.48572235717979e-05f
#define RNN_TANH_P3 6.37261928875436e-04f
#define RNN_TANH_P1 4.89352455891786e-03f
#define RNN_TANH_Q6 1.19825839466702e-06f
#define RNN_TANH_Q4 1.18534705686654e-04f
#define RNN_TANH_Q2 2.26843463243900e-03f
#define RNN_TANH_Q0 4.89352518554385e-03f

static inline float rnn_tanhf(float x) {
    float low = x < -RNN_TANH_BOUND ? -RNN_TANH_BOUND : x;
    float c = low > RNN_TANH_BOUND ? RNN_TANH_BOUND : low;
    float c2 = c * c;
    float p = RNN_TANH_P13;
    p = p * c2 + RNN_TANH_P11;
    p = p * c2 + RNN_TANH_P9;
    p = p * c2 + RNN_TANH_P7;
    p = p * c2 + RNN_TANH_P5;
    p = p * c2 + RNN_TANH_P3;
    p = p * c2 + RNN_TANH_P1;
    float q = RNN_TANH_Q6;
    q = q * c2 + RNN_TANH_Q4;
    q = q * c2 + RNN_TANH_Q2;
    q = q * c2 + RNN_TANH_Q0;
    return c * p / q;
}

#endif
