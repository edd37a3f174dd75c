// swift-tools-version:6.0
import PackageDescription

// Architecture (one module per concern; arrows are the only allowed imports):
//   CMPI, CBLAS        thin C shims over OpenMPI and OpenBLAS
//   Buffers            aligned, fixed-size numeric storage shared by MPI, BLAS and RNN
//   MPI   -> CMPI      communicator, collectives, errors (knows nothing of RNNs)
//   BLAS  -> CBLAS     gemm over row-major buffers, thread count
//   CRecurrence        the per-step recurrence microkernels (C, chosen at run time by cpuid)
//   RNN   -> BLAS, CRecurrence   the model, forward pass and BPTT (knows nothing of MPI)
//   Plot               standalone SVG line plots (knows nothing of the rest)
//   TensorBoard        standalone TensorBoard event-file writer (TFRecord, CRC-32C, protobuf)
//   Training -> MPI, RNN, TensorBoard   data, sharding, sync, optimizers, checkpoints, config, logging
//   rnn-dist -> Training   the thin command line
let package = Package(
    name: "rnn-dist",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "rnn-dist", targets: ["rnn-dist"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
    ],
    targets: [
        .systemLibrary(
            name: "CMPI",
            pkgConfig: "ompi-c",
            providers: [.apt(["libopenmpi-dev"])]
        ),
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        .target(name: "Buffers"),
        // Counts heap allocations process-wide for `rnn-dist bench` (linked into rnn-dist only).
        .target(name: "CAllocationCounter"),
        .target(name: "MPI", dependencies: ["CMPI", "Buffers"]),
        .target(name: "BLAS", dependencies: ["CBLAS", "Buffers"]),
        // Hand-written microkernels for the per-time-step recurrence products (AVX-512, AVX2, C).
        .target(name: "CRecurrence"),
        .target(name: "RNN", dependencies: ["BLAS", "Buffers", "CRecurrence"]),
        .target(name: "Plot"),
        .target(name: "TensorBoard"),
        .target(
            name: "Training",
            dependencies: ["MPI", "RNN", "BLAS", "Buffers", "TensorBoard", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "rnn-dist",
            dependencies: ["Training", "MPI", "RNN", "BLAS", "CAllocationCounter", "Plot",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // A small program that exercises the MPI wrapper; the MPI tests run it under mpirun.
        .executableTarget(name: "mpi-selftest", dependencies: ["MPI"]),
        // Runs real processes (mpirun, the rnn-dist binary) for the tests; not shipped.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(name: "MPITests", dependencies: ["MPI", "TestSupport"]),
        .testTarget(name: "BLASTests", dependencies: ["BLAS", "Buffers"]),
        .testTarget(name: "RNNTests", dependencies: ["RNN", "BLAS", "Buffers"]),
        .testTarget(name: "PlotTests", dependencies: ["Plot"]),
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RNN", "MPI", "Buffers", "TestSupport"]),
    ],
    swiftLanguageModes: [.v5]
)
