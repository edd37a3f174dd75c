import CMPI
#if canImport(Glibc)
import Glibc
#endif

/// MPI's process-wide lifetime: initialized once on first use, finalized once at exit.
/// Without mpirun the process runs as a singleton of size 1.
enum MPIRuntime {
    /// Swift runs global initializers once, thread-safely: this is the single MPI_Init.
    /// A failure is kept and thrown to every caller (the executable reports it).
    static let initialized: Result<Void, MPIError> = {
        var provided: Int32 = 0
        let code = MPI_Init_thread(nil, nil, cmpi_thread_funneled(), &provided)
        guard code == cmpi_success() else {
            return .failure(MPIError(operation: "MPI_Init_thread", code: code, message: MPIError.errorString(code)))
        }
        atexit {
            var finalized: Int32 = 0
            MPI_Finalized(&finalized)
            if finalized == 0 && !MPIRuntime.aborted { MPI_Finalize() }
        }
        return .success(())
    }()

    /// Set before MPI_Abort so the exit hook does not try to finalize a dead job.
    nonisolated(unsafe) static var aborted = false
}
