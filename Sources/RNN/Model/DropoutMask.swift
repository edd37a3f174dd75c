import BLAS

/// How dropout masks vary along a sequence.
public enum DropoutMasking: String, CaseIterable, Codable, Sendable {
    /// A new mask at every time step (PyTorch's nn.LSTM `dropout=`).
    case perStep = "per-step"
    /// One mask per sequence, layer and unit, the same at every t (Gal & Ghahramani's
    /// variational dropout; AWD-LSTM's locked dropout): a dropped unit stays dropped for the
    /// whole sequence, which regularizes what the recurrence carries instead of adding noise
    /// that averages out over t.
    case locked
}

/// Non-recurrent dropout on the output h_t of every layer (DESIGN §2b): between layers, as
/// nn.LSTM's `dropout=`, and before the output layer. The mask of an element is a pure function
/// of (seed, step, global sequence index, layer, t, unit) — a counter-based hash, no generator
/// state — so a resumed run redraws the same masks, and a sequence gets the same mask whichever
/// rank holds it (the rank count does not change the trajectory).
public struct Dropout: Hashable, Sendable {
    /// The drop probability p in [0, 1); kept units are scaled by 1/(1−p) (inverted dropout).
    public let probability: Double
    public let seed: UInt64
    public let masking: DropoutMasking
    /// DropConnect on the recurrent weights (AWD-LSTM's weight drop): each element of W_hh.l is
    /// dropped with this probability for a whole optimizer step (the same mask for every
    /// sequence, rank and micro-batch of the step), kept ones scaled by 1/(1 − weightDrop).
    public let weightDrop: Double
    /// Embedding dropout (AWD-LSTM's `embedded_dropout`): each row of the embedding table, a
    /// whole token, is dropped with this probability for a whole optimizer step (the same mask
    /// for every sequence, rank and micro-batch of the step), kept rows scaled by
    /// 1/(1 − embeddingDrop). Only the input's use of the table: a tied output layer reads it whole.
    public let embeddingDrop: Double

    public init(probability: Double, seed: UInt64, masking: DropoutMasking = .perStep, weightDrop: Double = 0,
                embeddingDrop: Double = 0) {
        precondition(probability >= 0 && probability < 1, "dropout probability must be in [0, 1), got \(probability)")
        precondition(weightDrop >= 0 && weightDrop < 1, "weight drop must be in [0, 1), got \(weightDrop)")
        precondition(embeddingDrop >= 0 && embeddingDrop < 1, "embedding dropout must be in [0, 1), got \(embeddingDrop)")
        self.probability = probability
        self.seed = seed
        self.masking = masking
        self.weightDrop = weightDrop
        self.embeddingDrop = embeddingDrop
    }

    /// Whether any mask is drawn at all.
    public var isActive: Bool { probability > 0 || weightDrop > 0 || embeddingDrop > 0 }

    /// 1/(1−p): the value of a kept element of the mask.
    public var keepScale: Double { 1 / (1 - probability) }

    /// The drop threshold on 53-bit uniforms: a unit is dropped when u·2^53 < threshold.
    @usableFromInline var threshold: UInt64 { UInt64(probability * 0x1.0p53) }

    /// The hash of one row's (step, sequence, layer, t); `unitHash` then spreads it per unit.
    @inline(__always)
    func rowKey(step: Int, sequence: Int, layer: Int, t: Int) -> UInt64 {
        // Locked: the same draw for every t, a value per-step masks never use for t.
        let t = masking == .locked ? Int(UInt32.max) : t
        var key = Self.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        key = Self.mix(key ^ UInt64(bitPattern: Int64(step)))
        key = Self.mix(key ^ UInt64(bitPattern: Int64(sequence)))
        key = Self.mix(key ^ (UInt64(truncatingIfNeeded: layer) << 32 | UInt64(truncatingIfNeeded: t)))
        return key
    }

    /// Whether unit `unit` of that row is kept.
    public func keeps(step: Int, sequence: Int, layer: Int, t: Int, unit: Int) -> Bool {
        Self.mix(rowKey(step: step, sequence: sequence, layer: layer, t: t) &+ UInt64(unit) &* 0xD1B5_4A32_D192_ED03) >> 11
            >= threshold
    }

    /// mask[0..<H] ← 1/(1−p) for kept units, 0 for dropped ones.
    @inline(__always)
    func fillRow<T: BLASScalar>(_ mask: UnsafeMutablePointer<T>, H: Int, step: Int, sequence: Int, layer: Int, t: Int) {
        let key = rowKey(step: step, sequence: sequence, layer: layer, t: t)
        let limit = threshold, scale = T(keepScale)
        for unit in 0..<H {
            mask[unit] = Self.mix(key &+ UInt64(unit) &* 0xD1B5_4A32_D192_ED03) >> 11 >= limit ? scale : 0
        }
    }

    /// mask[0..<H] ← the weight-drop mask of row `row` of W_hh.`layer` at `step`: 1/(1 − q) for
    /// kept elements, 0 for dropped ones (q = weightDrop). Keyed apart from the activation
    /// masks (no sequence has index −1), never locked.
    @inline(__always)
    public func fillWeightRow<T: BLASScalar>(_ mask: UnsafeMutablePointer<T>, H: Int, step: Int, layer: Int, row: Int) {
        var key = Self.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        key = Self.mix(key ^ UInt64(bitPattern: Int64(step)))
        key = Self.mix(key ^ UInt64(bitPattern: -1))
        key = Self.mix(key ^ (UInt64(truncatingIfNeeded: layer) << 32 | UInt64(UInt32(truncatingIfNeeded: row))))
        let limit = UInt64(weightDrop * 0x1.0p53), scale = T(1 / (1 - weightDrop))
        for unit in 0..<H {
            mask[unit] = Self.mix(key &+ UInt64(unit) &* 0xD1B5_4A32_D192_ED03) >> 11 >= limit ? scale : 0
        }
    }

    /// mask[0..<V] ← the embedding-dropout mask of `step`: 1/(1 − e) for kept rows (tokens),
    /// 0 for dropped ones (e = embeddingDrop). Keyed apart from the activation masks (no
    /// sequence has index −2) and from weight drop (−1).
    @inline(__always)
    public func fillEmbeddingMask<T: BLASScalar>(_ mask: UnsafeMutablePointer<T>, V: Int, step: Int) {
        var key = Self.mix(seed &+ 0x9E37_79B9_7F4A_7C15)
        key = Self.mix(key ^ UInt64(bitPattern: Int64(step)))
        key = Self.mix(key ^ UInt64(bitPattern: -2))
        let limit = UInt64(embeddingDrop * 0x1.0p53), scale = T(1 / (1 - embeddingDrop))
        for row in 0..<V {
            mask[row] = Self.mix(key &+ UInt64(row) &* 0xD1B5_4A32_D192_ED03) >> 11 >= limit ? scale : 0
        }
    }

    /// SplitMix64's finalizer: a bijection of UInt64 with full avalanche.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// What one training step's masks are drawn from: the dropout, the optimizer step, and the
/// global sequence index of each of the call's rows (row b of the batch has sequenceIndices[b]).
/// Keep one instance and overwrite its indices in place: the call then allocates nothing.
public struct DropoutDraw: Sendable {
    public var dropout: Dropout
    public var step: Int
    public var sequenceIndices: [Int]
    /// Row b of the call is sequenceIndices[firstRow + b]: a micro-batch of gradient
    /// accumulation draws for its rows of the rank's batch without copying the indices.
    public var firstRow: Int

    public init(dropout: Dropout, step: Int, sequenceIndices: [Int], firstRow: Int = 0) {
        self.dropout = dropout
        self.step = step
        self.sequenceIndices = sequenceIndices
        self.firstRow = firstRow
    }
}
