/// A fixed-size, 64-byte aligned, heap-allocated array of numbers with reference semantics.
///
/// Why not `[Element]`: the hot paths (gemm, allreduce, optimizer loops) need a stable
/// address that outlives a closure (a non-blocking allreduce keeps writing into it), views
/// of sub-ranges without copies, and no copy-on-write checks inside loops.
public final class Buffer<Element: BitwiseCopyable> {
    public let count: Int
    /// Raw storage. Public so that other modules' kernels can hand it to BLAS or MPI; code
    /// outside kernels uses the subscript and the `with...` accessors.
    public let baseAddress: UnsafeMutablePointer<Element>

    public static var alignment: Int { 64 }

    /// Trivial (bitwise-copyable) elements need no initialization beyond binding the memory.
    private init(uninitializedCount count: Int) {
        precondition(count >= 0, "Buffer count must be non-negative, got \(count)")
        self.count = count
        let bytes = max(1, count) * MemoryLayout<Element>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
        baseAddress = raw.bindMemory(to: Element.self, capacity: max(1, count))
    }

    /// A buffer of `count` elements, all set to `value`.
    public convenience init(count: Int, repeating value: Element) {
        self.init(uninitializedCount: count)
        baseAddress.initialize(repeating: value, count: count)
    }

    /// A buffer holding a copy of `elements`.
    public convenience init(_ elements: [Element]) {
        self.init(uninitializedCount: elements.count)
        elements.withUnsafeBufferPointer { source in
            if let base = source.baseAddress { baseAddress.initialize(from: base, count: elements.count) }
        }
    }

    deinit {
        UnsafeMutableRawPointer(baseAddress).deallocate()
    }

    @inlinable
    public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "Buffer index \(index) out of range 0..<\(count)")
            return baseAddress[index]
        }
        set {
            precondition(index >= 0 && index < count, "Buffer index \(index) out of range 0..<\(count)")
            baseAddress[index] = newValue
        }
    }

    /// The whole buffer, or a sub-range of it, as a mutable buffer pointer valid for the
    /// duration of `body`.
    @inlinable
    public func withUnsafeMutableBufferPointer<R>(
        range: Range<Int>? = nil,
        _ body: (UnsafeMutableBufferPointer<Element>) throws -> R
    ) rethrows -> R {
        let range = range ?? 0..<count
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "range \(range) outside 0..<\(count)")
        return try body(UnsafeMutableBufferPointer(start: baseAddress + range.lowerBound, count: range.count))
    }

    /// A copy of the contents (or of a sub-range) as an array.
    public func toArray(range: Range<Int>? = nil) -> [Element] {
        withUnsafeMutableBufferPointer(range: range) { Array($0) }
    }

    /// Overwrites the contents (or a sub-range starting at `offset`) from `source`.
    public func copy<C: Collection>(from source: C, at offset: Int = 0) where C.Element == Element {
        precondition(offset >= 0 && offset + source.count <= count, "copy of \(source.count) elements at \(offset) overflows \(count)")
        var index = offset
        for value in source {
            baseAddress[index] = value
            index += 1
        }
    }

    /// Overwrites every element (or those of `range`) with `value`.
    public func fill(_ value: Element, range: Range<Int>? = nil) {
        withUnsafeMutableBufferPointer(range: range) { $0.update(repeating: value) }
    }
}
