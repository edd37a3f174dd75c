import BLAS
import Buffers

/// (h, c) of every layer for up to `capacity` sequences: what truncated BPTT carries from one
/// chunk to the next (DESIGN §6, §2b). Row-major [L, capacity, H]: row b of layer l starts at
/// (l·capacity + b)·H, whatever the batch size of a call (its first batchSize rows are used).
/// c exists for lstm only.
public final class RecurrentState<Scalar: BLASScalar> {
    public let layers: Int
    public let capacity: Int
    public let hiddenSize: Int
    public let h: Buffer<Scalar>
    public let c: Buffer<Scalar>?

    public init(architecture: ModelArchitecture, capacity: Int) {
        layers = architecture.layers
        self.capacity = capacity
        hiddenSize = architecture.hiddenSize
        h = Buffer(count: layers * capacity * hiddenSize, repeating: 0)
        c = architecture.cell.hasCellState ? Buffer(count: layers * capacity * hiddenSize, repeating: 0) : nil
    }

    /// Offset of row b of layer l in `h` and `c`.
    public func offset(layer l: Int, row b: Int) -> Int { (l * capacity + b) * hiddenSize }

    /// h = c = 0 (a stream's start of epoch).
    public func reset() {
        h.fill(0)
        c?.fill(0)
    }

    /// Copies `rows` rows of every layer from `other` (same L, H), its rows from `sourceRow` on
    /// into this state's rows from `row` on (a micro-batch's streams within a rank's).
    public func copy(from other: RecurrentState<Scalar>, rows: Int, sourceRow: Int = 0, row: Int = 0) {
        precondition(other.layers == layers && other.hiddenSize == hiddenSize && sourceRow >= 0 && row >= 0
                     && row + rows <= capacity && sourceRow + rows <= other.capacity, "RecurrentState.copy: shapes differ")
        for l in 0..<layers {
            (h.baseAddress + offset(layer: l, row: row)).update(from: other.h.baseAddress + other.offset(layer: l, row: sourceRow),
                                                                count: rows * hiddenSize)
            if let c, let otherC = other.c {
                (c.baseAddress + offset(layer: l, row: row)).update(from: otherC.baseAddress + other.offset(layer: l, row: sourceRow),
                                                                    count: rows * hiddenSize)
            }
        }
    }
}
