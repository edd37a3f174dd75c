import Buffers
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RNN
import TestSupport
import Training
import XCTest
import Checkpoints
import Safetensors
import TextData

/// `rnn-dist diagnose` on models whose recurrence is known: W_hh = r × a signed permutation
/// (every eigenvalue has modulus r and every singular value is r), tiny inputs so that
/// tanh stays linear, and a corpus where only the last target of each sequence is uncertain,
/// so that the loss gradient enters at the end and its decay or growth with the distance
/// shows in the profile as well as in the Jacobian product.
final class DiagnoseTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private static let H = 8, T = 12
    private static let alphabet = "abcd"

    /// Sequence i covers tokens [iT, iT + T]: positions that are multiples of T hold a random
    /// b/c/d (the last target of one sequence and the first input of the next), all others 'a'.
    private func writeCorpus() throws -> String {
        var generator = DataRandom(seed: 3)
        var text = ""
        for position in 0..<(Self.T * 400 + 1) {
            text += position % Self.T == 0 ? String(Array("bcd")[generator.nextInt(below: 3)]) : "a"
        }
        let path = run.path("corpus.txt")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A parameters file (as `--save` writes it) with W_hh = radius × a signed permutation.
    private func writeModel(radius: Float, name: String, vocabulary: Bool = true) throws -> String {
        let vocab = Vocabulary(tokenizer: .chars, symbols: Self.alphabet.unicodeScalars.map(\.value))
        let shape = RNNShape(vocabularySize: vocab.count, hiddenSize: Self.H)
        let layout = ParameterLayout(shape: shape)
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        var generator = SeededGenerator(seed: 5)
        let H = Self.H, V = vocab.count
        // A fixed derangement with signs: row i has one entry ±radius in column (3i + 1) mod H.
        let W_hh = layout.range(of: .W_hh).lowerBound
        for i in 0..<H {
            parameters[W_hh + i * H + (3 * i + 1) % H] = (i % 3 == 0 ? -radius : radius)
        }
        let W_xh = layout.range(of: .W_xh).lowerBound
        for i in 0..<H * V { parameters[W_xh + i] = Float(1e-3 * generator.nextGaussian()) }
        let W_hy = layout.range(of: .W_hy).lowerBound
        for i in 0..<V * H { parameters[W_hy + i] = Float(0.5 * generator.nextGaussian()) }
        // b_y: 'a' is almost certain, so the 'a' targets add almost no gradient.
        parameters[layout.range(of: .b_y).lowerBound] = 8
        let path = run.path(name)
        try ParameterFile.save(path: path, parameters: parameters, layout: layout,
                               metadata: vocabulary ? ["vocabulary": vocab.serialized] : [:])
        return path
    }

    private func diagnose(_ model: String, corpus: String, plot: String, extra: [String] = []) throws -> ProcessResult {
        try run.runAlone(["diagnose", "--checkpoint", model, "--data", corpus, "--seq-len", "\(Self.T)",
                          "--window", "10", "--plot", plot] + extra)
    }

    /// The number at the end of the table line that starts with `label`.
    private func value(_ label: String, in output: String) throws -> Double {
        let line = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix(label) }, "no '\(label)' in\n\(output)")
        return try XCTUnwrap(Double(line.split(separator: " ").last.map(String.init) ?? ""), String(line))
    }

    private func line(_ prefix: String, in output: String) -> String {
        output.split(separator: "\n").first { $0.hasPrefix(prefix) }.map(String.init) ?? ""
    }

    func testKnownSpectralRadiusAndSingularValue() throws {
        let corpus = try writeCorpus()
        for radius: Float in [0.7, 1.3] {
            let model = try writeModel(radius: radius, name: "r\(radius).safetensors")
            let result = try diagnose(model, corpus: corpus, plot: run.path("r\(radius).svg"))
            XCTAssertEqual(result.status, 0, result.output)
            XCTAssertEqual(try value("spectral radius", in: result.stdout), Double(radius), accuracy: 1e-3, result.stdout)
            XCTAssertEqual(try value("largest singular value", in: result.stdout), Double(radius), accuracy: 1e-3, result.stdout)
            XCTAssertTrue(result.stdout.contains("clipped steps:") && result.stdout.contains("unknown (not recorded in this file)"),
                          result.stdout)
        }
    }

    func testVanishingAndExplodingVerdicts() throws {
        let corpus = try writeCorpus()
        let small = try diagnose(try writeModel(radius: 0.5, name: "small.safetensors"), corpus: corpus,
                                 plot: run.path("small.svg"))
        XCTAssertEqual(small.status, 0, small.output)
        XCTAssertTrue(line("verdict (Jacobian)", in: small.stdout).contains("vanishing"), small.stdout)
        XCTAssertEqual(try value("Jacobian factor", in: small.stdout), 0.5, accuracy: 0.01, small.stdout)
        XCTAssertTrue(line("verdict (profile)", in: small.stdout).contains("vanishing"), small.stdout)

        let large = try diagnose(try writeModel(radius: 1.5, name: "large.safetensors"), corpus: corpus,
                                 plot: run.path("large.svg"))
        XCTAssertEqual(large.status, 0, large.output)
        XCTAssertTrue(line("verdict (Jacobian)", in: large.stdout).contains("exploding"), large.stdout)
        XCTAssertGreaterThan(try value("Jacobian factor", in: large.stdout), 1.2, large.stdout)
        XCTAssertTrue(line("verdict (profile)", in: large.stdout).contains("exploding"), large.stdout)
        XCTAssertEqual(line("verdict:", in: large.stdout), "verdict: exploding", large.stdout)
        XCTAssertEqual(line("verdict:", in: small.stdout), "verdict: vanishing", small.stdout)
    }

    func testPlotIsWellFormedSVGWithAxisLabels() throws {
        let corpus = try writeCorpus()
        let plot = run.path("plots/flow.svg")
        try FileManager.default.createDirectory(atPath: run.path("plots"), withIntermediateDirectories: true)
        let result = try diagnose(try writeModel(radius: 0.5, name: "m.safetensors"), corpus: corpus, plot: plot)
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("plot written to \(plot)"), result.stdout)
        let data = try Data(contentsOf: URL(fileURLWithPath: plot))
        let parser = XMLParser(data: data)
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(String(describing: parser.parserError))")
        let svg = String(decoding: data, as: UTF8.self)
        XCTAssertTrue(svg.contains("distance from the loss (steps)"))
        XCTAssertTrue(svg.contains("mean ‖∂L/∂h_t‖"))
        XCTAssertTrue(svg.contains("m.safetensors — vanishing"), "title names the file and the verdict")
        XCTAssertTrue(svg.contains("(log scale)"))

        // The default plot path is ./gradient-flow.svg in the working directory.
        let again = try run.runAlone(["diagnose", "--checkpoint", run.path("m.safetensors"), "--data", corpus,
                                      "--seq-len", "12", "--batches", "1", "--batch-size", "2"])
        XCTAssertEqual(again.status, 0, again.output)
        XCTAssertTrue(FileManager.default.fileExists(atPath: run.path("gradient-flow.svg")))
    }

    /// On a trained checkpoint, the data and T default to the run's; the clipped fraction is
    /// read from `clipped_steps` when the checkpoint records it.
    func testTrainedCheckpointAndClippedFraction() throws {
        let train = try run.runAlone(["--data", "synthetic:markov", "--hidden", "16", "--seq-len", "12",
                                      "--global-batch", "8", "--steps", "30", "--log-every", "10",
                                      "--checkpoint-dir", run.path("checkpoints")])
        XCTAssertEqual(train.status, 0, train.output)
        let folder = run.path("checkpoints")
        let result = try run.runAlone(["diagnose", "--checkpoint", folder, "--plot", run.path("ck.svg")])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertTrue(result.stdout.contains("T=12"), result.stdout)
        XCTAssertTrue(result.stdout.contains("synthetic:markov"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(checkpoint, step 30)"), result.stdout)

        // The metadata keys the trainer records (the checksum covers the data only).
        let path = folder + "/" + CheckpointStore.fileName(step: 30)
        var file = try SafetensorsFile.read(path: path)
        file.metadata["clipped_steps"] = "6"
        file.metadata["skipped_steps"] = "0"
        try file.write(to: path)
        let model = try ModelFile.load(path: path)
        XCTAssertEqual(model.clippedSteps, 6)
        XCTAssertEqual(try XCTUnwrap(model.clippedFraction), 0.2, accuracy: 1e-12)
        let clipped = try run.runAlone(["diagnose", "--checkpoint", path, "--plot", run.path("ck2.svg")])
        XCTAssertEqual(clipped.status, 0, clipped.output)
        XCTAssertTrue(line("clipped steps", in: clipped.stdout).hasSuffix("0.200 (6 of 30 steps)"), clipped.stdout)

        // Under mpirun with two ranks the table is printed once.
        let job = try run.run(ranks: 2, ["diagnose", "--checkpoint", path, "--plot", run.path("ck3.svg")])
        XCTAssertEqual(job.status, 0, job.output)
        XCTAssertEqual(job.stdout.components(separatedBy: "spectral radius").count, 2, job.stdout)
    }

    func testBadInputExitsOneWithOneLine() throws {
        let corpus = try writeCorpus()
        let noVocabulary = try writeModel(radius: 0.5, name: "novocab.safetensors", vocabulary: false)
        let text = run.path("text.safetensors")
        try "this is not a safetensors file at all".write(toFile: text, atomically: true, encoding: .utf8)
        let good = try writeModel(radius: 0.5, name: "good.safetensors")
        let cases: [([String], String)] = [
            (["--checkpoint", run.path("missing.safetensors"), "--data", corpus], "model file not found"),
            (["--checkpoint", text, "--data", corpus], "is not a safetensors model file"),
            (["--checkpoint", noVocabulary, "--data", corpus],
             "has no vocabulary: save it with rnn-dist --save or use a checkpoint"),
            (["--checkpoint", good], "--data is required"),
            (["--checkpoint", good, "--data", "synthetic:markov"], "not the vocabulary of"),
            (["--checkpoint", good, "--data", run.path("nothing.txt")], "corpus file not found"),
            (["--checkpoint", good, "--data", corpus, "--batches", "0"], "--batches"),
            (["--checkpoint", good, "--data", corpus, "--seq-len", "100000"], "needs at least 100001"),
        ]
        for (arguments, fragment) in cases {
            let result = try run.runAlone(["diagnose", "--plot", run.path("x.svg")] + arguments)
            XCTAssertEqual(result.status, 1, "\(arguments): \(result.output)")
            XCTAssertEqual(result.stdout, "", "\(arguments)")
            XCTAssertEqual(result.stderr.split(separator: "\n").count, 1, "\(arguments): \(result.stderr)")
            XCTAssertTrue(result.stderr.hasPrefix("rnn-dist: "), result.stderr)
            XCTAssertTrue(result.stderr.contains(fragment), "\(arguments): '\(result.stderr)' lacks '\(fragment)'")
            XCTAssertFalse(FileManager.default.fileExists(atPath: run.path("x.svg")), "no plot after an error")
        }
        // The same errors from the library, for sample too.
        assertThrows(try ModelFile.load(path: noVocabulary), containing: [noVocabulary, "has no vocabulary"])
    }

    /// A parameters file whose tensors disagree with each other or with the vocabulary.
    func testWrongShapesAreNamed() throws {
        let vocab = Vocabulary(tokenizer: .chars, symbols: "abc".unicodeScalars.map(\.value))
        func write(_ tensors: [String: [Int]], name: String) throws -> String {
            var file = SafetensorsFile(metadata: ["vocabulary": vocab.serialized])
            for (key, shape) in tensors {
                file.tensors[key] = SafetensorsTensor(floats: [Float](repeating: 0, count: shape.reduce(1, *)), shape: shape)
            }
            let path = run.path(name)
            try file.write(to: path)
            return path
        }
        let good: [String: [Int]] = ["W_xh": [4, 3], "W_hh": [4, 4], "W_hy": [3, 4], "b_h": [4], "b_y": [3]]
        XCTAssertEqual(try ModelFile.load(path: try write(good, name: "good.safetensors")).shape,
                       RNNShape(vocabularySize: 3, hiddenSize: 4))
        var bad = good; bad["W_hh"] = [4, 5]
        assertThrows(try ModelFile.load(path: try write(bad, name: "a.safetensors")), containing: ["W_hh", "[4, 5]"])
        bad = good; bad["W_hy"] = [3, 5]
        assertThrows(try ModelFile.load(path: try write(bad, name: "b.safetensors")), containing: ["W_hy", "[3, 5]"])
        bad = good; bad["W_xh"] = [4, 5]; bad["W_hy"] = [5, 4]; bad["b_y"] = [5]
        assertThrows(try ModelFile.load(path: try write(bad, name: "c.safetensors")),
                     containing: ["c.safetensors", "3 symbols", "V=5"])
        bad = good; bad["b_h"] = nil
        assertThrows(try ModelFile.load(path: try write(bad, name: "d.safetensors")), containing: ["no tensor 'b_h'"])
    }
}
