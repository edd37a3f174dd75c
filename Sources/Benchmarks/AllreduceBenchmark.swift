import Clock
import Buffers
import Foundation
import MPI
import RNN

/// `rnn-dist bench --allreduce`: latency and bandwidth of the in-place Float allreduce at
/// the gradient-buffer sizes of real models and at powers of two, and a least-squares fit of
/// the ring model t(n) = 2(p−1)·α + 2(p−1)/p · n·4 bytes / β.
public struct AllreduceBenchmark {
    public struct Measurement: Codable, Sendable {
        public var elements: Int
        public var bytes: Int
        public var label: String
        public var medianMicroseconds: Double
        /// Bytes per second as NCCL defines bus bandwidth: 2(p−1)/p · bytes / time.
        public var busGBPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case elements, bytes, label
            case medianMicroseconds = "median_us", busGBPerSecond = "bus_gb_per_s"
        }
    }

    public struct Report: Codable, Sendable {
        public var ranks: Int
        public var measurements: [Measurement]
        /// Fitted per-step latency α (µs) and bandwidth β (GB/s) of the ring model.
        public var latencyMicroseconds: Double
        public var bandwidthGBPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case ranks, measurements
            case latencyMicroseconds = "alpha_us", bandwidthGBPerSecond = "beta_gb_per_s"
        }
    }

    public let world: Communicator
    public let repeats: Int

    public init(world: Communicator, repeats: Int = 30) {
        self.world = world
        self.repeats = repeats
    }

    public func run() throws -> Report {
        var sizes: [(Int, String)] = [32, 64, 128, 256, 512, 1024].map { hidden in
            (ModelLayout(architecture: ModelArchitecture(cell: .rnn, layers: 1, hiddenSize: hidden, vocabularySize: 65)).count, "gradients H=\(hidden) V=65")
        }
        sizes += stride(from: 0, through: 24, by: 2).map { (1 << $0, "2^\($0) floats") }
        sizes.sort { $0.0 < $1.0 }
        let p = Double(world.size)
        var measurements: [Measurement] = []
        for (elements, label) in sizes {
            let buffer = Buffer<Float>(count: elements, repeating: 1)
            let repeats = elements > 1 << 20 ? max(5, self.repeats / 4) : self.repeats
            try world.allreduce(buffer, op: .sum) // warm-up
            var times: [Double] = []
            for _ in 0..<repeats {
                try world.barrier()
                let start = MonotonicClock.seconds()
                try world.allreduce(buffer, op: .sum)
                times.append(MonotonicClock.seconds() - start)
            }
            // The collective ends when the slowest rank ends.
            var slowest = times.sorted()
            try world.allreduce(&slowest, op: .max)
            let median = slowest[slowest.count / 2]
            let bytes = elements * 4
            let bus = p > 1 ? 2 * (p - 1) / p * Double(bytes) / median / 1e9 : 0
            measurements.append(Measurement(elements: elements, bytes: bytes, label: label,
                                            medianMicroseconds: median * 1e6, busGBPerSecond: bus))
        }
        let (alpha, beta) = Self.fitRing(measurements, ranks: world.size)
        return Report(ranks: world.size, measurements: measurements, latencyMicroseconds: alpha * 1e6,
                      bandwidthGBPerSecond: beta / 1e9)
    }

    /// Least squares of t = a·x1 + b·x2 with x1 = 2(p−1), x2 = 2(p−1)/p·bytes; α = a, β = 1/b.
    static func fitRing(_ measurements: [Measurement], ranks: Int) -> (alpha: Double, beta: Double) {
        let p = Double(ranks)
        guard ranks > 1 else { return (0, 0) }   // nothing moves between ranks: no bandwidth to fit (0)
        var (s11, s12, s22, s1t, s2t) = (0.0, 0.0, 0.0, 0.0, 0.0)
        for m in measurements {
            let x1 = 2 * (p - 1), x2 = 2 * (p - 1) / p * Double(m.bytes), t = m.medianMicroseconds / 1e6
            // Weighted by 1/t so that small and large messages count alike (relative error).
            let w = 1 / (t * t)
            s11 += w * x1 * x1; s12 += w * x1 * x2; s22 += w * x2 * x2; s1t += w * x1 * t; s2t += w * x2 * t
        }
        let determinant = s11 * s22 - s12 * s12
        let a = max(0, (s1t * s22 - s2t * s12) / determinant)
        let b = (s11 * s2t - s12 * s1t) / determinant
        if b > 0 { return (a, 1 / b) }
        // Noise in the small messages (a loaded machine) can leave the fitted slope ≤ 0; the
        // largest message's own rate, after the latency term, is then the bandwidth. Never
        // infinite: the report is JSON, which has no infinity.
        guard let largest = measurements.max(by: { $0.bytes < $1.bytes }) else { return (a, 0) }
        let x1 = 2 * (p - 1), x2 = 2 * (p - 1) / p * Double(largest.bytes)
        let remaining = largest.medianMicroseconds / 1e6 - x1 * a
        return (a, remaining > 0 ? x2 / remaining : x2 / (largest.medianMicroseconds / 1e6))
    }
}
