import Clock
import FileIO
import MPI

/// The ranks' timelines as one Chrome trace-event JSON file (the format chrome://tracing and
/// ui.perfetto.dev open): complete events (`"ph": "X"`, `ts` and `dur` in microseconds),
/// `pid` = rank, `tid` 1 = the training thread, `tid` 2, 3, … = the gradient buckets in
/// flight (laid out in lanes so that no two on one lane overlap), with metadata events naming
/// each process ("rank 0", …) and track.
///
/// Clocks: each rank's CLOCK_MONOTONIC has its own zero. `align` passes a barrier twice (the
/// first to make every connection, the second to measure) and takes each rank's clock as it
/// leaves; timestamps are relative to that, so the ranks line up to within the barrier's
/// exit skew (microseconds on one host, about one network latency across hosts). Clock rates
/// are assumed equal (no drift correction: runs are minutes, not days).
public enum ChromeTrace {
    /// Every rank: sets `recorder`'s time zero (collective; see the type's note on clocks).
    public static func align(_ recorder: TraceRecorder, world: Communicator) throws {
        guard recorder.isOn else { return }
        try world.barrier()
        try world.barrier()
        recorder.align(origin: MonotonicClock.seconds())
    }

    /// Fields of one event when the ranks send theirs to rank 0.
    private static let fields = 7

    /// Every rank: sends its events to rank 0 (collective); rank 0 returns the file's bytes,
    /// the others nil. `note`: what ran (shown in the file's `otherData`).
    public static func gather(_ recorder: TraceRecorder, world: Communicator, note: String) throws -> [UInt8]? {
        let summary = [Double(recorder.count), Double(recorder.dropped), Double(recorder.firstDroppedStep ?? -1),
                       Double(recorder.capacity)]
        let summaries = try world.gather(summary, root: 0)
        let longest = Int(try world.allreduce(Double(recorder.count), op: .max))
        var packed = [Double](repeating: 0, count: longest * fields)
        for (i, event) in recorder.recorded.enumerated() {
            let values = [Double(event.phase.rawValue), Double(event.track.rawValue), event.start - recorder.origin,
                          event.end - recorder.origin, Double(event.step), Double(event.index), Double(event.bytes)]
            for (f, value) in values.enumerated() { packed[i * fields + f] = value }
        }
        let all = try world.gather(packed, root: 0)
        guard let all, let summaries else { return nil }
        var ranks: [Rank] = []
        for r in 0..<world.size {
            let count = Int(summaries[r * 4])
            var events: [TraceEvent] = []
            events.reserveCapacity(count)
            for i in 0..<count {
                let v = all[(r * longest + i) * fields ..< (r * longest + i + 1) * fields].map { $0 }
                events.append(TraceEvent(phase: TracePhase(rawValue: UInt8(v[0])) ?? .step, track: TraceTrack(rawValue: UInt8(v[1])) ?? .training,
                                         start: v[2], end: v[3], step: Int32(v[4]), index: Int32(v[5]), bytes: Int(v[6])))
            }
            let firstDropped = Int(summaries[r * 4 + 2])
            ranks.append(Rank(events: events, dropped: Int(summaries[r * 4 + 1]), firstDroppedStep: firstDropped < 0 ? nil : firstDropped,
                              capacity: Int(summaries[r * 4 + 3])))
        }
        return Array(json(ranks: ranks, note: note).utf8)
    }

    /// One rank's events, times in seconds from its aligned zero.
    public struct Rank: Sendable {
        public var events: [TraceEvent]
        public var dropped: Int
        public var firstDroppedStep: Int?
        public var capacity: Int

        public init(events: [TraceEvent], dropped: Int = 0, firstDroppedStep: Int? = nil, capacity: Int) {
            (self.events, self.dropped, self.firstDroppedStep, self.capacity) = (events, dropped, firstDroppedStep, capacity)
        }
    }

    /// The training thread's tid; bucket lane k is `firstLaneThread + k`.
    public static let trainingThread = 1
    public static let firstLaneThread = 2

    /// Lanes for the bucket events (in their order): each takes the lowest lane free at its
    /// start, so events on one lane never overlap.
    static func lanes(_ events: [TraceEvent]) -> [Int] {
        let order = events.indices.filter { events[$0].track == .allreduce }.sorted { events[$0].start < events[$1].start }
        var lane = [Int](repeating: 0, count: events.count), busyUntil: [Double] = []
        for i in order {
            if let free = busyUntil.firstIndex(where: { $0 <= events[i].start }) {
                lane[i] = free
                busyUntil[free] = events[i].end
            } else {
                lane[i] = busyUntil.count
                busyUntil.append(events[i].end)
            }
        }
        return lane
    }

    /// Per rank, the part of each step's allreduce wait that lay before the step's slowest
    /// rank ended its (last) backward pass: waiting for that rank, not for the network. On the
    /// aligned clocks, so exact to within their skew; `index` names the slowest rank.
    static func slowestRankWaits(_ ranks: [Rank]) -> [[TraceEvent]] {
        var backwardEnd: [Int32: (end: Double, rank: Int)] = [:]
        for (rank, data) in ranks.enumerated() {
            for e in data.events where e.phase == .backward && e.end > backwardEnd[e.step]?.end ?? -.infinity {
                backwardEnd[e.step] = (e.end, rank)
            }
        }
        return ranks.map { data in
            data.events.compactMap { wait in
                guard wait.phase == .allreduceWait, let slowest = backwardEnd[wait.step], slowest.end > wait.start else { return nil }
                return TraceEvent(phase: .slowestRank, track: .training, start: wait.start, end: min(wait.end, slowest.end),
                                  step: wait.step, index: Int32(slowest.rank), bytes: 0)
            }
        }
    }

    /// The document (events of each rank sorted by start, parents before their children).
    public static func json(ranks: [Rank], note: String) -> String {
        var ranks = ranks
        if ranks.count > 1 {
            for (rank, waits) in slowestRankWaits(ranks).enumerated() { ranks[rank].events += waits }
        }
        var out = "{\"displayTimeUnit\":\"ms\",\n\"otherData\":{"
        out += "\"producer\":\"rnn-dist\",\"note\":\(quoted(note)),\"ranks\":\(ranks.count),"
        out += "\"clock\":\(quoted("microseconds since each rank left a start-up barrier (its CLOCK_MONOTONIC minus its reading there); ranks line up within the barrier's exit skew")),"
        out += "\"events_per_rank_cap\":\(ranks.map(\.capacity).max() ?? 0),"
        out += "\"dropped_events\":[\(ranks.map { String($0.dropped) }.joined(separator: ","))]"
        let lossy = ranks.enumerated().filter { $0.element.dropped > 0 }
        if !lossy.isEmpty {
            let text = lossy.map { "rank \($0.offset): \($0.element.dropped) events from step \($0.element.firstDroppedStep ?? 0) on" }
            out += ",\"dropped_note\":\(quoted("the per-rank event buffer filled; not recorded: " + text.joined(separator: "; ")))"
        }
        out += "},\n\"traceEvents\":[\n"
        var lines: [String] = []
        for (rank, data) in ranks.enumerated() {
            let lane = lanes(data.events)
            let laneCount = (lane.indices.filter { data.events[$0].track == .allreduce }.map { lane[$0] }.max() ?? -1) + 1
            lines.append(metadata("process_name", pid: rank, tid: nil, args: "{\"name\":\(quoted("rank \(rank)"))}"))
            lines.append(metadata("process_sort_index", pid: rank, tid: nil, args: "{\"sort_index\":\(rank)}"))
            if data.dropped > 0 {
                lines.append(metadata("process_labels", pid: rank, tid: nil,
                                      args: "{\"labels\":\(quoted("\(data.dropped) events dropped from step \(data.firstDroppedStep ?? 0) (buffer full)"))}"))
            }
            lines.append(metadata("thread_name", pid: rank, tid: trainingThread, args: "{\"name\":\"training\"}"))
            lines.append(metadata("thread_sort_index", pid: rank, tid: trainingThread, args: "{\"sort_index\":\(trainingThread)}"))
            for k in 0..<laneCount {
                let tid = firstLaneThread + k
                lines.append(metadata("thread_name", pid: rank, tid: tid, args: "{\"name\":\(quoted("allreduce buckets \(k + 1)"))}"))
                lines.append(metadata("thread_sort_index", pid: rank, tid: tid, args: "{\"sort_index\":\(tid)}"))
            }
            // Start order, and the longer first at equal starts (the derived wait after its parent): a
            // viewer nests by order.
            let order = data.events.indices.sorted {
                let (a, b) = (data.events[$0], data.events[$1])
                if a.start != b.start { return a.start < b.start }
                return a.end != b.end ? a.end > b.end : a.phase.rawValue < b.phase.rawValue
            }
            for i in order {
                let e = data.events[i]
                let tid = e.track == .allreduce ? firstLaneThread + lane[i] : trainingThread
                var args = "\"step\":\(e.step)"
                switch e.phase {
                case .bucket: args += ",\"bucket\":\(e.index),\"bytes\":\(e.bytes)"
                case .forward, .backward: args += ",\"micro_batch\":\(e.index)"
                case .slowestRank: args += ",\"slowest_rank\":\(e.index)"
                default: break
                }
                lines.append("{\"name\":\(quoted(e.phase.name)),\"cat\":\"\(e.phase.category)\",\"ph\":\"X\",\"pid\":\(rank),\"tid\":\(tid),"
                    + "\"ts\":\(microseconds(e.start)),\"dur\":\(microseconds(e.end - e.start)),\"args\":{\(args)}}")
            }
        }
        out += lines.joined(separator: ",\n")
        out += "\n]}\n"
        return out
    }

    private static func metadata(_ name: String, pid: Int, tid: Int?, args: String) -> String {
        "{\"name\":\"\(name)\",\"ph\":\"M\",\"pid\":\(pid)\(tid.map { ",\"tid\":\($0)" } ?? ""),\"args\":\(args)}"
    }

    /// Seconds as microseconds with three decimals (nanoseconds), plain JSON numbers.
    static func microseconds(_ seconds: Double) -> String {
        let nanoseconds = Int((seconds * 1e9).rounded())
        let sign = nanoseconds < 0 ? "-" : ""
        let magnitude = nanoseconds.magnitude
        let fraction = String(magnitude % 1000)
        return "\(sign)\(magnitude / 1000).\(String(repeating: "0", count: 3 - fraction.count))\(fraction)"
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// The trace file, opened when the run starts (so that an unwritable path is a mistake found
/// before any training, not after it) and written atomically at the end: a run that fails
/// leaves no file (FileIO's AtomicFileWriter).
public final class TraceFile {
    private let writer: AtomicFileWriter
    public var path: String { writer.path }

    public init(path: String) throws { writer = try AtomicFileWriter(path: path) }

    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writer.append($0) }
        try writer.commit()
    }
}
