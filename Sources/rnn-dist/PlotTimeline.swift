import Foundation
import Plot
import RunErrors

/// `rnn-dist plot --timeline TRACE.json`: a trace written with `--trace` drawn as an SVG
/// timeline, for a page or a report where Perfetto cannot go. Per rank: a row for the steps
/// (and the run's work between them), a row for the phases inside each step, and a row per
/// allreduce track of buckets in flight; phases coloured as in the legend.
enum PlotTimeline {
    /// The kinds of event and their colours, in legend order (docs/observability.md names them).
    static let kinds: [(name: String, color: String)] = [
        ("step", "#4a5568"), ("batch", "#a0aec0"), ("forward", "#2b6cb0"), ("backward", "#dd6b20"),
        ("allreduce wait", "#c53030"), ("waiting for the slowest rank", "#742a2a"), ("clip", "#805ad5"), ("optimizer", "#2f855a"), ("bucket reduction", "#d69e2e"),
        ("evaluation", "#319795"), ("checkpoint", "#97266d"), ("checksum", "#718096"), ("report", "#718096"),
        ("stop check", "#a0aec0"),
    ]

    struct Event {
        let name: String, category: String, pid: Int, tid: Int, start: Double, end: Double, args: [String: Any]
        var step: Int { args["step"] as? Int ?? 0 }
    }

    /// The page for the steps `steps` (all when nil) of the trace at `path`.
    static func page(path: String, steps: ClosedRange<Int>?) throws -> (svg: String, bars: Int) {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw RunError.badInput("cannot read \(path): \((error as NSError).localizedDescription)")
        }
        guard let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let raw = document["traceEvents"] as? [[String: Any]] else {
            throw RunError.badInput("\(path) is not a trace-event JSON file (written with --trace)")
        }
        let events: [Event] = raw.compactMap { e in
            guard e["ph"] as? String == "X", let name = e["name"] as? String, let pid = e["pid"] as? Int, let tid = e["tid"] as? Int,
                  let ts = e["ts"] as? Double, let dur = e["dur"] as? Double else { return nil }
            return Event(name: name, category: e["cat"] as? String ?? "", pid: pid, tid: tid, start: ts / 1000, end: (ts + dur) / 1000,
                         args: e["args"] as? [String: Any] ?? [:])
        }
        // The steps asked for, and what ran between them (each event names the step it is part
        // of or follows), on every rank.
        let inWindow = events.filter { event in steps?.contains(event.step) ?? true }
        guard inWindow.contains(where: { $0.name == "step" }), let first = inWindow.map(\.start).min(),
              let last = inWindow.map(\.end).max() else {
            throw RunError.badInput("\(path) has no step\(steps.map { " in \($0.lowerBound)-\($0.upperBound)" } ?? "")")
        }
        let margin = (last - first) * 0.01
        let window = (first - margin)...(last + margin)

        var rows: [TimelinePlot.Row] = [], bars: [TimelinePlot.Bar] = []
        for pid in Set(events.map(\.pid)).sorted() {
            let mine = inWindow.filter { $0.pid == pid }
            let group = "rank \(pid)"
            let stepRow = rows.count
            rows.append(.init(label: "steps, between steps", group: group, height: 16))
            let phaseRow = rows.count
            rows.append(.init(label: "phases of a step", group: group, height: 24))
            for event in mine where event.tid == 1 {
                let isPhase = event.category == "phase" || event.category == "wait"
                let text = event.name == "step" ? "step \(event.step)"
                    : event.name == "waiting for the slowest rank" ? "for rank \(event.args["slowest_rank"] as? Int ?? 0)" : event.name
                bars.append(.init(row: isPhase ? phaseRow : stepRow, start: event.start, end: event.end, kind: event.name, text: text))
            }
            let lanes = Set(mine.filter { $0.tid > 1 }.map(\.tid)).sorted()
            for (k, tid) in lanes.enumerated() {
                let row = rows.count
                rows.append(.init(label: k == 0 ? "allreduce: buckets in flight" : "", group: group, height: 7))
                for event in mine where event.tid == tid {
                    let bytes = event.args["bytes"] as? Int ?? 0
                    bars.append(.init(row: row, start: event.start, end: event.end, kind: event.name,
                                      text: "bucket \(event.args["bucket"] as? Int ?? 0), \(bytes / 1024) KiB"))
                }
            }
        }
        let other = document["otherData"] as? [String: Any]
        let note = other?["note"] as? String ?? path
        let clockError = (other?["clock_error_us"] as? [Double])?.max()
        let shown = steps.map { "steps \($0.lowerBound)–\($0.upperBound)" } ?? "all steps"
        let plot = TimelinePlot(title: "Timeline: \(note)", subtitle: "\(shown); \(URL(fileURLWithPath: path).lastPathComponent)"
                                    + (clockError.map { String(format: "; ranks' clocks aligned to within %.1f µs", $0) } ?? ""),
                                timeLabel: "milliseconds since the start-up barriers", rows: rows, bars: bars,
                                kinds: kinds.filter { kind in inWindow.contains { $0.name == kind.name } }, window: window)
        return (plot.svg(), bars.count)
    }
}
