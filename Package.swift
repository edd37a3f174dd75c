// swift-tools-version:6.0
import PackageDescription

// The map: one module per concern. Each line names a module, then `->` and the only modules
// it may import (ArchitectureTests reads every `import` under Sources/ and fails on any
// import this map does not draw, and on an arrow no file uses).
//
//   CMPI                                   C shims over OpenMPI's handle macros (system library)
//   CBLAS                                  OpenBLAS's CBLAS interface (system library)
//   CAllocationCounter                     counts heap allocations (malloc interposer for bench)
//   CBLASCore                              cpuid/XGETBV and the self-check's crash guard (choosing OpenBLAS's kernel)
//   CRecurrence                            the per-step recurrence microkernels and the gated cells' element-wise steps (AVX-512, AVX2+FMA, portable; chosen by cpuid)
//   CUpdate                                the optimizers' element-wise update loops in C (SSE2; Swift's SIMD square root runs lane by lane)
//   Buffers                                aligned, fixed-size numeric storage
//   Clock                                  the monotonic clock
//   RunErrors                              how a failure is classified (bad input, fault, preempted)
//   FileIO                                 whole-file and chunked reads, atomic writes, read-only maps
//   Plot                                   SVG line plots and timelines
//   TensorBoard                            TensorBoard event files (TFRecord, CRC-32C, protobuf)
//   MPI -> CMPI, Buffers                   communicator, collectives, hosts, the gradient allreduces (ring, two-level, the library's), MPI errors
//   BLAS -> CBLAS, Buffers, Clock          gemm on row-major buffers, OpenBLAS's thread count
//   BLASCore -> BLAS, CBLAS, CBLASCore     which OpenBLAS kernel runs and who chose it: cpuid, caches, the policy, the gemm self-check
//   RNN -> BLAS, Buffers, Clock, CRecurrence            the model (Model/), its BPTT (BPTT/) and the C kernels' bridges (Kernels/), clipping, sampling
//   Safetensors -> Buffers, FileIO         the safetensors format
//   TextData -> Buffers, FileIO            the data source, corpus, token files, vocabulary, tokenizer, synthetic tasks, batches
//   Config -> Optimizers, RNN, TextData, Yams    TrainingConfig, its keys and choice enums, YAML, flags, the reference
//   Optimizers -> Buffers, CUpdate         SGD, Adam, Adagrad, learning-rate schedules
//   Checkpoints -> Buffers, Config, FileIO, Optimizers, RNN, RunErrors, Safetensors, TextData    checkpoint files and the store
//   Distributed -> Buffers, Clock, MPI, RunErrors    guarded collectives, watchdog, agreement, checksum, stop signal
//   Reporting -> Distributed, RunErrors, TensorBoard    progress line, metrics, TensorBoard logging
//   Trace -> Clock, FileIO, MPI            the timeline: a preallocated per-rank event buffer, the ranks' clocks aligned, Chrome trace-event JSON
//   Training -> BLAS, BLASCore, Buffers, Checkpoints, Clock, Config, Diagnostics, Distributed, MPI, Optimizers, RNN, Reporting, RunErrors, Safetensors, TextData, Trace    the loop and the data-parallel step
//   Benchmarks -> BLAS, BLASCore, Buffers, Clock, Config, Distributed, MPI, RNN, RunErrors, TextData, Trace, Training    `rnn-dist bench`
//   Diagnostics -> BLAS, Buffers, Checkpoints, RNN, TextData    gradient survival, spectra and Jacobian products: their math and the report on a model
//   mpi-selftest -> Buffers, MPI           exercises the MPI wrapper on real ranks (the MPI tests run it)
//   rnn-dist -> ArgumentParser, BLAS, BLASCore, Benchmarks, CAllocationCounter, Checkpoints, Config, Diagnostics, Distributed, MPI, Plot, RNN, Reporting, RunErrors, TextData, Training    the command line: the only module that prints or exits
let package = Package(
    name: "rnn-dist",
    products: [
        .executable(name: "rnn-dist", targets: ["rnn-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(name: "CMPI", pkgConfig: "ompi-c", providers: [.apt(["libopenmpi-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .target(name: "CAllocationCounter"),
        .target(name: "CBLASCore"),
        .target(name: "CRecurrence"),
        .target(name: "CUpdate"),
        .target(name: "Buffers"),
        .target(name: "Clock"),
        .target(name: "RunErrors"),
        .target(name: "FileIO"),
        .target(name: "Plot"),
        .target(name: "TensorBoard"),
        .target(name: "MPI", dependencies: ["CMPI", "Buffers"]),
        .target(name: "BLAS", dependencies: ["CBLAS", "Buffers", "Clock"]),
        .target(name: "BLASCore", dependencies: ["BLAS", "CBLAS", "CBLASCore"]),
        .target(name: "RNN", dependencies: ["BLAS", "Buffers", "Clock", "CRecurrence"]),
        .target(name: "Safetensors", dependencies: ["Buffers", "FileIO"]),
        .target(name: "TextData", dependencies: ["Buffers", "FileIO"]),
        .target(name: "Config", dependencies: ["Optimizers", "RNN", "TextData", .product(name: "Yams", package: "Yams")]),
        .target(name: "Optimizers", dependencies: ["Buffers", "CUpdate"]),
        .target(name: "Checkpoints", dependencies: ["Buffers", "Config", "FileIO", "Optimizers", "RNN", "RunErrors",
                                                    "Safetensors", "TextData"]),
        .target(name: "Distributed", dependencies: ["Buffers", "Clock", "MPI", "RunErrors"]),
        .target(name: "Reporting", dependencies: ["Distributed", "RunErrors", "TensorBoard"]),
        .target(name: "Trace", dependencies: ["Clock", "FileIO", "MPI"]),
        .target(name: "Training", dependencies: ["BLAS", "BLASCore", "Buffers", "Checkpoints", "Clock", "Config", "Diagnostics", "Distributed", "MPI",
                                                 "Optimizers", "RNN", "Reporting", "RunErrors", "Safetensors", "TextData", "Trace"]),
        .target(name: "Benchmarks", dependencies: ["BLAS", "BLASCore", "Buffers", "Clock", "Config", "Distributed", "MPI", "RNN",
                                                   "RunErrors", "TextData", "Trace", "Training"]),
        .target(name: "Diagnostics", dependencies: ["BLAS", "Buffers", "Checkpoints", "RNN", "TextData"]),
        .executableTarget(name: "mpi-selftest", dependencies: ["Buffers", "MPI"]),
        .executableTarget(
            name: "rnn-dist",
            dependencies: [.product(name: "ArgumentParser", package: "swift-argument-parser"), "BLAS", "BLASCore", "Benchmarks",
                           "CAllocationCounter", "Checkpoints", "Config", "Diagnostics", "Distributed", "MPI", "Plot",
                           "RNN", "Reporting", "RunErrors", "TextData", "Training"]
        ),

        // Tests. TestSupport is what the test targets share: real processes (mpirun, the rnn-dist
        // binary, python3 with the packages a test reads our files with) and temporary folders; not shipped.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // The Double reference step of StackedBPTTWorkspace (Double: RecurrentScalar), the
        // gradient checks' engine, and the model tests' fixtures: shared by the test targets that run the model.
        .target(name: "RNNReference", dependencies: ["RNN", "BLAS", "Buffers"], path: "Tests/RNNReference"),
        // One unit-test target per module, named after it (as swift-nio's NIOCoreTests, NIOPosixTests):
        // ArchitectureTests holds each to its module's arrows. EndToEndTests runs the binary.
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "MPITests", dependencies: ["MPI", "TestSupport"]),
        .testTarget(name: "BLASTests", dependencies: ["BLAS", "Buffers"]),
        .testTarget(name: "BLASCoreTests", dependencies: ["BLASCore"]),
        .testTarget(name: "RNNTests", dependencies: ["RNN", "RNNReference", "BLAS", "Buffers", "CAllocationCounter", "Clock"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "TestSupport"]),
        .testTarget(name: "SafetensorsTests", dependencies: ["Safetensors", "TestSupport"]),
        .testTarget(name: "TextDataTests", dependencies: ["TextData", "Buffers", "TestSupport"]),
        .testTarget(name: "ConfigTests", dependencies: ["Config", "RNN", "TestSupport", "TextData"]),
        .testTarget(name: "OptimizersTests", dependencies: ["Optimizers", "Buffers", "TestSupport"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Buffers", "Checkpoints", "Config", "RNN", "Safetensors", "TestSupport", "TextData"]),
        .testTarget(name: "DistributedTests", dependencies: ["Distributed"]),
        .testTarget(name: "DiagnosticsTests", dependencies: ["Diagnostics", "BLAS", "Buffers", "RNN", "RNNReference"]),
        .testTarget(name: "ReportingTests", dependencies: ["Reporting", "Distributed", "RunErrors", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RNN"]),
        .testTarget(name: "TraceTests", dependencies: ["Trace"]),
        // The real binary under mpirun, and the in-process references its runs are held to.
        .testTarget(name: "EndToEndTests", dependencies: [
            "BLASCore", "Buffers", "Checkpoints", "Config", "FileIO", "RNN", "RNNReference", "Safetensors", "TestSupport", "TextData",
        ]),
    ],
    swiftLanguageModes: [.v5]
)
