import Foundation
import FileIO

/// `rnn-dist prepare`: text files and folders to one token file (see `TokenFileHeader`), in
/// two streaming passes over the inputs (the vocabulary and the token count, then the ids),
/// so memory does not grow with the corpus: one read chunk, one write chunk and a symbol
/// table (256 entries for bytes, 0x110000 for chars). The file is written under a temporary
/// name in the output's folder and renamed at the end: an interrupted or failed prepare
/// leaves nothing at `output`, and `temporaryPath` lets a signal handler remove the rest.
public final class TokenFileWriter {
    public enum Phase: String, Sendable { case vocabulary, writing }
    /// Bytes read so far in `phase` out of `totalBytes` (the inputs' size).
    public struct Progress: Sendable {
        public var phase: Phase
        public var bytesDone: Int
        public var totalBytes: Int
    }

    public let inputs: [String]
    public let output: String
    public let tokenizer: Tokenizer
    public let validationFraction: Double
    private let writer: AtomicFileWriter
    static let chunkBytes = 1 << 20

    /// Lists the input files (folders recursively, sorted, hidden names skipped) and creates
    /// the temporary file; nothing is read yet.
    public init(inputs: [String], output: String, tokenizer: Tokenizer, validationFraction: Double) throws {
        guard validationFraction >= 0, validationFraction <= 0.5 else {
            throw CorpusError.invalidValidationFraction(validationFraction)
        }
        self.inputs = try Self.files(of: inputs, excluding: output)
        self.output = output
        self.tokenizer = tokenizer
        self.validationFraction = validationFraction
        writer = try AtomicFileWriter(path: output)
    }

    public var temporaryPath: String { writer.temporaryPath }

    /// Runs both passes and renames the file into place; returns its header.
    public func write(progress: (Progress) -> Void = { _ in }) throws -> TokenFileHeader {
        let totalBytes = try inputs.reduce(0) { $0 + (try Self.size(of: $1)) }
        // Pass 1: which symbols occur, and how many tokens there are.
        var seen = [Bool](repeating: false, count: Int(tokenizer.maximumSymbol) + 1)
        var tokenCount = 0
        var done = 0
        for path in inputs {
            try forEachSymbols(of: path) { symbols in
                seen.withUnsafeMutableBufferPointer { seen in for symbol in symbols { seen[Int(symbol)] = true } }
                tokenCount += symbols.count
            } read: { done += $0; progress(Progress(phase: .vocabulary, bytesDone: done, totalBytes: totalBytes)) }
        }
        guard tokenCount > 0 else { throw CorpusError.empty(path: inputs.count == 1 ? inputs[0] : inputs.joined(separator: ", ")) }
        let vocabulary = try Vocabulary(tokenizer: tokenizer, sortedSymbols: seen.indices.filter { seen[$0] }.map { UInt32($0) })
        seen = []   // pass 2's table takes its place
        let width = TokenWidth.fitting(vocabularySize: vocabulary.count)
        var header = TokenFileHeader(vocabulary: vocabulary, width: width, tokenCount: tokenCount,
                                     validationStart: tokenCount - Corpus.validationCount(tokens: tokenCount, fraction: validationFraction),
                                     dataChecksum: 0)
        try header.encoded().withUnsafeBytes { try writer.append($0) }   // a placeholder until the checksum is known

        // Pass 2: the ids, encoded at the width, checksummed as they are written.
        var ids = [Int32](repeating: -1, count: Int(tokenizer.maximumSymbol) + 1)
        for (id, symbol) in vocabulary.symbols.enumerated() { ids[Int(symbol)] = Int32(id) }
        var encoded = [UInt8](repeating: 0, count: 4 * Self.chunkBytes)
        var mapped = [Int32](repeating: 0, count: Self.chunkBytes)
        var checksum = TokenChecksum()
        var written = 0
        done = 0
        for path in inputs {
            try forEachSymbols(of: path) { symbols in
                // A symbol missing from pass 1's vocabulary (id −1), or more of them: the file changed.
                guard written + symbols.count <= tokenCount else { throw CorpusError.changedWhilePreparing(path: path) }
                let smallest = ids.withUnsafeBufferPointer { ids in
                    mapped.withUnsafeMutableBufferPointer { mapped in
                        var smallest: Int32 = 0
                        for (index, symbol) in symbols.enumerated() {
                            let id = ids[Int(symbol)]
                            smallest = min(smallest, id)
                            mapped[index] = id
                        }
                        return smallest
                    }
                }
                guard smallest >= 0 else { throw CorpusError.changedWhilePreparing(path: path) }
                let count = TokenEncoding.encode(mapped[0..<symbols.count], width: width, into: &encoded)
                try encoded.withUnsafeBytes { bytes in
                    let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
                    checksum.update(chunk)
                    try writer.append(chunk)
                }
                written += symbols.count
            } read: { done += $0; progress(Progress(phase: .writing, bytesDone: done, totalBytes: totalBytes)) }
        }
        guard written == tokenCount else { throw CorpusError.changedWhilePreparing(path: inputs.joined(separator: ", ")) }
        header.dataChecksum = checksum.value
        try header.encoded().withUnsafeBytes { try writer.write($0, at: 0) }
        try writer.commit()
        return header
    }

    /// Calls `body` with the symbols of each chunk of `path` (a UTF-8 sequence cut by a chunk
    /// boundary is carried to the next chunk), and `read` with the bytes read.
    private func forEachSymbols(of path: String, _ body: ([UInt32]) throws -> Void, read: (Int) -> Void) throws {
        var carry: [UInt8] = []
        var offset = 0   // of carry[0] in the file, for the invalid-UTF-8 message
        do {
            try FileIO.readChunks(path: path, chunkSize: Self.chunkBytes) { chunk in
                read(chunk.count)
                switch tokenizer {
                case .bytes:
                    try body(chunk.map { UInt32($0) })
                case .chars:
                    let bytes = carry + chunk
                    let complete = Self.completeUTF8Prefix(bytes)
                    do {
                        try body(try Tokenizer.decodeUTF8(Array(bytes[..<complete]), source: path))
                    } catch CorpusError.invalidUTF8(_, let at) {
                        throw CorpusError.invalidUTF8(path: path, offset: offset + at)
                    }
                    carry = Array(bytes[complete...])
                    offset += complete
                }
            }
        } catch FileIOError.notFound {
            throw CorpusError.missing(path: path)
        } catch FileIOError.unreadable(_, let reason) {
            throw CorpusError.unreadable(path: path, reason: reason)
        }
        if !carry.isEmpty { throw CorpusError.invalidUTF8(path: path, offset: offset) }
    }

    /// The length of `bytes` without a trailing UTF-8 sequence that the next chunk completes.
    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        for start in stride(from: bytes.count - 1, through: max(0, bytes.count - 3), by: -1) {
            let lead = bytes[start]
            let length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 0
            if length > 0 { return start + length > bytes.count ? start : bytes.count }
            if lead < 0x80 { return bytes.count }
        }
        return bytes.count
    }

    private static func size(of path: String) throws -> Int {
        var info = stat()
        guard stat(path, &info) == 0 else { throw CorpusError.unreadable(path: path, reason: FileIO.reason(errno)) }
        return Int(info.st_size)
    }

    /// The files named by `inputs`: files as given, folders expanded recursively in sorted
    /// order (hidden names skipped). An empty folder or an unreadable entry is an error.
    static func files(of inputs: [String], excluding output: String) throws -> [String] {
        guard !inputs.isEmpty else { throw CorpusError.noInput }
        let manager = FileManager.default
        var files: [String] = []
        func add(_ path: String, top: Bool) throws {
            var isDirectory: ObjCBool = false
            guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else { throw CorpusError.missing(path: path) }
            guard isDirectory.boolValue else {
                if URL(fileURLWithPath: path).standardized.path != URL(fileURLWithPath: output).standardized.path { files.append(path) }
                return
            }
            let names: [String]
            do {
                names = try manager.contentsOfDirectory(atPath: path)
            } catch {
                throw CorpusError.unreadable(path: path, reason: String(cString: strerror(access(path, R_OK) == 0 ? EIO : errno)))
            }
            let before = files.count
            for name in names.sorted() where !name.hasPrefix(".") {
                try add(path.hasSuffix("/") ? path + name : path + "/" + name, top: false)
            }
            if top && files.count == before { throw CorpusError.emptyFolder(path: path) }
        }
        for input in inputs { try add(input, top: true) }
        for path in files where access(path, R_OK) != 0 {
            throw CorpusError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        return files
    }
}
