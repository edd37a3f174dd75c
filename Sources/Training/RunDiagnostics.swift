import Buffers
import Diagnostics
import Reporting
import RNN

/// `--diagnose-every N` (rank 0): the gradient survival of the latest step's batch — the same
/// measurement as `rnn-dist diagnose`, for every cell — and ρ(W_hh) of layer 0 for rnn cells.
/// Runs outside the timed step on a workspace of its own, made at the first use, so the
/// training step's buffers (and its zero allocations) are untouched; this path allocates.
final class RunDiagnostics {
    /// Sequences of the batch measured: the cost is a backward pass of up to T steps per loss
    /// step, while the other ranks wait at the next allreduce, so a few sequences, not the batch.
    static let sequenceLimit = 4
    /// Loss steps t averaged per sequence (every ⌈T/16⌉-th from T), for the same reason.
    static let lossSteps = 16

    private let architecture: ModelArchitecture
    private let sequenceLength: Int
    private var workspace: StackedBPTTWorkspace<Float>?

    init(architecture: ModelArchitecture, sequenceLength: Int) {
        self.architecture = architecture
        self.sequenceLength = sequenceLength
    }

    /// The first min(batchSize, sequenceLimit) sequences of inputs/targets (batch-major), from
    /// h = c = 0 and without dropout: the model as it is after this step's update.
    func measure(parameters: Buffer<Float>, inputs: Buffer<Int32>, targets: Buffer<Int32>, batchSize: Int)
        -> GradientDiagnosticsRecord? {
        let B = min(batchSize, Self.sequenceLimit)
        guard B > 0 else { return nil }
        let workspace = self.workspace ?? StackedBPTTWorkspace<Float>(architecture: architecture, maxBatchSize: Self.sequenceLimit,
                                                                     sequenceLength: sequenceLength)
        self.workspace = workspace
        var profile = GradientSurvivalProfile(architecture: architecture, sequenceLength: sequenceLength)
        profile.add(workspace.gradientSurvival(parameters: parameters, inputs: inputs, targets: targets, batchSize: B,
                                               initialState: nil, lossSteps: Self.lossSteps))
        var radius: Double?
        if architecture.cell == .rnn, let W_hh = workspace.layout.range(of: .W_hh(layer: 0)) {
            radius = SpectralAnalysis.spectralRadius(of: parameters, offset: W_hh.lowerBound, size: architecture.hiddenSize,
                                                     iterations: 200)
        }
        let curves = profile.curves
        let spacing = (sequenceLength + Self.lossSteps - 1) / Self.lossSteps
        let summary = "gradient survival (\(B) sequence\(B == 1 ? "" : "s") × \((sequenceLength + spacing - 1) / spacing) loss steps): "
            + curves.map { "\($0.name) \($0.verdict.description)" }.joined(separator: "; ")
        return GradientDiagnosticsRecord(
            survival: curves.map { .init(key: $0.key, values: $0.values) },
            tensorBoardDistances: GradientSurvivalProfile.tableDistances(sequenceLength: sequenceLength),
            spectralRadius: radius, summary: summary)
    }
}
