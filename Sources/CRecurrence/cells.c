// One instance of cells_body.h per kernel path, and the dispatch by path. The target
// attributes let the compiler use the path's vector width; cpuid has been checked by whoever
// obtained the path (RecurrenceKernel in Swift), as for the product kernels.
#include "cells.h"
#include <math.h>

#define CELL_TARGET
#define CELL_FN(name) name##_generic
#include "cells_body.h"
#undef CELL_TARGET
#undef CELL_FN

#if defined(__x86_64__) || defined(__i386__)
#define CELL_TARGET __attribute__((target("avx2,fma")))
#define CELL_FN(name) name##_avx2
#include "cells_body.h"
#undef CELL_TARGET
#undef CELL_FN

#define CELL_TARGET __attribute__((target("avx512f")))
#define CELL_FN(name) name##_avx512
#include "cells_body.h"
#undef CELL_TARGET
#undef CELL_FN
#define DISPATCH(name, ...)                                              \
    switch (path) {                                                      \
    case RNN_RECURRENCE_AVX512: name##_avx512(__VA_ARGS__); return;      \
    case RNN_RECURRENCE_AVX2: name##_avx2(__VA_ARGS__); return;          \
    default: name##_generic(__VA_ARGS__); return;                        \
    }
#else
#define DISPATCH(name, ...) name##_generic(__VA_ARGS__)
#endif

void rnn_lstm_forward(rnn_recurrence_path path, int rows, int hidden, const float *pre, const float *b_hh,
                      const float *c_prev, float *gates, float *c, float *tanh_c, float *h) {
    DISPATCH(lstm_forward, rows, hidden, pre, b_hh, c_prev, gates, c, tanh_c, h)
}

void rnn_lstm_backward(rnn_recurrence_path path, int rows, int hidden, const float *dh, float *dc,
                       const float *gates, const float *c_prev, const float *tanh_c, float *dxp,
                       const rnn_cell_gradients *sums, double *c_norms) {
    DISPATCH(lstm_backward, rows, hidden, dh, dc, gates, c_prev, tanh_c, dxp, sums, c_norms)
}

void rnn_gru_forward(rnn_recurrence_path path, int rows, int hidden, const float *xp, const float *hp,
                     const float *b_hh, const float *h_prev, float *gates, float *hn, float *h) {
    DISPATCH(gru_forward, rows, hidden, xp, hp, b_hh, h_prev, gates, hn, h)
}

void rnn_gru_backward(rnn_recurrence_path path, int rows, int hidden, const float *dh, const float *gates,
                      const float *hn, const float *h_prev, float *dxp, float *dhp, float *dh_prev,
                      const rnn_cell_gradients *sums) {
    DISPATCH(gru_backward, rows, hidden, dh, gates, hn, h_prev, dxp, dhp, dh_prev, sums)
}
