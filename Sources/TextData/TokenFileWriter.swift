import Foundation
import FileIO

/// `rnn-dist prepare`: text files and folders to one token file (see `TokenFileHeader`), in
/// two streaming passes over the inputs (the vocabulary — or, through a BPE, the tokens — and
/// the token count, then the ids), so memory does not grow with the corpus: one read chunk,
/// one write chunk and a symbol table (256 entries for bytes, 0x110000 for chars) or a BPE's
/// word cache. Ids a user already has (nanoGPT's .bin) are imported in one pass. The file is
/// written under a temporary name in the output's folder and renamed at the end: an
/// interrupted or failed prepare leaves nothing at `output`, and `temporaryPath` lets a
/// signal handler remove the rest.
public final class TokenFileWriter {
    /// Pass 1 finds the vocabulary (chars, bytes) or counts a BPE's tokens; pass 2 writes.
    public enum Phase: String, Sendable { case vocabulary, counting, writing }
    /// Bytes read so far in `phase` out of `totalBytes` (the inputs' size).
    public struct Progress: Sendable {
        public var phase: Phase
        public var bytesDone: Int
        public var totalBytes: Int
    }

    /// What the ids are made from.
    public enum Source {
        /// Text as Unicode scalars or bytes; the vocabulary is the corpus's distinct symbols.
        case chars, bytes
        /// Text through a byte-level BPE, whose ids are the token ids.
        case bpe(BytePairEncoding)
        /// A user's ids of a BPE, little-endian at `width` bytes each (nanoGPT's .bin).
        case ids(width: TokenWidth, BytePairEncoding)
    }

    public let inputs: [String]
    public let output: String
    public let source: Source
    public let validationFraction: Double
    private let writer: AtomicFileWriter
    /// The read size (tests make it small to cut the text in many places).
    package var chunkBytes = 1 << 20

    /// Lists the input files (folders recursively, sorted, hidden names skipped) and creates
    /// the temporary file; nothing is read yet. `--ids` takes one file.
    public init(inputs: [String], output: String, source: Source, validationFraction: Double) throws {
        guard validationFraction >= 0, validationFraction <= 0.5 else {
            throw CorpusError.invalidValidationFraction(validationFraction)
        }
        let files = try Self.files(of: inputs, excluding: output)
        if case .ids = source, files.count != 1 { throw CorpusError.idsNeedOneFile(inputs.joined(separator: ", ")) }
        self.inputs = files
        self.output = output
        self.source = source
        self.validationFraction = validationFraction
        writer = try AtomicFileWriter(path: output)
    }

    /// Text through `tokenizer` (chars or bytes; a BPE needs its tokenizer.json).
    public convenience init(inputs: [String], output: String, tokenizer: Tokenizer, validationFraction: Double) throws {
        let source: Source
        switch tokenizer {
        case .chars: source = .chars
        case .bytes: source = .bytes
        case .bpe: throw CorpusError.bpeNeedsTokenizer(path: inputs.joined(separator: ", "))
        }
        try self.init(inputs: inputs, output: output, source: source, validationFraction: validationFraction)
    }

    public var temporaryPath: String { writer.temporaryPath }

    /// Runs the passes and renames the file into place; returns its header.
    public func write(progress: (Progress) -> Void = { _ in }) throws -> TokenFileHeader {
        let totalBytes = try inputs.reduce(0) { $0 + (try Self.size(of: $1)) }
        var done = 0
        let header: TokenFileHeader = try withoutActuallyEscaping(progress) { progress in
            // Each pass counts the bytes it has read from zero.
            let report = { (phase: Phase) -> (Int) -> Void in
                done = 0
                return { done += $0; progress(Progress(phase: phase, bytesDone: done, totalBytes: totalBytes)) }
            }
            switch source {
            case .chars: return try writeSymbols(.chars, report: report)
            case .bytes: return try writeSymbols(.bytes, report: report)
            case .bpe(let encoding): return try writeSubwords(encoding, report: report)
            case .ids(let width, let encoding): return try importIDs(width: width, encoding: encoding, report: report(.writing))
            }
        }
        try header.encoded().withUnsafeBytes { try writer.write($0, at: 0) }
        try writer.commit()
        return header
    }

    /// chars and bytes: pass 1 finds the vocabulary and counts tokens, pass 2 writes the ids.
    private func writeSymbols(_ tokenizer: Tokenizer, report: (Phase) -> (Int) -> Void) throws -> TokenFileHeader {
        var seen = [Bool](repeating: false, count: Int(tokenizer.maximumSymbol) + 1)
        var tokenCount = 0
        let readVocabulary = report(.vocabulary)
        for path in inputs {
            try forEachSymbols(of: path, tokenizer: tokenizer, { symbols in
                seen.withUnsafeMutableBufferPointer { seen in for symbol in symbols { seen[Int(symbol)] = true } }
                tokenCount += symbols.count
            }, read: readVocabulary)
        }
        let vocabulary = try Vocabulary(tokenizer: tokenizer, sortedSymbols: seen.indices.filter { seen[$0] }.map { UInt32($0) })
        seen = []   // pass 2's table takes its place
        var sink = try startIDs(vocabulary: vocabulary, tokenCount: tokenCount)
        var ids = [Int32](repeating: -1, count: Int(tokenizer.maximumSymbol) + 1)
        for (id, symbol) in vocabulary.symbols.enumerated() { ids[Int(symbol)] = Int32(id) }
        var mapped = [Int32]()
        let readWriting = report(.writing)
        for path in inputs {
            try forEachSymbols(of: path, tokenizer: tokenizer, { symbols in
                // A symbol missing from pass 1's vocabulary (id −1), or more of them: the file changed.
                guard sink.written + symbols.count <= tokenCount else { throw CorpusError.changedWhilePreparing(path: path) }
                mapped.removeAll(keepingCapacity: true)
                let smallest = ids.withUnsafeBufferPointer { ids in
                    symbols.reduce(Int32(0)) { smallest, symbol in
                        let id = ids[Int(symbol)]
                        mapped.append(id)
                        return min(smallest, id)
                    }
                }
                guard smallest >= 0 else { throw CorpusError.changedWhilePreparing(path: path) }
                try sink.append(mapped)
            }, read: readWriting)
        }
        return try sink.finish(changed: inputs.joined(separator: ", "))
    }

    /// Through a BPE: pass 1 counts the tokens (for the split), pass 2 writes them. The
    /// inputs are one text: a pre-token may run from one file into the next, as when the
    /// concatenation is encoded in one call.
    private func writeSubwords(_ encoding: BytePairEncoding, report: (Phase) -> (Int) -> Void) throws -> TokenFileHeader {
        var encoder = BytePairEncoder(encoding)
        var tokenCount = 0
        let readVocabulary = report(.counting)
        for path in inputs {
            try forEachSymbols(of: path, tokenizer: .bpe, { scalars in
                try encoder.append(scalars, final: false) { _ in tokenCount += 1 }
            }, read: readVocabulary)
        }
        try encoder.append([], final: true) { _ in tokenCount += 1 }
        var sink = try startIDs(vocabulary: Vocabulary(bytePairEncoding: encoding), tokenCount: tokenCount)
        encoder.restart()
        var ids = [Int32]()
        let readWriting = report(.writing)
        for path in inputs {
            try forEachSymbols(of: path, tokenizer: .bpe, { scalars in
                ids.removeAll(keepingCapacity: true)
                try encoder.append(scalars, final: false) { ids.append($0) }
                guard sink.written + ids.count <= tokenCount else { throw CorpusError.changedWhilePreparing(path: path) }
                try sink.append(ids)
            }, read: readWriting)
        }
        ids.removeAll()
        try encoder.append([], final: true) { ids.append($0) }
        try sink.append(ids)
        return try sink.finish(changed: inputs.joined(separator: ", "))
    }

    /// A user's ids, each checked to be a token of `encoding`, in one pass (the size gives the count).
    private func importIDs(width: TokenWidth, encoding: BytePairEncoding, report: (Int) -> Void) throws -> TokenFileHeader {
        let path = inputs[0]
        let size = try Self.size(of: path)
        guard size % width.rawValue == 0 else { throw CorpusError.partialID(path: path, bytes: size, width: width.rawValue) }
        var sink = try startIDs(vocabulary: Vocabulary(bytePairEncoding: encoding), tokenCount: size / width.rawValue)
        var carry: [UInt8] = []
        var ids = [Int32]()
        try Self.reading(path) {
            try FileIO.readChunks(path: path, chunkSize: chunkBytes) { chunk in
                report(chunk.count)
                let bytes = carry + chunk
                let whole = bytes.count / width.rawValue * width.rawValue
                ids.removeAll(keepingCapacity: true)
                for offset in stride(from: 0, to: whole, by: width.rawValue) {
                    let id: UInt32
                    switch width {
                    case .one: id = UInt32(bytes[offset])
                    case .two: id = UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8
                    case .four: id = (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
                    }
                    guard id < UInt32(Int32.max), encoding.bytes(of: Int32(id)) != nil else {
                        throw CorpusError.idOutsideVocabulary(path: path, id: id, tokenIndex: sink.written + ids.count,
                                                              vocabularySize: encoding.vocabularySize)
                    }
                    ids.append(Int32(id))
                }
                carry = Array(bytes[whole...])
                guard sink.written + ids.count <= sink.tokenCount else { throw CorpusError.changedWhilePreparing(path: path) }
                try sink.append(ids)
            }
        }
        return try sink.finish(changed: path)
    }

    /// Writes the header's placeholder (completed by `IDSink.finish`) and returns the sink of the ids.
    private func startIDs(vocabulary: Vocabulary, tokenCount: Int) throws -> IDSink {
        guard tokenCount > 0 else { throw CorpusError.empty(path: inputs.count == 1 ? inputs[0] : inputs.joined(separator: ", ")) }
        let header = TokenFileHeader(vocabulary: vocabulary, width: .fitting(vocabularySize: vocabulary.count), tokenCount: tokenCount,
                                     validationStart: tokenCount - Corpus.validationCount(tokens: tokenCount, fraction: validationFraction),
                                     dataChecksum: 0)
        try header.encoded().withUnsafeBytes { try writer.append($0) }   // a placeholder until the checksum is known
        return IDSink(header: header, writer: writer)
    }

    /// Turns `FileIO`'s errors into the corpus's.
    private static func reading(_ path: String, _ body: () throws -> Void) throws {
        do {
            try body()
        } catch FileIOError.notFound {
            throw CorpusError.missing(path: path)
        } catch FileIOError.unreadable(_, let reason) {
            throw CorpusError.unreadable(path: path, reason: reason)
        }
    }

    /// Calls `body` with the symbols of each chunk of `path` (a UTF-8 sequence cut by a chunk
    /// boundary is carried to the next chunk), and `read` with the bytes read.
    private func forEachSymbols(of path: String, tokenizer: Tokenizer, _ body: ([UInt32]) throws -> Void, read: (Int) -> Void) throws {
        var carry: [UInt8] = []
        var offset = 0   // of carry[0] in the file, for the invalid-UTF-8 message
        try Self.reading(path) {
            try FileIO.readChunks(path: path, chunkSize: chunkBytes) { chunk in
                read(chunk.count)
                switch tokenizer {
                case .bytes:
                    try body(chunk.map { UInt32($0) })
                case .chars, .bpe:
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

/// The ids of a token file as they are written: encoded at the header's width in chunks,
/// checksummed, and their characters counted per split.
private struct IDSink {
    var header: TokenFileHeader
    let writer: AtomicFileWriter
    private(set) var written = 0
    private var characters = (train: 0, validation: 0)
    private var encoded: [UInt8] = []

    init(header: TokenFileHeader, writer: AtomicFileWriter) {
        self.header = header
        self.writer = writer
    }

    var tokenCount: Int { header.tokenCount }

    mutating func append(_ ids: [Int32]) throws {
        guard !ids.isEmpty else { return }
        let split = min(ids.count, max(0, header.validationStart - written))
        characters.train += header.vocabulary.characters(in: ids[..<split])
        characters.validation += header.vocabulary.characters(in: ids[split...])
        if encoded.count < ids.count * 4 { encoded = [UInt8](repeating: 0, count: ids.count * 4) }
        let count = TokenEncoding.encode(ids[...], width: header.width, into: &encoded)
        try encoded.withUnsafeBytes { bytes in
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[0..<count])
            try writer.append(chunk)
            checksum.update(chunk)
        }
        written += ids.count
    }

    private var checksum = TokenChecksum()

    /// The completed header; `changed` names the inputs when fewer ids came than pass 1 counted.
    mutating func finish(changed: String) throws -> TokenFileHeader {
        guard written == header.tokenCount else { throw CorpusError.changedWhilePreparing(path: changed) }
        header.dataChecksum = checksum.value
        header.characters = CharacterCounts(train: characters.train, validation: characters.validation)
        return header
    }
}
