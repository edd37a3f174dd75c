import Buffers
import Foundation
import MPI
import RNN
import Checkpoints
import Config
import Distributed
import Optimizers
import Reporting
import RunErrors
import Safetensors
import TextData

/// A run's state on disk: starting from fresh, `init` or `resume`; periodic, final and
/// preemption checkpoints; the best parameters by validation loss; the final `save`.
/// Rank 0 reads and writes files; the other ranks receive what they need by broadcast, so
/// no rank depends on seeing the same file system.
package struct RunCheckpoints {
    let config: TrainingConfig
    let data: TrainingData
    let layout: ModelLayout
    let collectives: Collectives
    private var world: Communicator { collectives.world }
    private var store: CheckpointStore? { config.checkpointDir.map { CheckpointStore(directory: $0, keep: config.keepCheckpoints) } }
    /// Truncated BPTT's carried h of every stream and layer, and c for LSTM: [G, H] for one
    /// layer (the shape one-layer files always had, so they resume), else [L, G, H]; row g is global stream g.
    private static let hiddenTensor = "bptt.hidden"
    private static let cellTensor = "bptt.cell"

    init(config: TrainingConfig, data: TrainingData, layout: ModelLayout, collectives: Collectives) {
        self.config = config
        self.data = data
        self.layout = layout
        self.collectives = collectives
    }

    /// Where a run starts, as rank 0 read it from a checkpoint (or zero for a fresh run), then
    /// broadcast so that every rank continues identically.
    private struct StartingPoint {
        var step = 0
        var optimizerSteps = 0
        var clippedSteps = 0
        var skippedSteps = 0
        var carriesHidden = false
        var carriesAverage = false
        var plateau = ValidationPlateau()
        var bestValidationLoss = Double.infinity
        var path: String?

        /// Rank 0's values on every rank (the path stays on rank 0, which alone reports it).
        mutating func broadcast(_ world: Communicator) throws {
            var counts = [step, optimizerSteps, clippedSteps, skippedSteps, carriesHidden ? 1 : 0, carriesAverage ? 1 : 0,
                          plateau.badEvaluations, plateau.evaluationsSinceBest]
            var loss = [bestValidationLoss, plateau.factor, plateau.best]
            try world.broadcast(&counts, root: 0)
            try world.broadcast(&loss, root: 0)
            (step, optimizerSteps, clippedSteps, skippedSteps, carriesHidden) = (counts[0], counts[1], counts[2], counts[3], counts[4] == 1)
            carriesAverage = counts[5] == 1
            bestValidationLoss = loss[0]
            plateau = ValidationPlateau(factor: loss[1], best: loss[2], badEvaluations: counts[6], evaluationsSinceBest: counts[7])
        }
    }

    /// Rank 0: the newest valid checkpoint at `resume`, checked against this run's model, corpus
    /// and optimizer (nil for a fresh run, and on the other ranks); every rank agrees it was
    /// found. Read before the model is built: it records the kernel the run continues with.
    func findResume(progress: ProgressReporter) throws -> Checkpoint? {
        guard let resume = config.resume else { return nil }
        return try RankAgreement.agree(collectives, "resume checkpoint") { () -> Checkpoint? in
            guard world.isRoot else { return nil }
            let checkpoint = try CheckpointStore.newestValid(at: resume) { warning in progress.warn(warning) }
            try checkpoint.verifyCompatible(architecture: layout.architecture, vocabulary: data.corpus.vocabulary,
                                            optimizer: config.optimizer)
            try CorpusIdentity.verify(checkpoint.file.metadata, source: checkpoint.path, corpus: data.corpus)
            return checkpoint
        }
    }

    /// The recurrence kernel rank 0's `resumed` checkpoint records, on every rank (nil for a
    /// fresh run or a file written before checkpoints recorded it).
    func recordedKernel(_ resumed: Checkpoint?) throws -> String? {
        guard config.resume != nil else { return nil }
        let name = try world.broadcast(string: resumed?.metadata.recurrenceKernel ?? "", root: 0)
        return name.isEmpty ? nil : name
    }

    /// Fresh parameters (rank 0 initializes or loads `init`) or the `resumed` checkpoint (rank
    /// 0's, from findResume), broadcast from rank 0 so that every rank starts identical.
    /// Returns the first step.
    func initialize(resumed: Checkpoint?, parameters: Buffer<Float>, optimizer: Optimizer, stepper: DataParallelStep,
                    summary: inout TrainingSummary, progress: ProgressReporter) throws -> Int {
        let a = layout.architecture
        let globalHidden = Buffer<Float>(count: a.layers * data.globalBatch * a.hiddenSize, repeating: 0)
        let globalCell = a.cell.hasCellState ? Buffer<Float>(count: globalHidden.count, repeating: 0) : nil
        var start = try RankAgreement.agree(collectives, "initial state") { () -> StartingPoint in
            guard world.isRoot else { return StartingPoint() }
            if let resumed {
                return try restore(resumed, parameters: parameters, optimizer: optimizer, average: stepper.average?.average,
                                   hidden: globalHidden, cell: globalCell, progress: progress)
            }
            if let path = config.initFile {
                let file = try SafetensorsFile.read(path: path)
                try CorpusIdentity.verify(file.metadata, source: path, corpus: data.corpus)
                try ParameterFile.copy(from: file, source: path, layout: layout, into: parameters)
            } else {
                ParameterInitializer.initialize(parameters, layout: layout,
                                                scheme: config.initScheme,
                                                seed: UInt64(config.seed), gates: config.gateInitialization)
            }
            return StartingPoint()
        }
        try start.broadcast(world)
        try collectives.broadcast(parameters, root: 0, label: "parameter broadcast", step: start.step)
        for state in optimizer.stateTensors {
            try collectives.broadcast(state.buffer, root: 0, label: "optimizer state broadcast", step: start.step)
        }
        optimizer.stepCount = start.optimizerSteps
        if let average = stepper.average {
            // A checkpoint's average continues; otherwise (a fresh run, or a checkpoint written
            // without ema) it starts at the parameters, identical on every rank.
            if start.carriesAverage {
                try collectives.broadcast(average.average, root: 0, label: "average broadcast", step: start.step)
            } else {
                average.reset(to: parameters)
            }
        }
        if start.carriesHidden, case .streams(let streams) = data.batches {
            try collectives.broadcast(globalHidden, root: 0, label: "hidden state broadcast", step: start.step)
            if let globalCell { try collectives.broadcast(globalCell, root: 0, label: "cell state broadcast", step: start.step) }
            // This rank's streams of every layer, as [L, rows, H].
            let H = a.hiddenSize, G = data.globalBatch, mine = streams.streams
            func rows(_ global: Buffer<Float>) -> [Float] {
                (0..<a.layers).flatMap { l in global.toArray(range: (l * G + mine.lowerBound) * H ..< (l * G + mine.upperBound) * H) }
            }
            stepper.restoreCarriedState(h: rows(globalHidden), c: globalCell.map(rows), rows: mine.count)
        }
        if config.resume != nil {
            summary.resumedFromStep = start.step
            summary.resumedFromPath = start.path
            summary.clippedSteps = start.clippedSteps
            summary.skippedSteps = start.skippedSteps
            summary.bestValidationLoss = start.bestValidationLoss.isFinite ? start.bestValidationLoss : nil
            summary.plateau = start.plateau
        }
        summary.steps = start.step
        return start.step
    }

    /// Rank 0: `checkpoint` into the parameters, the optimizer state and (truncated BPTT) the
    /// carried hidden state of every stream.
    private func restore(_ checkpoint: Checkpoint, parameters: Buffer<Float>, optimizer: Optimizer, average: Buffer<Float>?,
                         hidden: Buffer<Float>, cell: Buffer<Float>?, progress: ProgressReporter) throws -> StartingPoint {
        try checkpoint.restore(parameters: parameters, layout: layout, optimizer: optimizer, average: average)
        let metadata = checkpoint.metadata
        var start = StartingPoint(step: metadata.step, optimizerSteps: metadata.optimizerStepCount,
                                  clippedSteps: metadata.clippedSteps, skippedSteps: metadata.skippedSteps,
                                  bestValidationLoss: metadata.bestValidationLoss ?? .infinity, path: checkpoint.path)
        start.carriesAverage = average != nil && checkpoint.hasAverage
        start.plateau = metadata.plateau
        if let carried = checkpoint.file.tensors[Self.hiddenTensor], config.bptt == .truncated {
            let expected = carriedShape
            for (name, buffer) in [(Self.hiddenTensor, hidden)] + (cell.map { [(Self.cellTensor, $0)] } ?? []) {
                guard let tensor = name == Self.hiddenTensor ? carried : checkpoint.file.tensors[name], tensor.shape == expected else {
                    throw CheckpointError.mismatch(path: checkpoint.path, what: "the carried state '\(name)' (layers x streams x H)",
                                                   checkpoint: "\(checkpoint.file.tensors[name]?.shape.description ?? "none")",
                                                   config: "\(expected)")
                }
                buffer.copy(from: try tensor.floats())
            }
            start.carriesHidden = true
        }
        var note = "resumed from \(checkpoint.path) at step \(metadata.step)"
        if metadata.globalBatch != data.globalBatch {
            note += " (warning: its global batch was \(metadata.globalBatch), now \(data.globalBatch): the trajectory changes)"
        }
        progress.say(note)
        return start
    }

    /// Writes the checkpoint of `step` (rank 0), all ranks agreeing on the outcome.
    func write(step: Int, parameters: Buffer<Float>, optimizer: Optimizer, stepper: DataParallelStep,
               summary: inout TrainingSummary) throws {
        guard let store else { return }
        let carried = try gatherCarried(stepper.carried.h, step: step)
        let carriedCell = try stepper.carried.c.map { try gatherCarried($0, step: step) } ?? nil
        var metadata = CheckpointMetadata(
            step: step, epoch: data.batches.epoch(ofStep: max(0, step - 1)), dataCursor: step * data.globalBatch,
            globalBatch: data.globalBatch, seed: config.seed, vocabulary: data.corpus.vocabulary, architecture: layout.architecture,
            optimizer: config.optimizer, optimizerStepCount: optimizer.stepCount, config: config, ranks: world.size)
        metadata.clippedSteps = summary.clippedSteps
        metadata.skippedSteps = summary.skippedSteps
        metadata.bestValidationLoss = summary.bestValidationLoss
        metadata.recurrenceKernel = stepper.workspace.kernel.name
        metadata.plateau = summary.plateau
        switch data.batches {
        case .sequences: break
        case .streams(let streams): metadata.streamCursor = streams.chunk(ofStep: step)
        }
        summary.lastCheckpoint = try RankAgreement.agree(collectives, "checkpoint write", step: step) { () -> String? in
            guard world.isRoot else { return nil }
            var file = Checkpoint.make(metadata: metadata, parameters: parameters, layout: layout, optimizer: optimizer,
                                       average: stepper.average?.average)
            file.metadata.merge(CorpusIdentity.strings(data.corpus)) { $1 }
            if let carried {
                file.tensors[Self.hiddenTensor] = SafetensorsTensor(floats: carried, shape: carriedShape)
                if let carriedCell { file.tensors[Self.cellTensor] = SafetensorsTensor(floats: carriedCell, shape: carriedShape) }
                file.metadata["data_checksum"] = file.dataChecksum()
            }
            return try store.write(file, step: step)
        }
    }

    /// The parameters with the best validation loss so far, as `best.safetensors` beside the checkpoints.
    func writeBest(parameters: Buffer<Float>, step: Int, loss: Double) throws {
        guard let directory = config.checkpointDir else { return }
        try saveParameters(parameters, to: "\(directory)/best.safetensors", step: step, extra: ["val_loss": String(loss)])
    }

    /// `--save`: the parameters alone, with the vocabulary, readable by any safetensors reader.
    func saveParameters(_ parameters: Buffer<Float>, to path: String, step: Int, extra: [String: String] = [:]) throws {
        try RankAgreement.agree(collectives, "parameter save", step: step) {
            guard world.isRoot else { return }
            do {
                try ParameterFile.save(path: path, parameters: parameters, layout: layout,
                                       metadata: ["vocabulary": data.corpus.vocabulary.serialized, "step": String(step)]
                                           .merging(CorpusIdentity.strings(data.corpus)) { $1 }.merging(extra) { $1 })
            } catch {
                throw RunError.fault("cannot save parameters: \(error)")
            }
        }
    }

    /// The shape of the carried state tensors: [G, H] for one layer, else [L, G, H].
    private var carriedShape: [Int] {
        let a = layout.architecture
        return a.layers == 1 ? [data.globalBatch, a.hiddenSize] : [a.layers, data.globalBatch, a.hiddenSize]
    }

    /// Truncated BPTT: every stream's carried h (or c) of every layer, a RecurrentState buffer
    /// [L, capacity, H] on each rank, assembled on rank 0 as [L, G, H] (one gather).
    private func gatherCarried(_ state: Buffer<Float>, step: Int) throws -> [Float]? {
        guard case .streams(let streams) = data.batches else { return nil }
        let L = layout.architecture.layers, H = layout.architecture.hiddenSize, G = data.globalBatch
        let capacity = state.count / (L * H)
        let rowsPerRank = (G + world.size - 1) / world.size
        var mine: [Float] = []
        mine.reserveCapacity(L * rowsPerRank * H)
        for l in 0..<L {
            mine += state.toArray(range: l * capacity * H ..< (l * capacity + streams.streams.count) * H)
            mine += [Float](repeating: 0, count: (rowsPerRank - streams.streams.count) * H)
        }
        let gathered = try collectives.watchdog.guarding("hidden state gather", step: step) { try world.gather(mine, root: 0) }
        guard let gathered else { return nil }
        var global: [Float] = []
        global.reserveCapacity(L * G * H)
        for l in 0..<L {
            for rank in 0..<world.size {
                let count = streams.rangeCount(rank: rank, ranks: world.size, streams: G)
                let start = (rank * L + l) * rowsPerRank * H
                global += gathered[start ..< start + count * H]
            }
        }
        return global
    }
}
