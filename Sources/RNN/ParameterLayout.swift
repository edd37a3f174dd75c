/// The five tensors of the model (docs/design.md §2). The case order is the order of the flat
/// parameter and gradient buffers, so one allreduce covers all of them.
public enum ParameterName: String, CaseIterable, Sendable {
    case W_xh, W_hh, W_hy, b_h, b_y
}

/// Where each tensor lives in the flat buffer, and its row-major dimensions.
public struct ParameterLayout: Hashable, Sendable {
    public let shape: RNNShape
    private let offsets: [Int]   // start of each tensor, in ParameterName.allCases order, plus the end

    public init(shape: RNNShape) {
        self.shape = shape
        var offsets = [0]
        for name in ParameterName.allCases {
            offsets.append(offsets.last! + Self.dimensions(of: name, shape: shape).reduce(1, *))
        }
        self.offsets = offsets
    }

    /// Total scalars of all five tensors.
    public var count: Int { offsets.last! }

    public func range(of name: ParameterName) -> Range<Int> {
        let index = ParameterName.allCases.firstIndex(of: name)!
        return offsets[index]..<offsets[index + 1]
    }

    /// [H,V], [H,H], [V,H], [H], [V] (row-major).
    public func dimensions(of name: ParameterName) -> [Int] {
        Self.dimensions(of: name, shape: shape)
    }

    private static func dimensions(of name: ParameterName, shape: RNNShape) -> [Int] {
        let H = shape.hiddenSize, V = shape.vocabularySize
        switch name {
        case .W_xh: return [H, V]
        case .W_hh: return [H, H]
        case .W_hy: return [V, H]
        case .b_h: return [H]
        case .b_y: return [V]
        }
    }
}
