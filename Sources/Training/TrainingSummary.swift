import Optimizers

/// What a finished run reports.
public struct TrainingSummary: Sendable {
    public var steps: Int
    public var tokens: Int = 0
    public var seconds: Double = 0
    public var finalLoss: Double = .nan
    public var entropyFloor: Double?
    public var skippedSteps = 0
    public var clippedSteps = 0
    /// The parameters' checksum, verified identical on every rank at the end.
    public var parameterChecksum: Int64 = 0
    public var resumedFromStep: Int?
    public var resumedFromPath: String?
    public var lastCheckpoint: String?
    public var finalValidation: (loss: Double, bitsPerToken: Double, perplexity: Double)?
    public var bestValidationLoss: Double?
    /// Characters of the text per token (nil: unknown), to give losses per character.
    public var charactersPerToken: Double?
    /// The plateau schedule's lr factor and early stopping's count (a checkpoint carries them).
    public var plateau = ValidationPlateau()
    /// Stopped by `early-stop` after this step.
    public var stoppedEarlyAt: Int?
    public var tensorBoardPath: String?
    /// The timeline written (`trace`, rank 0).
    public var tracePath: String?
    /// Tokens per second over the steps this process ran.
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}
