import ArgumentParser
import Foundation
import Reporting
import RunErrors
import TextData
#if canImport(Glibc)
import Glibc
#endif

/// `rnn-dist prepare`: tokenize text once into a token file that every rank maps (DESIGN §3).
struct PrepareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Tokenize text files or folders once into a token file for --data (or check one with --verify).",
        discussion: """
        Streams the inputs twice (vocabulary, then ids) in bounded memory and writes the token \
        file under a temporary name beside --output, renamed when complete: an interrupted run \
        leaves nothing behind. Folders are read recursively in sorted order, hidden names skipped. \
        `--tokenizer FILE.json` encodes with a Hugging Face byte-level BPE (its ids, stored with \
        it in the token file); `--ids FILE.bin --dtype uint16|uint32 --tokenizer FILE.json` \
        imports ids already made with it (nanoGPT's .bin). \
        `prepare --verify FILE` reads a token file whole and checks its data checksum and ids.
        """
    )

    @Argument(help: "Text files or folders (with --verify: one token file).") var inputs: [String] = []
    @Option(help: "The token file to write.") var output: String?
    @Option(help: "chars (Unicode scalars), bytes, or a Hugging Face tokenizer.json (byte-level BPE).")
    var tokenizer: String = Tokenizer.chars.rawValue
    @Option(help: "A file of token ids of --tokenizer FILE.json, little-endian (nanoGPT's .bin), instead of text.")
    var ids: String?
    @Option(help: "The ids' type in --ids: uint16 or uint32.") var dtype: IDType?
    @Option(name: .customLong("validation-fraction"), parsing: .unconditional, help: "Tail fraction held out for validation.")
    var validationFraction: Double = 0.1
    @Flag(help: "Check a token file's whole data instead of writing one.") var verify = false

    func run() throws {
        SingleProcess.run {
            let progress = ProgressLine()
            let start = Date()
            if verify {
                guard inputs.count == 1, output == nil else { throw RunError.badInput("prepare --verify takes one token file and no --output") }
                let file = try TokenFile(path: inputs[0], verifyData: false)
                try file.verify { progress.show(String(format: "verifying %.0f%%", 100 * $0)) }
                progress.finish()
                print("\(inputs[0]): valid, \(Self.describe(file.header))")
                return
            }
            guard let output else { throw RunError.badInput("prepare needs --output FILE") }
            TemporaryFileCleanup.install()
            defer { TemporaryFileCleanup.uninstall() }
            let writer = try TokenFileWriter(inputs: ids.map { [$0] } ?? inputs, output: output, source: try source(),
                                             validationFraction: validationFraction)
            TemporaryFileCleanup.path = strdup(writer.temporaryPath)
            let header = try writer.write { step in
                progress.show(String(format: "%@ %.0f%% (%d of %d MB)", Self.label(step.phase),
                                     100 * Double(step.bytesDone) / Double(max(1, step.totalBytes)), step.bytesDone >> 20, step.totalBytes >> 20))
            }
            progress.finish()
            print(String(format: "prepared %@ from %d file%@ in %.1f s: %@", output, writer.inputs.count,
                         writer.inputs.count == 1 ? "" : "s", Date().timeIntervalSince(start), Self.describe(header)))
        }
    }

    private static func label(_ phase: TokenFileWriter.Phase) -> String {
        switch phase {
        case .vocabulary: return "pass 1/2 vocabulary"
        case .counting: return "pass 1/2 tokens"
        case .writing: return "pass 2/2 ids"
        }
    }

    /// What --tokenizer, --ids and --dtype ask for, checked together.
    private func source() throws -> TokenFileWriter.Source {
        let builtIn = Tokenizer(rawValue: tokenizer)
        if let ids {
            guard inputs.isEmpty else { throw RunError.badInput("prepare --ids \(ids) takes no text inputs (got \(inputs.joined(separator: " ")))") }
            guard let dtype else { throw RunError.badInput("prepare --ids needs --dtype uint16 or uint32") }
            guard builtIn == nil else { throw RunError.badInput("prepare --ids needs --tokenizer FILE.json, the tokenizer the ids come from") }
            return .ids(width: dtype.width, try BytePairEncoding(path: tokenizer))
        }
        if dtype != nil { throw RunError.badInput("--dtype describes --ids FILE; without --ids it means nothing") }
        switch builtIn {
        case .chars: return .chars
        case .bytes: return .bytes
        case .bpe: throw RunError.badInput("--tokenizer bpe: give the tokenizer.json file itself (--tokenizer FILE.json)")
        case nil: return .bpe(try BytePairEncoding(path: tokenizer))
        }
    }

    /// The element type of an --ids file.
    enum IDType: String, ExpressibleByArgument, CaseIterable {
        case uint16, uint32

        var width: TokenWidth {
            switch self {
            case .uint16: return .two
            case .uint32: return .four
            }
        }
    }

    static func describe(_ header: TokenFileHeader) -> String {
        "\(header.tokenCount) tokens (\(header.validationStart) train + \(header.tokenCount - header.validationStart) validation), "
            + "\(header.vocabulary.summary), \(header.width.rawValue) byte\(header.width == .one ? "" : "s") per token, "
            + "checksum \(TokenChecksum.hex(header.dataChecksum))"
            + (header.characters.map { String(format: ", %.2f characters per token", Double($0.train + $0.validation) / Double(max(1, header.tokenCount))) } ?? "")
    }
}

/// The progress line of `prepare` on stderr, redrawn at most 10 times a second, and only
/// when stderr is a terminal (a log gets the final summary alone).
private final class ProgressLine {
    private var line: LiveStatusLine? = isatty(2) == 1 ? LiveStatusLine(descriptor: 2) : nil
    private var last = 0.0

    func show(_ text: String) {
        guard line != nil else { return }
        let now = Date().timeIntervalSinceReferenceDate
        guard now - last >= 0.1 else { return }
        last = now
        write(line?.update(text))
    }

    func finish() { write(line?.finish()) }

    private func write(_ text: String?) {
        guard let text, !text.isEmpty else { return }
        fputs(text, stderr)
        fflush(stderr)
    }
}

/// Removes `prepare`'s temporary file when SIGINT or SIGTERM ends the process (the handler
/// only calls unlink and _exit, which are async-signal-safe). Installed before the file is
/// created; `path` is set as soon as it exists.
enum TemporaryFileCleanup {
    nonisolated(unsafe) static var path: UnsafeMutablePointer<CChar>?

    static func install() {
        // A launcher may hand the signals down blocked (a Dispatch thread's mask survives exec).
        var set = sigset_t()
        sigemptyset(&set)
        for signalNumber in [SIGINT, SIGTERM] {
            sigaddset(&set, signalNumber)
            signal(signalNumber) { received in
                if let path = TemporaryFileCleanup.path { unlink(path) }
                _exit(128 + received)
            }
        }
        sigprocmask(SIG_UNBLOCK, &set, nil)
    }

    static func uninstall() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
