// The element-wise step of the gated cells in Float (DESIGN §2b, PyTorch's gate order), for
// the B rows of one time step, forward and backward side by side. Each entry point takes the
// kernel path (rnn_recurrence_path): the same C source is compiled for AVX-512F, AVX2+FMA and
// the baseline ISA (cells.c), so the loops vectorize without a -march flag and every path
// computes the same formulas. The per-step product h_{t−1}·W_hh^T (recurrence.h) comes first.
//
// Legend: B rows (sequences) of the step, H hidden units; rows of gates are [G·H], the gate
// blocks in order (lstm i, f, g, o; gru r, z, n). σ(x) = ½ + ½·tanh(x/2) and tanh are the
// rational tanh of the tanh kernels (tile.h), error below 3e-7.
#ifndef RNN_DIST_CELLS_H
#define RNN_DIST_CELLS_H
#include "recurrence.h"

/// lstm forward. pre [B, 4H] holds xp + h_{t−1}·W_hh^T (xp = W_xh x + b_xh); b_hh [4H] is added
/// here. Writes gates [B, 4H] = (σ(i), σ(f), tanh(g), σ(o)), c = f⊙c_prev + i⊙g, tanh_c = tanh(c)
/// and h = o⊙tanh(c), each [B, H].
void rnn_lstm_forward(rnn_recurrence_path path, int rows, int hidden, const float *pre, const float *b_hh,
                      const float *c_prev, float *gates, float *c, float *tanh_c, float *h);

/// The weight gradients that a backward step can take while its rows are in registers, so that
/// no pass over all T·B rows of dxp follows for them. Every pointer may be NULL (not wanted).
typedef struct {
    float *db_hh;             // [G·H] += Σ_rows ∂L/∂(W_hh h + b_hh)
    float *db_xh;             // [G·H] += Σ_rows ∂L/∂(W_xh x + b_xh)
    float *dW_xhT;            // layer 0's one-hot input: row tokens[b·token_stride] of [V, G·H] += dxp row b
    const int *tokens;
    ptrdiff_t token_stride;
} rnn_cell_gradients;

/// lstm backward. dh [B, H] is the total ∂L/∂h_t; dc [B, H] holds ∂L/∂c_t from step t+1 and
/// leaves ∂L/∂c_{t−1}. Writes dxp [B, 4H] = ∂L/∂pre (for lstm also ∂L/∂(W_hh h + b_hh)), adds
/// to `sums` (may be NULL). c_norms (may be NULL): ‖∂L/∂c_t‖ per row.
void rnn_lstm_backward(rnn_recurrence_path path, int rows, int hidden, const float *dh, float *dc,
                       const float *gates, const float *c_prev, const float *tanh_c, float *dxp,
                       const rnn_cell_gradients *sums, double *c_norms);

/// gru forward. xp [B, 3H] = W_xh x + b_xh, hp [B, 3H] = h_{t−1}·W_hh^T, b_hh [3H]. Writes gates
/// [B, 3H] = (r, z, n), hn [B, H] = hp_n + b_hn (which r multiplies) and h = (1−z)⊙n + z⊙h_prev.
void rnn_gru_forward(rnn_recurrence_path path, int rows, int hidden, const float *xp, const float *hp,
                     const float *b_hh, const float *h_prev, float *gates, float *hn, float *h);

/// gru backward. dh [B, H] is the total ∂L/∂h_t. Writes dxp [B, 3H] = ∂L/∂(xp) and dhp [B, 3H]
/// = ∂L/∂(hp + b_hh), adds to `sums` (may be NULL); adds the direct path z⊙dh to dh_prev [B, H]
/// (may be NULL at t = 1).
void rnn_gru_backward(rnn_recurrence_path path, int rows, int hidden, const float *dh, const float *gates,
                      const float *hn, const float *h_prev, float *dxp, float *dhp, float *dh_prev,
                      const rnn_cell_gradients *sums);

#endif
