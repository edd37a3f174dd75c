// Counts heap allocations made by the whole process (Swift, OpenMPI, OpenBLAS alike), so
// that `rnn-dist bench` can show that a steady-state training step allocates nothing.
#ifndef RNN_DIST_ALLOCATION_COUNTER_H
#define RNN_DIST_ALLOCATION_COUNTER_H
#include <stdint.h>

/// Allocation calls (malloc, calloc, realloc, memalign, aligned_alloc, posix_memalign) so far.
uint64_t rnn_dist_allocation_count(void);

#endif
