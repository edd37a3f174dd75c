import FileIO

/// Bytes per stored token id: the smallest that holds every id of the vocabulary.
public enum TokenWidth: Int, Sendable, CaseIterable {
    case one = 1, two = 2, four = 4

    /// The narrowest width for ids 0 ..< vocabularySize.
    public static func fitting(vocabularySize: Int) -> TokenWidth {
        vocabularySize <= 256 ? .one : vocabularySize <= 65_536 ? .two : .four
    }

    /// The largest vocabulary whose ids this width can store.
    public var maximumVocabulary: Int { 1 << (8 * rawValue) }
}

/// Where a token sequence's ids live: memory this process owns (a tokenized text or a
/// synthetic task, stored as Int32) or a mapped token file (ids of 1, 2 or 4 bytes,
/// little-endian, in the shared page cache).
final class TokenStorage: @unchecked Sendable {
    let base: UnsafeRawPointer
    let width: TokenWidth
    let count: Int
    /// Ids must be below this; checked when copying out of a mapped file.
    let vocabularySize: Int
    private let mapping: MappedFile?
    private let allocation: UnsafeMutablePointer<Int32>?

    /// Takes ownership of `ids` (allocated for `count` Int32 values).
    init(owning ids: UnsafeMutablePointer<Int32>, count: Int, vocabularySize: Int) {
        base = UnsafeRawPointer(ids)
        width = .four
        self.count = count
        self.vocabularySize = vocabularySize
        mapping = nil
        allocation = ids
    }

    init(mapping: MappedFile, offset: Int, width: TokenWidth, count: Int, vocabularySize: Int) {
        base = mapping.bytes(offset, count * width.rawValue).baseAddress ?? UnsafeRawPointer(bitPattern: 8)!
        self.width = width
        self.count = count
        self.vocabularySize = vocabularySize
        self.mapping = mapping
        allocation = nil
    }

    var path: String? { mapping?.path }

    func advise(_ access: MappedFile.Access) { mapping?.advise(access) }

    deinit { allocation?.deallocate() }
}

/// A read-only view of token ids, wherever they are stored (see `TokenStorage`): batches
/// copy the few sequences they need out of it, widened to Int32, so a mapped corpus is
/// never copied whole. Indices run from 0 to `count`.
public struct TokenSequence: RandomAccessCollection, Sendable {
    let storage: TokenStorage
    /// First token of the view in the storage.
    let offset: Int
    public let count: Int

    init(storage: TokenStorage, offset: Int = 0, count: Int? = nil) {
        self.storage = storage
        self.offset = offset
        self.count = count ?? storage.count - offset
        precondition(offset >= 0 && self.count >= 0 && offset + self.count <= storage.count, "token view out of range")
    }

    /// Owned Int32 ids (a tokenized text, a synthetic task, a test).
    public init(_ ids: [Int32], vocabularySize: Int? = nil) {
        let memory = UnsafeMutablePointer<Int32>.allocate(capacity: Swift.max(1, ids.count))
        ids.withUnsafeBufferPointer { if let source = $0.baseAddress { memory.initialize(from: source, count: ids.count) } }
        self.init(storage: TokenStorage(owning: memory, count: ids.count,
                                        vocabularySize: vocabularySize ?? Int(ids.max() ?? 0) + 1))
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public var width: TokenWidth { storage.width }

    public subscript(position: Int) -> Int32 {
        precondition(position >= 0 && position < count, "token \(position) out of range 0..<\(count)")
        var id: Int32 = 0
        decode(from: position, count: 1, to: &id)
        precondition(Int(UInt32(bitPattern: id)) < storage.vocabularySize, "token \(position): id \(id) outside the vocabulary")
        return id
    }

    /// The tokens [range) as a view of the same storage, indexed from 0.
    public func slice(_ range: Range<Int>) -> TokenSequence {
        precondition(range.lowerBound >= 0 && range.upperBound <= count, "slice \(range) out of range 0..<\(count)")
        return TokenSequence(storage: storage, offset: offset + range.lowerBound, count: range.count)
    }

    /// Copies tokens [start, start + count) into `destination` as Int32. An id outside the
    /// vocabulary can only come from a token file corrupted after its header was checked
    /// (the data checksum is checked at open for small files and by `prepare --verify`): it
    /// is an error naming the file, never an index past the embedding matrix.
    public func copy(from start: Int, count: Int, to destination: UnsafeMutablePointer<Int32>) throws(TokenFileError) {
        decode(from: start, count: count, to: destination)
        guard let path = storage.path else { return }
        var largest: UInt32 = 0
        for index in 0..<count { largest = Swift.max(largest, UInt32(bitPattern: destination[index])) }
        guard Int(largest) < storage.vocabularySize else {
            throw .invalid(path: path, reason: "corrupted: id \(largest) near token \(offset + start) is outside its vocabulary of "
                + "\(storage.vocabularySize) (`rnn-dist prepare --verify \(path)` checks the whole file)")
        }
    }

    /// The ids [start, start + count) as stored, unchecked (the checksum reads them as they are).
    private func decode(from start: Int, count: Int, to destination: UnsafeMutablePointer<Int32>) {
        precondition(start >= 0 && count >= 0 && start + count <= self.count, "tokens \(start)+\(count) out of range 0..<\(self.count)")
        let first = offset + start
        switch storage.width {
        case .four:
            let source = storage.base.assumingMemoryBound(to: Int32.self) + first
            if storage.path == nil {
                destination.update(from: source, count: count)
                return
            }
            for index in 0..<count { destination[index] = Int32(bitPattern: UInt32(littleEndian: UInt32(bitPattern: source[index]))) }
        case .two:
            let source = storage.base.assumingMemoryBound(to: UInt16.self) + first
            for index in 0..<count { destination[index] = Int32(UInt16(littleEndian: source[index])) }
        case .one:
            let source = storage.base.assumingMemoryBound(to: UInt8.self) + first
            for index in 0..<count { destination[index] = Int32(source[index]) }
        }
    }

    /// The ids as an array (a copy: for small corpora and tests; a corrupted id traps).
    public var array: [Int32] {
        [Int32](unsafeUninitializedCapacity: count) { buffer, initialized in
            do {
                if count > 0 { try copy(from: 0, count: count, to: buffer.baseAddress!) }
            } catch {
                preconditionFailure("\(error)")
            }
            initialized = count
        }
    }

    /// The checksum (`TokenChecksum`) of these ids stored little-endian at `width`: the
    /// same value as the data checksum of a token file holding them, whatever the storage.
    public func checksum(width: TokenWidth) -> UInt64 {
        var checksum = TokenChecksum()
        if storage.path != nil && storage.width == width {
            checksum.update(UnsafeRawBufferPointer(start: storage.base + offset * width.rawValue, count: count * width.rawValue))
            return checksum.value
        }
        let chunk = 1 << 14
        var ids = [Int32](repeating: 0, count: chunk)
        var encoded = [UInt8](repeating: 0, count: chunk * 4)
        var start = 0
        while start < count {
            let n = Swift.min(chunk, count - start)
            ids.withUnsafeMutableBufferPointer { decode(from: start, count: n, to: $0.baseAddress!) }
            let bytes = TokenEncoding.encode(ids[0..<n], width: width, into: &encoded)
            encoded.withUnsafeBytes { checksum.update(UnsafeRawBufferPointer(rebasing: $0[0..<bytes])) }
            start += n
        }
        return checksum.value
    }
}

/// Ids to little-endian bytes of a given width.
enum TokenEncoding {
    /// Writes `ids` into `bytes` (large enough) and returns the byte count.
    static func encode(_ ids: ArraySlice<Int32>, width: TokenWidth, into bytes: inout [UInt8]) -> Int {
        bytes.withUnsafeMutableBytes { raw in
            var position = 0
            for id in ids {
                let value = UInt32(bitPattern: id)
                switch width {
                case .one: raw[position] = UInt8(truncatingIfNeeded: value)
                case .two: raw.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: position, as: UInt16.self)
                case .four: raw.storeBytes(of: value.littleEndian, toByteOffset: position, as: UInt32.self)
                }
                position += width.rawValue
            }
            return position
        }
    }
}
