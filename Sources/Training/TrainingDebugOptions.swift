/// Test hooks that are not part of the configuration: they make faults happen on purpose,
/// so that the tests can prove each fault is handled.
public struct TrainingDebugOptions: Sendable {
    /// After the first step, this rank nudges one parameter (the checksum must catch it).
    public var perturbRank: Int?
    /// Each rank writes the sequence indices it trained on to DIR/rank-R.txt.
    public var traceShardsDirectory: String?
    /// Each rank writes its process id to DIR/rank-R.pid once training starts.
    public var pidDirectory: String?
    /// At this step (1-based), rank 0's gradient becomes NaN before the allreduce.
    public var nanAtStep: Int?
    /// Seconds each rank sleeps after every step, to make a run long enough to interrupt.
    public var stepDelay: Double?
    /// This rank calls one extra collective at step 2 (a mismatch check-collectives must name).
    public var mismatchRank: Int?

    public init(perturbRank: Int? = nil, traceShardsDirectory: String? = nil, pidDirectory: String? = nil,
                nanAtStep: Int? = nil, stepDelay: Double? = nil, mismatchRank: Int? = nil) {
        self.perturbRank = perturbRank
        self.traceShardsDirectory = traceShardsDirectory
        self.pidDirectory = pidDirectory
        self.nanAtStep = nanAtStep
        self.stepDelay = stepDelay
        self.mismatchRank = mismatchRank
    }
}
