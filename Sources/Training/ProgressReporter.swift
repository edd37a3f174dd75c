import Foundation

/// What happened over one logging interval, already reduced over the ranks.
struct IntervalReport {
    var step: Int
    var totalSteps: Int
    var epoch: Int
    var meanLoss: Double
    var tokensSeen: Int
    var gradientNormBeforeClip: Double
    var clippedFraction: Double
    var learningRate: Double
    var tokensPerSecond: Double
    var computeSeconds: Double
    var allreduceSeconds: Double
    var skippedSteps: Int
    var secondsRemaining: Double
    var validationLoss: Double?
}

/// Rank 0's progress lines (DESIGN §9) and metrics file.
final class ProgressReporter {
    private let quiet: Bool
    private let entropyFloor: Double?
    private let metrics: MetricsWriter?

    init(quiet: Bool, entropyFloor: Double?, metricsPath: String?) throws {
        self.quiet = quiet
        self.entropyFloor = entropyFloor
        metrics = try metricsPath.map { try MetricsWriter(path: $0) }
    }

    func say(_ text: String) {
        guard !quiet else { return }
        print(text)
        fflush(stdout)
    }

    func report(_ interval: IntervalReport) {
        writeMetrics(interval)
        guard !quiet else { return }
        var line = "step \(pad(interval.step, to: interval.totalSteps))/\(interval.totalSteps)"
        line += "  epoch \(interval.epoch)"
        line += "  loss " + format(interval.meanLoss, 4)
        if let floor = entropyFloor {
            line += " (floor \(format(floor, 4)), +\(format(100 * (interval.meanLoss - floor) / floor, 1))%)"
        }
        line += "  " + format(interval.meanLoss / log(2.0), 3) + " bits/tok"
        line += "  |g| " + format(interval.gradientNormBeforeClip, 3)
        if interval.clippedFraction > 0 { line += " (clipped \(format(100 * interval.clippedFraction, 0))%)" }
        line += "  " + humanRate(interval.tokensPerSecond) + " tok/s"
        let busy = interval.computeSeconds + interval.allreduceSeconds
        if busy > 0 {
            line += "  compute \(format(100 * interval.computeSeconds / busy, 0))% / allreduce \(format(100 * interval.allreduceSeconds / busy, 0))%"
        }
        if interval.skippedSteps > 0 { line += "  skipped \(interval.skippedSteps)" }
        if let validation = interval.validationLoss { line += "  val " + format(validation, 4) }
        line += "  ETA " + duration(interval.secondsRemaining)
        print(line)
        fflush(stdout)
    }

    private func writeMetrics(_ interval: IntervalReport) {
        guard let metrics else { return }
        var record: [String: Any] = [
            "step": interval.step, "epoch": interval.epoch, "loss": finite(interval.meanLoss),
            "tokens": interval.tokensSeen, "grad_norm": finite(interval.gradientNormBeforeClip),
            "clipped": finite(interval.clippedFraction), "lr": interval.learningRate,
            "tokens_per_s": finite(interval.tokensPerSecond), "compute_s": interval.computeSeconds,
            "allreduce_s": interval.allreduceSeconds, "skipped_steps": interval.skippedSteps,
        ]
        if let validation = interval.validationLoss { record["val_loss"] = finite(validation) }
        metrics.write(record)
    }

    /// JSON has no NaN or infinity: write null.
    private func finite(_ value: Double) -> Any { value.isFinite ? value : NSNull() }

    private func pad(_ step: Int, to total: Int) -> String {
        let text = String(step)
        return String(repeating: " ", count: max(0, String(total).count - text.count)) + text
    }
}

func format(_ value: Double, _ decimals: Int) -> String {
    value.isFinite ? String(format: "%.\(decimals)f", value) : String(value)
}

func humanRate(_ value: Double) -> String {
    value >= 1e6 ? format(value / 1e6, 2) + "M" : value >= 1e3 ? format(value / 1e3, 1) + "k" : format(value, 0)
}

func duration(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "?" }
    let total = Int(seconds.rounded())
    return total >= 3600 ? String(format: "%d:%02d:%02d", total / 3600, total / 60 % 60, total % 60)
                         : String(format: "%d:%02d", total / 60, total % 60)
}
