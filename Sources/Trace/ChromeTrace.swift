import Clock
import FileIO
import MPI

/// The ranks' timelines as one Chrome trace-event JSON file (the format chrome://tracing and
/// ui.perfetto.dev open): complete events (`"ph": "X"`, `ts` and `dur` in microseconds),
/// `pid` = rank, `tid` 1 = the training thread, `tid` 2, 3, … = the gradient buckets in
/// flight (laid out in lanes so that no two on one lane overlap), with metadata events naming
/// each process ("rank 0", …) and track.
///
/// Clocks: each rank's CLOCK_MONOTONIC may have its own zero (on other hosts), and on a loaded
/// host a rank can lose its core for milliseconds around any barrier. `align` passes
/// `alignmentRounds` barriers, each rank reading its clock as it enters and as it leaves each.
/// No rank leaves a barrier before every rank has entered it, so rank r's exit is after rank
/// 0's entry and rank 0's exit after rank r's entry: every barrier bounds the offset θ between
/// the two clocks from both sides, and rank 0 intersects the bounds of all of them and takes
/// the middle. The error is at most half the interval that remains — causal, whatever the
/// delays — and the file states it per rank (`otherData.clock_error_us`). Timestamps are
/// relative to rank 0's last exit. Clock rates are assumed equal (no drift correction: runs
/// are minutes, not days).
public enum ChromeTrace {
    /// Barriers whose entries and exits `align` reads.
    public static let alignmentRounds = 40

    /// Every rank: reads its clock around each of `alignmentRounds` barriers (collective; see
    /// the type's note on clocks). A first barrier makes every connection.
    public static func align(_ recorder: TraceRecorder, world: Communicator) throws {
        guard recorder.isOn else { return }
        try world.barrier()
        var entries = [Double](repeating: 0, count: alignmentRounds), exits = entries
        for round in 0..<alignmentRounds {
            entries[round] = MonotonicClock.seconds()
            try world.barrier()
            exits[round] = MonotonicClock.seconds()
        }
        recorder.align(barrierEntries: entries, barrierExits: exits)
    }

    /// Per rank, what to add to times relative to its own zero (its last exit) to put them on
    /// rank 0's, and the most that can be wrong by. θ (rank r's clock − rank 0's) lies in
    /// [entry_r − exit_0, exit_r − entry_0] at every barrier.
    static func corrections(entries: [[Double]], exits: [[Double]]) -> [(shift: Double, error: Double)] {
        guard let entry0 = entries.first, let exit0 = exits.first, let zero0 = exit0.last else {
            return entries.map { _ in (0, 0) }
        }
        return zip(entries, exits).enumerated().map { rank, clock in
            let (entry, exit) = clock
            if rank == 0 { return (0, 0) }
            var lower = -Double.infinity, upper = Double.infinity
            for i in entry.indices {
                lower = max(lower, entry[i] - exit0[i])
                upper = min(upper, exit[i] - entry0[i])
            }
            let theta = (lower + upper) / 2
            return ((exit.last ?? zero0) - zero0 - theta, max(0, (upper - lower) / 2))
        }
    }

    /// Fields of one event when the ranks send theirs to rank 0.
    private static let fields = 7

    /// Every rank: sends its events to rank 0 (collective); rank 0 returns the file's bytes,
    /// the others nil. `note`: what ran (shown in the file's `otherData`).
    public static func gather(_ recorder: TraceRecorder, world: Communicator, note: String) throws -> [UInt8]? {
        let aligned = recorder.barrierExits.count == alignmentRounds
        let entries = aligned ? recorder.barrierEntries : [Double](repeating: recorder.origin, count: alignmentRounds)
        let exits = aligned ? recorder.barrierExits : entries
        let summary = [Double(recorder.count), Double(recorder.dropped), Double(recorder.firstDroppedStep ?? -1),
                       Double(recorder.capacity)] + entries + exits
        let width = summary.count
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
        let clocks = corrections(
            entries: (0..<world.size).map { r in Array(summaries[r * width + 4 ..< r * width + 4 + alignmentRounds]) },
            exits: (0..<world.size).map { r in Array(summaries[r * width + 4 + alignmentRounds ..< (r + 1) * width]) })
        let shift = clocks.map(\.shift)
        var ranks: [Rank] = []
        for r in 0..<world.size {
            let count = Int(summaries[r * width])
            var events: [TraceEvent] = []
            events.reserveCapacity(count)
            for i in 0..<count {
                let v = all[(r * longest + i) * fields ..< (r * longest + i + 1) * fields].map { $0 }
                events.append(TraceEvent(phase: TracePhase(rawValue: UInt8(v[0])) ?? .step, track: TraceTrack(rawValue: UInt8(v[1])) ?? .training,
                                         start: v[2] + shift[r], end: v[3] + shift[r], step: Int32(v[4]), index: Int32(v[5]),
                                         bytes: Int(v[6])))
            }
            let firstDropped = Int(summaries[r * width + 2])
            ranks.append(Rank(events: events, dropped: Int(summaries[r * width + 1]), firstDroppedStep: firstDropped < 0 ? nil : firstDropped,
                              capacity: Int(summaries[r * width + 3]), clockError: clocks[r].error))
        }
        return Array(json(ranks: ranks, note: note).utf8)
    }

    /// One rank's events, times in seconds from rank 0's zero.
    public struct Rank: Sendable {
        public var events: [TraceEvent]
        public var dropped: Int
        public var firstDroppedStep: Int?
        public var capacity: Int
        /// The most its times can be off rank 0's (seconds; see the note on clocks).
        public var clockError: Double

        public init(events: [TraceEvent], dropped: Int = 0, firstDroppedStep: Int? = nil, capacity: Int, clockError: Double = 0) {
            (self.events, self.dropped, self.firstDroppedStep, self.capacity, self.clockError) =
                (events, dropped, firstDroppedStep, capacity, clockError)
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
        out += "\"clock\":\(quoted("microseconds since rank 0 left the last of \(alignmentRounds) start-up barriers; each rank's CLOCK_MONOTONIC shifted by the offset the barriers bound causally (no rank leaves one before all have entered), to within clock_error_us")),"
        out += "\"clock_error_us\":[\(ranks.map { microseconds($0.clockError) }.joined(separator: ","))],"
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
                // Both ends rounded to the nanosecond, and the duration their difference: an
                // event that ends where the next begins stays adjacent to it in the file (a
                // rounded start plus a separately rounded duration can overlap it by 1 ns).
                let (start, end) = (nanoseconds(e.start), nanoseconds(e.end))
                let tid = e.track == .allreduce ? firstLaneThread + lane[i] : trainingThread
                var args = "\"step\":\(e.step)"
                switch e.phase {
                case .bucket: args += ",\"bucket\":\(e.index),\"bytes\":\(e.bytes)"
                case .forward, .backward: args += ",\"micro_batch\":\(e.index)"
                case .slowestRank: args += ",\"slowest_rank\":\(e.index)"
                default: break
                }
                lines.append("{\"name\":\(quoted(e.phase.name)),\"cat\":\"\(e.phase.category)\",\"ph\":\"X\",\"pid\":\(rank),\"tid\":\(tid),"
                    + "\"ts\":\(microseconds(nanoseconds: start)),\"dur\":\(microseconds(nanoseconds: end - start)),\"args\":{\(args)}}")
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
        microseconds(nanoseconds: nanoseconds(seconds))
    }

    static func nanoseconds(_ seconds: Double) -> Int { Int((seconds * 1e9).rounded()) }

    static func microseconds(nanoseconds: Int) -> String {
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
