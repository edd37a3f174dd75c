#ifndef RNN_DIST_UPDATE_H
#define RNN_DIST_UPDATE_H

#include <stddef.h>

/// One Adam step over n elements (torch.optim.Adam, amsgrad off; the scalars are computed by
/// the caller in double and rounded once):
///     d = g + wd·p;  m = m + b1c·(d − m);  v = b2·v + (b2c·d)·d
///     p = p − (step·m) / (sqrt(v) / c2 + eps)
/// Four lanes at a time with SSE2 (every x86-64 has it) and the same IEEE operations in the same
/// order as the scalar tail, so the result does not depend on n's remainder or the path.
void rnn_adam_step(float *p, const float *g, float *m, float *v, size_t n,
                   float b1c, float b2, float b2c, float wd, float step, float c2, float eps);

#endif
