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
        `prepare --verify FILE` reads a token file whole and checks its data checksum and ids.
        """
    )

    @Argument(help: "Text files or folders (with --verify: one token file).") var inputs: [String]
    @Option(help: "The token file to write.") var output: String?
    @Option(help: "chars (Unicode scalars) or bytes.") var tokenizer: Tokenizer = .chars
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
            let writer = try TokenFileWriter(inputs: inputs, output: output, tokenizer: tokenizer,
                                             validationFraction: validationFraction)
            TemporaryFileCleanup.path = strdup(writer.temporaryPath)
            let header = try writer.write { step in
                progress.show(String(format: "%@ %.0f%% (%d of %d MB)", step.phase == .vocabulary ? "pass 1/2 vocabulary" : "pass 2/2 ids",
                                     100 * Double(step.bytesDone) / Double(max(1, step.totalBytes)), step.bytesDone >> 20, step.totalBytes >> 20))
            }
            progress.finish()
            print(String(format: "prepared %@ from %d file%@ in %.1f s: %@", output, writer.inputs.count,
                         writer.inputs.count == 1 ? "" : "s", Date().timeIntervalSince(start), Self.describe(header)))
        }
    }

    static func describe(_ header: TokenFileHeader) -> String {
        "\(header.tokenCount) tokens (\(header.validationStart) train + \(header.tokenCount - header.validationStart) validation), "
            + "\(header.vocabulary.summary), \(header.width.rawValue) byte\(header.width == .one ? "" : "s") per token, "
            + "checksum \(TokenChecksum.hex(header.dataChecksum))"
    }
}

extension Tokenizer: ExpressibleByArgument {}

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
