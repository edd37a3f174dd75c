import Foundation
import Training
import Config

/// The final summary rank 0 prints.
enum SummaryText {
    static func describe(_ summary: TrainingSummary, config: TrainingConfig, ranks: Int) -> String {
        var lines: [String] = []
        if let step = summary.resumedFromStep {
            lines.append("resumed at step \(step) from \(summary.resumedFromPath ?? "a checkpoint")")
        }
        if let step = summary.stoppedEarlyAt {
            lines.append("stopped early at step \(step): \(config.earlyStop) evaluations without a better validation loss")
        }
        lines += ["done: \(summary.steps) steps, \(summary.tokens) tokens in \(formatSeconds(summary.seconds)) s, "
            + "\(Int(summary.tokensPerSecond)) tokens/s on \(ranks) rank\(ranks == 1 ? "" : "s")"]
        var loss = "final loss \(formatLoss(summary.finalLoss)) nats/token"
        if let floor = summary.entropyFloor {
            loss += " (entropy floor \(formatLoss(floor)), within \(String(format: "%.1f", 100 * (summary.finalLoss - floor) / floor))%)"
        }
        lines.append(loss)
        if let validation = summary.finalValidation {
            var line = "validation loss \(formatLoss(validation.loss)) nats/token, \(String(format: "%.3f", validation.bitsPerToken)) bits/token, perplexity \(String(format: "%.3f", validation.perplexity))"
            if let perCharacter = summary.charactersPerToken {
                line += ", \(formatLoss(validation.loss / perCharacter)) nats/char, "
                    + "\(String(format: "%.3f", validation.loss / perCharacter / log(2.0))) bits/char"
            }
            if let best = summary.bestValidationLoss, best < validation.loss { line += " (best \(formatLoss(best)))" }
            lines.append(line)
        }
        if summary.skippedSteps > 0 { lines.append("skipped steps (non-finite gradient): \(summary.skippedSteps)") }
        lines.append("clipped steps: \(summary.clippedSteps) of \(summary.steps)")
        lines.append("parameters identical on all \(ranks) rank\(ranks == 1 ? "" : "s") (checksum \(String(summary.parameterChecksum, radix: 16)))")
        if let checkpoint = summary.lastCheckpoint { lines.append("last checkpoint: \(checkpoint)") }
        if let save = config.save { lines.append("parameters saved to \(save)") }
        if let metrics = config.metrics { lines.append("metrics written to \(metrics)") }
        if let events = summary.tensorBoardPath { lines.append("TensorBoard events written to \(events)") }
        if let trace = summary.tracePath { lines.append("trace written to \(trace) (open it in ui.perfetto.dev or chrome://tracing)") }
        return lines.joined(separator: "\n")
    }

    private static func formatLoss(_ value: Double) -> String {
        value.isFinite ? String((value * 10_000).rounded() / 10_000) : String(value)
    }

    private static func formatSeconds(_ value: Double) -> String { String((value * 100).rounded() / 100) }
}
