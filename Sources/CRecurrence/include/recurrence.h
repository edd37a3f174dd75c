// Microkernels for the per-time-step products of a recurrent cell, in Float:
//   forward   C[M, N] (+)= A[M, K] · W^T   a_t += h_{t-1} · W_hh^T   (N = G·H, K = H)
//   backward  C[M, N] (+)= A[M, K] · W     dh_t += da_{t+1} · W_hh   (N = H,   K = G·H)
// with W_hh row-major [G·H, H] packed once per optimizer step into the column panels that
// the microkernel streams, and the cell's element-wise step fused into the last pass over C.
// Dimension legend: M = B rows (sequences), H hidden units, G gates (1 rnn, 3 gru, 4 lstm).
//
// Paths: AVX-512F, AVX2+FMA and portable C, chosen at run time. Every entry point takes the
// path explicitly; the packed layout depends on it (pack and multiply with the same path).
#ifndef RNN_DIST_RECURRENCE_H
#define RNN_DIST_RECURRENCE_H
#include <stddef.h>

typedef enum {
    RNN_RECURRENCE_GENERIC = 0,
    RNN_RECURRENCE_AVX2 = 1,
    RNN_RECURRENCE_AVX512 = 2,
} rnn_recurrence_path;

/// What happens to C after the last pass of the product.
typedef enum {
    /// C += A·B (gated cells apply their own gates afterwards).
    RNN_EPILOGUE_ACCUMULATE = 0,
    /// C = tanh(C + A·B): C held the gathered input column + bias (forward of the tanh cell).
    RNN_EPILOGUE_TANH = 1,
    /// dh = C + A·B, then C = (1 − h²) ⊙ dh; returns Σ_rows ‖dh_row‖ (backward of the tanh cell).
    RNN_EPILOGUE_TANH_BACKWARD = 2,
} rnn_recurrence_epilogue;

/// 1 when this CPU (and OS) can run the path, else 0. The generic path is always supported.
int rnn_recurrence_supported(rnn_recurrence_path path);

/// The number of floats that the packed B = op(W) of a [K, N] product occupies.
size_t rnn_recurrence_packed_count(rnn_recurrence_path path, int n, int k);

/// Packs B[K, N] for the path. transposed = 0: B = W, W row-major [K, N] with leading
/// dimension ldw (the backward product); transposed = 1: B = W^T, W row-major [N, K] (forward).
void rnn_recurrence_pack(rnn_recurrence_path path, int n, int k, const float *w, ptrdiff_t ldw,
                         int transposed, float *packed);

/// How deep one pass over K goes; the depth decides the order of the float additions, so a
/// run and its resume must use the same.
typedef enum {
    /// The path's kc: a kc × nr block of the packed panel fits L1 while every row tile streams it.
    RNN_DEPTH_L1 = 0,
    /// One pass over K up to RNN_DEPTH_SINGLE_PASS_MAX (blocks from L2; C is loaded and stored
    /// once instead of once per pass).
    RNN_DEPTH_SINGLE_PASS = 1,
} rnn_recurrence_depth;
enum { RNN_DEPTH_SINGLE_PASS_MAX = 2048 };

/// C[M, N] (+)= A[M, K] · B with B packed by rnn_recurrence_pack, then the epilogue.
/// h (leading dimension ldh) is read by RNN_EPILOGUE_TANH_BACKWARD only and may be NULL
/// otherwise. Returns Σ_rows ‖dh_row‖ for RNN_EPILOGUE_TANH_BACKWARD, else 0.
double rnn_recurrence_product(rnn_recurrence_path path, rnn_recurrence_depth depth, int m, int n, int k,
                              const float *a, ptrdiff_t lda, const float *packed,
                              float *c, ptrdiff_t ldc, rnn_recurrence_epilogue epilogue,
                              const float *h, ptrdiff_t ldh);

#endif
