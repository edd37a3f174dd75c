// swift-tools-version:6.0
import PackageDescription

// Architecture: one module per concern. The arrows are the only imports allowed
// (ArchitectureTests reads every `import` under Sources/ and fails on any other).
//   CMPI, CBLAS        thin C shims over OpenMPI and OpenBLAS
//   Buffers            aligned, fixed-size numeric storage
//   FileIO             whole-file and chunked reads, atomic writes (temp file, fsync, rename), read-only maps
//   MPI          -> CMPI, Buffers            communicator, collectives, ring allreduce, errors
//   BLAS         -> CBLAS, Buffers           gemm over row-major buffers, thread count, clock
//   RNN          -> BLAS, Buffers            the model: forward pass, BPTT, clipping, sampling
//   Plot                                     standalone SVG line plots
//   TensorBoard                              standalone TensorBoard event-file writer
//   Safetensors  -> Buffers, FileIO          the safetensors file format
//   TextData     -> Buffers, FileIO          corpus, token files, vocabulary, tokenizer, synthetic tasks, batches
//   Config       -> Yams                     TrainingConfig, its keys, YAML loading
//   Optimizers   -> Buffers                  SGD, Adam, Adagrad, learning-rate schedules
//   Checkpoints  -> Buffers, FileIO, Safetensors, TextData, Config, RNN
//                                            checkpoint files, their metadata, the store
//   Distributed  -> MPI, Buffers, BLAS       guarded collectives, watchdog, agreement, checksum, stop signal
//   Reporting    -> TensorBoard, Distributed progress line, metrics, TensorBoard logging
//   Training     -> all of the above but Plot   the loop and the data-parallel step
//   Benchmarks   -> Training and its parts   `rnn-dist bench`
//   Diagnostics  -> RNN, Buffers             gradient flow and spectra of a trained model
//   rnn-dist     -> everything               the command line: the only place that prints or exits
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
        .target(name: "RNN", dependencies: ["BLAS", "Buffers"]),
        .target(name: "Plot"),
        .target(name: "TensorBoard"),
        .target(name: "RunErrors"),
        .target(name: "FileIO"),
        .target(name: "Safetensors", dependencies: ["Buffers", "FileIO"]),
        .target(name: "TextData", dependencies: ["Buffers", "FileIO"]),
        .target(name: "Config", dependencies: [.product(name: "Yams", package: "Yams")]),
        .target(name: "Optimizers", dependencies: ["Buffers"]),
        .target(name: "Checkpoints", dependencies: ["RunErrors", "Buffers", "FileIO", "Safetensors", "TextData", "Config", "RNN", "Optimizers"]),
        .target(name: "Distributed", dependencies: ["RunErrors", "MPI", "Buffers", "BLAS"]),
        .target(name: "Reporting", dependencies: ["RunErrors", "TensorBoard", "Distributed"]),
        .target(
            name: "Training",
            dependencies: ["RunErrors", "MPI", "BLAS", "RNN", "Buffers", "FileIO", "TextData", "Config", "Optimizers",
                           "Checkpoints", "Distributed", "Reporting"]
        ),
        .target(name: "Benchmarks", dependencies: ["RunErrors", "Training", "MPI", "BLAS", "RNN", "Buffers", "TextData",
                                                   "Config", "Optimizers", "Distributed"]),
        .target(name: "Diagnostics", dependencies: ["RNN", "Buffers", "TextData", "Checkpoints"]),
        .executableTarget(
            name: "rnn-dist",
            dependencies: ["Training", "MPI", "RNN", "BLAS", "Buffers", "CAllocationCounter", "Plot", "FileIO", "Safetensors",
                           "TextData", "Config", "Optimizers", "Checkpoints", "Distributed", "Reporting", "RunErrors",
                           "Benchmarks", "Diagnostics",
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
        .testTarget(name: "TrainingTests", dependencies: ["Training", "RNN", "MPI", "Buffers", "TestSupport", "FileIO",
                                                         "Safetensors", "TextData", "Config", "Optimizers", "Checkpoints",
                                                         "Distributed", "Reporting", "Benchmarks", "Diagnostics", "RunErrors"]),
    ],
    swiftLanguageModes: [.v5]
)
