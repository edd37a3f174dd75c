// OpenBLAS's CBLAS interface; pkg-config openblas supplies the include path.
#ifndef RNN_DIST_CBLAS_SHIM_H
#define RNN_DIST_CBLAS_SHIM_H
#include <cblas.h>
#endif
