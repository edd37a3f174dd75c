import Buffers
import MPI
import RunErrors

/// Detects ranks whose parameters have drifted apart (which synchronous data parallelism
/// must never allow): a 62-bit hash of the exact bits, compared with one allreduce of
/// (min, -max).
public enum ParameterChecksum {
    public static func hash(_ parameters: Buffer<Float>) -> Int64 {
        var state: UInt64 = 0xcbf2_9ce4_8422_2325 // FNV-1a over 32-bit words
        for index in 0..<parameters.count {
            state ^= UInt64(parameters.baseAddress[index].bitPattern)
            state &*= 0x0000_0100_0000_01b3
        }
        return Int64(bitPattern: state & 0x3fff_ffff_ffff_ffff)
    }

    /// Throws a fault naming the step when the ranks' parameters differ; returns the checksum.
    @discardableResult
    public static func verify(_ parameters: Buffer<Float>, collectives: Collectives, step: Int) throws -> Int64 {
        let local = hash(parameters)
        var extremes: [Int64] = [local, -local]
        try collectives.allreduce(&extremes, op: .min, label: "parameter checksum", step: step)
        let (lowest, highest) = (extremes[0], -extremes[1])
        guard lowest == highest else {
            throw RunError.fault("parameters differ across ranks at step \(step) (checksums \(String(lowest, radix: 16)) ... \(String(highest, radix: 16))): ranks did not apply identical updates")
        }
        return lowest
    }
}
