import Foundation
import Distributed

/// What happened over one logging interval, already reduced over the ranks.
package struct IntervalReport {
    package var step: Int
    package var totalSteps: Int
    package var epoch: Int
    package var meanLoss: Double
    package var tokensSeen: Int
    package var gradientNormBeforeClip: Double
    package var clippedFraction: Double
    package var learningRate: Double
    package var tokensPerSecond: Double
    package var computeSeconds: Double
    package var allreduceSeconds: Double
    package var skippedSteps: Int
    package var secondsRemaining: Double
    package var validationLoss: Double?
    /// Rank 0 only: every rank's compute and allreduce time over the interval.
    package var timing: RankTiming?
    /// Diagnostics, when they ran at this step (`--diagnose-every`).
    package var diagnostics: GradientDiagnosticsRecord?

    package init(step: Int, totalSteps: Int, epoch: Int, meanLoss: Double, tokensSeen: Int, gradientNormBeforeClip: Double, clippedFraction: Double, learningRate: Double, tokensPerSecond: Double, computeSeconds: Double, allreduceSeconds: Double, skippedSteps: Int, secondsRemaining: Double, validationLoss: Double?, timing: RankTiming?, diagnostics: GradientDiagnosticsRecord?) {
        self.step = step
        self.totalSteps = totalSteps
        self.epoch = epoch
        self.meanLoss = meanLoss
        self.tokensSeen = tokensSeen
        self.gradientNormBeforeClip = gradientNormBeforeClip
        self.clippedFraction = clippedFraction
        self.learningRate = learningRate
        self.tokensPerSecond = tokensPerSecond
        self.computeSeconds = computeSeconds
        self.allreduceSeconds = allreduceSeconds
        self.skippedSteps = skippedSteps
        self.secondsRemaining = secondsRemaining
        self.validationLoss = validationLoss
        self.timing = timing
        self.diagnostics = diagnostics
    }
}

/// Where rank 0's progress goes. The executable decides how it is shown (a live status line
/// on a terminal, plain lines in a batch log); the libraries only compose the text.
public protocol ProgressOutput: AnyObject {
    /// True when `status` redraws one line in place (a terminal): a line worth keeping, such
    /// as one with a validation figure, is then also written above it with `line`.
    var redrawsInPlace: Bool { get }
    /// A line of its own.
    func line(_ text: String)
    /// The progress line of the latest log step.
    func status(_ text: String)
    /// Something the user should know that is not an error (shown even with --quiet).
    func warning(_ text: String)
    /// Ends the status line before the final summary.
    func finish()
}

/// Rank 0's progress (docs/design.md §9): the progress line for the output the executable passed in,
/// the metrics file and the TensorBoard event file. Other ranks have no output.
package final class ProgressReporter {
    private let output: ProgressOutput?
    private let quiet: Bool
    private let entropyFloor: Double?
    /// Characters of the underlying text per token (a BPE's ~3–4, a character model's 1): losses
    /// are also given per character, so models with different tokenizers compare (nil: unknown).
    private let charactersPerToken: Double?
    private let metrics: MetricsWriter?
    private let tensorBoard: TensorBoardLogger?

    package init(output: ProgressOutput?, quiet: Bool, entropyFloor: Double?, charactersPerToken: Double? = nil,
                 metricsPath: String?, appendMetrics: Bool = false, tensorBoardDirectory: String?) throws {
        self.output = output
        self.quiet = quiet
        self.entropyFloor = entropyFloor
        self.charactersPerToken = charactersPerToken
        metrics = try metricsPath.map { try MetricsWriter(path: $0, append: appendMetrics) }
        tensorBoard = try tensorBoardDirectory.map { try TensorBoardLogger(directory: $0) }
    }

    package var tensorBoardPath: String? { tensorBoard?.path }

    /// A line of its own (above the live status line on a terminal).
    package func say(_ text: String) {
        guard !quiet else { return }
        output?.line(text)
    }

    /// A warning: shown even when quiet.
    package func warn(_ text: String) {
        output?.warning(text)
    }

    /// Ends the live status line before the final summary.
    package func finish() {
        output?.finish()
        try? tensorBoard?.close()
    }

    package func report(_ interval: IntervalReport) throws {
        let record = metricsRecord(interval)
        metrics?.write(record)
        if let tensorBoard {
            var scalars = record.compactMapValues { ($0 as? Double) ?? ($0 as? Int).map(Double.init) }
            scalars.merge(interval.timing?.tensorBoardMetrics ?? [:]) { $1 }
            scalars["bits_per_token"] = interval.meanLoss / log(2.0)
            scalars.merge(interval.diagnostics?.tensorBoardScalars ?? [:]) { $1 }
            scalars["step"] = nil
            try tensorBoard.log(scalars, step: interval.step)
        }
        guard !quiet, let output else { return }
        if let diagnostics = interval.diagnostics { output.line("step \(interval.step): \(diagnostics.summary)") }
        let line = progressLine(interval)
        output.status(line)
        if output.redrawsInPlace, let validation = interval.validationLoss {
            output.line(line + "  (validation \(format(validation, 4)))")
        }
    }

    private func progressLine(_ interval: IntervalReport) -> String {
        var line = "step \(pad(interval.step, to: interval.totalSteps))/\(interval.totalSteps)"
        line += "  epoch \(interval.epoch)"
        line += "  loss " + format(interval.meanLoss, 4)
        if let floor = entropyFloor {
            line += " (floor \(format(floor, 4)), +\(format(100 * (interval.meanLoss - floor) / floor, 1))%)"
        }
        line += "  " + format(interval.meanLoss / log(2.0), 3) + " bits/tok"
        if let perCharacter = charactersPerToken, perCharacter != 1 {
            line += " " + format(interval.meanLoss / perCharacter / log(2.0), 3) + " bits/char"
        }
        line += "  |g| " + format(interval.gradientNormBeforeClip, 3)
        if interval.clippedFraction > 0 { line += " (clipped \(format(100 * interval.clippedFraction, 0))%)" }
        line += "  " + humanRate(interval.tokensPerSecond) + " tok/s"
        let busy = interval.computeSeconds + interval.allreduceSeconds
        if busy > 0 {
            line += "  compute \(format(100 * interval.computeSeconds / busy, 0))% / allreduce \(format(100 * interval.allreduceSeconds / busy, 0))%"
        }
        if let timing = interval.timing, timing.computeSeconds.count > 1 {
            line += "  slowest rank \(timing.slowestRank) (x\(format(timing.imbalance, 2)))"
        }
        if interval.skippedSteps > 0 { line += "  skipped \(interval.skippedSteps)" }
        if let validation = interval.validationLoss {
            line += "  val " + format(validation, 4)
            if let perCharacter = charactersPerToken, perCharacter != 1 { line += " (" + format(validation / perCharacter, 4) + " nats/char)" }
        }
        line += "  ETA " + duration(interval.secondsRemaining)
        return line
    }

    private func metricsRecord(_ interval: IntervalReport) -> [String: Any] {
        var record: [String: Any] = [
            "step": interval.step, "epoch": interval.epoch, "loss": finite(interval.meanLoss),
            "tokens": interval.tokensSeen, "grad_norm": finite(interval.gradientNormBeforeClip),
            "clipped": finite(interval.clippedFraction), "lr": interval.learningRate,
            "tokens_per_s": finite(interval.tokensPerSecond), "compute_s": interval.computeSeconds,
            "allreduce_s": interval.allreduceSeconds, "skipped_steps": interval.skippedSteps,
        ]
        if let validation = interval.validationLoss { record["val_loss"] = finite(validation) }
        if let perCharacter = charactersPerToken {
            record["nats_per_char"] = finite(interval.meanLoss / perCharacter)
            if let validation = interval.validationLoss { record["val_nats_per_char"] = finite(validation / perCharacter) }
        }
        if let timing = interval.timing { record.merge(timing.metrics) { $1 } }
        if let diagnostics = interval.diagnostics {
            record["gradient_survival"] = Dictionary(uniqueKeysWithValues: diagnostics.survival.map { ($0.key, $0.values.map(finite)) })
            if let radius = diagnostics.spectralRadius { record["spectral_radius_w_hh"] = finite(radius) }
        }
        return record
    }

    /// JSON has no NaN or infinity: write null.
    private func finite(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

    private func pad(_ step: Int, to total: Int) -> String {
        let text = String(step)
        return String(repeating: " ", count: max(0, String(total).count - text.count)) + text
    }
}

package func format(_ value: Double, _ decimals: Int) -> String {
    value.isFinite ? String(format: "%.\(decimals)f", value) : String(value)
}

package func humanRate(_ value: Double) -> String {
    value >= 1e6 ? format(value / 1e6, 2) + "M" : value >= 1e3 ? format(value / 1e3, 1) + "k" : format(value, 0)
}

package func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let total = Int(seconds.rounded())
    return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
                         : String(format: "%d:%02d", total / 60, total % 60)
}
