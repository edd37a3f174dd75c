// OpenMPI's predefined handles are macros over the addresses of global structs,
// which Swift cannot import. These inline functions hand them to Swift as values.
#ifndef RNN_DIST_CMPI_SHIM_H
#define RNN_DIST_CMPI_SHIM_H
#include <mpi.h>
#if defined(OPEN_MPI) && OPEN_MPI && MPI_VERSION < 4
#include <mpi-ext.h>
#endif

static inline MPI_Comm cmpi_comm_world(void) { return MPI_COMM_WORLD; }

static inline MPI_Datatype cmpi_float(void) { return MPI_FLOAT; }
static inline MPI_Datatype cmpi_double(void) { return MPI_DOUBLE; }
static inline MPI_Datatype cmpi_int64(void) { return MPI_INT64_T; }
static inline MPI_Datatype cmpi_int32(void) { return MPI_INT32_T; }
static inline MPI_Datatype cmpi_uint8(void) { return MPI_UINT8_T; }
static inline MPI_Datatype cmpi_uint64(void) { return MPI_UINT64_T; }

static inline MPI_Op cmpi_op_sum(void) { return MPI_SUM; }
static inline MPI_Op cmpi_op_max(void) { return MPI_MAX; }
static inline MPI_Op cmpi_op_min(void) { return MPI_MIN; }

static inline void *cmpi_in_place(void) { return MPI_IN_PLACE; }
static inline MPI_Request cmpi_request_null(void) { return MPI_REQUEST_NULL; }
static inline MPI_Status *cmpi_status_ignore(void) { return MPI_STATUS_IGNORE; }
static inline MPI_Errhandler cmpi_errors_return(void) { return MPI_ERRORS_RETURN; }

static inline int cmpi_comm_type_shared(void) { return MPI_COMM_TYPE_SHARED; }
static inline MPI_Info cmpi_info_null(void) { return MPI_INFO_NULL; }
static inline MPI_Comm cmpi_comm_null(void) { return MPI_COMM_NULL; }
static inline int cmpi_tag_ub_key(void) { return MPI_TAG_UB; }

// A persistent allreduce (MPI-4's MPI_Allreduce_init; OpenMPI 4.1 ships it as the pcollreq
// extension's MPIX_Allreduce_init): the library plans the collective once, and each MPI_Start
// reuses that plan, where MPI_Iallreduce builds (and allocates) a new one per call.
// Returns MPI_ERR_UNSUPPORTED_OPERATION where the library has neither.
static inline int cmpi_allreduce_init(void *buffer, int count, MPI_Datatype type, MPI_Op op, MPI_Comm comm,
                                      MPI_Request *request) {
#if MPI_VERSION >= 4
    return MPI_Allreduce_init(MPI_IN_PLACE, buffer, count, type, op, comm, MPI_INFO_NULL, request);
#elif defined(OMPI_HAVE_MPI_EXT_PCOLLREQ) && OMPI_HAVE_MPI_EXT_PCOLLREQ
    return MPIX_Allreduce_init(MPI_IN_PLACE, buffer, count, type, op, comm, MPI_INFO_NULL, request);
#else
    (void)buffer; (void)count; (void)type; (void)op; (void)comm; (void)request;
    return MPI_ERR_UNSUPPORTED_OPERATION;
#endif
}

static inline int cmpi_success(void) { return MPI_SUCCESS; }
static inline int cmpi_max_error_string(void) { return MPI_MAX_ERROR_STRING; }
static inline int cmpi_max_processor_name(void) { return MPI_MAX_PROCESSOR_NAME; }
static inline int cmpi_thread_funneled(void) { return MPI_THREAD_FUNNELED; }

#endif
