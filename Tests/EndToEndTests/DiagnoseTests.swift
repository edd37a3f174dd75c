import Buffers
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import RNN
import TestSupport
import XCTest
import Checkpoints
import Safetensors
import TextData

/// `rnn-dist diagnose` (the real binary) on models whose answer is known: tanh RNNs with
/// W_hh = r × a signed permutation (every eigenvalue has modulus r and every singular value is
/// r) and tiny inputs so that tanh stays linear, where the gradient survival is r^k; an lstm
/// whose open forget gate carries the gradient through c; random and trained gated stacks.
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
        let layout = ModelLayout(architecture: ModelArchitecture(shape: shape))
        let parameters = Buffer<Float>(count: layout.count, repeating: 0)
        var generator = SeededGenerator(seed: 5)
        let H = Self.H, V = vocab.count
        // A fixed derangement with signs: row i has one entry ±radius in column (3i + 1) mod H.
        let W_hh = layout.range(of: .W_hh(layer: 0))!.lowerBound
        for i in 0..<H {
            parameters[W_hh + i * H + (3 * i + 1) % H] = (i % 3 == 0 ? -radius : radius)
        }
        let W_xh = layout.range(of: .W_xh(layer: 0))!.lowerBound
        for i in 0..<H * V { parameters[W_xh + i] = Float(1e-3 * generator.nextGaussian()) }
        let W_hy = layout.range(of: .W_hy)!.lowerBound
        for i in 0..<V * H { parameters[W_hy + i] = Float(0.5 * generator.nextGaussian()) }
        // b_y: 'a' is almost certain, so the 'a' targets add almost no gradient.
        parameters[layout.range(of: .b_y)!.lowerBound] = 8
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

    /// The survival row for distance k: one value per curve.
    private func survival(k: Int, in output: String) throws -> [Double] {
        let prefix = String(repeating: " ", count: 8 - String(k).count) + String(k) + "   "
        let row = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix(prefix) }, "no survival row k=\(k) in\n\(output)")
        return try row.split(separator: " ").dropFirst().map { try XCTUnwrap(Double($0), String(row)) }
    }

    /// The survival table's header, single-spaced: "k layer 0 h layer 0 c".
    private func header(in output: String) -> String {
        line("       k ", in: output).split(separator: " ").joined(separator: " ")
    }

    /// The bound line: "bound on the survival over W steps (…): 9.766e-04 (measured: 9.766e-04)".
    private func boundAndMeasured(in output: String) throws -> (Double, Double) {
        let text = line("bound on the survival", in: output)
        let numbers = text.split(separator: ":").dropFirst().map { $0.split(separator: " ").first.map(String.init) ?? "" }
        let bound = try XCTUnwrap(Double(numbers[0]), text)
        let measured = try XCTUnwrap(Double(numbers[1].trimmingCharacters(in: CharacterSet(charactersIn: ")"))), text)
        return (bound, measured)
    }

    /// The verdict word of a curve's line ("layer 0 h: vanishing: …" → "vanishing").
    private func word(_ output: String, _ curve: String) throws -> String {
        let text = line(curve + ": ", in: output)
        return try XCTUnwrap(text.split(separator: ":").dropFirst().first.map { $0.trimmingCharacters(in: .whitespaces) }, output)
    }

    /// A parameters file of a gated model: small random weights, then `edit`.
    private func writeGatedModel(_ cell: CellKind, layers: Int, name: String,
                                 edit: (ModelLayout, Buffer<Float>) -> Void) throws -> String {
        let vocab = Vocabulary(tokenizer: .chars, symbols: Self.alphabet.unicodeScalars.map(\.value))
        let layout = ModelLayout(architecture: ModelArchitecture(cell: cell, layers: layers, hiddenSize: Self.H,
                                                                 vocabularySize: vocab.count))
        var generator = SeededGenerator(seed: 9)
        let parameters = Buffer<Float>((0..<layout.count).map { _ in Float(0.4 * generator.nextGaussian()) })
        edit(layout, parameters)
        let path = run.path(name)
        try ParameterFile.save(path: path, parameters: parameters, layout: layout, metadata: ["vocabulary": vocab.serialized])
        return path
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

    /// W_hh = r × a signed permutation and h ≈ 0: every backward step scales the gradient by
    /// exactly r, so the survival is r^k, the verdict follows from it, and the Jacobian bound
    /// (here tight: r^window) sits next to the measured value without contradicting it.
    func testSurvivalVerdictAndBoundAgree() throws {
        let corpus = try writeCorpus()
        let small = try diagnose(try writeModel(radius: 0.5, name: "small.safetensors"), corpus: corpus,
                                 plot: run.path("small.svg"))
        XCTAssertEqual(small.status, 0, small.output)
        XCTAssertEqual(try survival(k: 1, in: small.stdout)[0], 0.5, accuracy: 1e-3, small.stdout)
        XCTAssertEqual(try survival(k: 10, in: small.stdout)[0], pow(0.5, 10), accuracy: 1e-3 * pow(0.5, 10), small.stdout)
        XCTAssertEqual(line("verdict", in: small.stdout), "verdict (layer 0 h): vanishing: the gradient from step t falls "
            + "below 1% of its size after 7 steps (below 10% after 4 steps)", small.stdout)
        XCTAssertEqual(try value("Jacobian factor", in: small.stdout), 0.5, accuracy: 0.01, small.stdout)
        let (bound, measured) = try boundAndMeasured(in: small.stdout)
        XCTAssertEqual(bound, pow(0.5, 10), accuracy: 1e-2 * pow(0.5, 10), small.stdout)
        XCTAssertEqual(measured, pow(0.5, 10), accuracy: 1e-3 * pow(0.5, 10), small.stdout)
        XCTAssertFalse(small.stdout.contains("exploding"), small.stdout)

        let large = try diagnose(try writeModel(radius: 1.5, name: "large.safetensors"), corpus: corpus,
                                 plot: run.path("large.svg"))
        XCTAssertEqual(large.status, 0, large.output)
        // h grows with the gradient here (1.5^t × 1e-3), so tanh is no longer quite linear: 3%.
        XCTAssertEqual(try survival(k: 5, in: large.stdout)[0], pow(1.5, 5), accuracy: 3e-2 * pow(1.5, 5), large.stdout)
        XCTAssertEqual(line("verdict", in: large.stdout),
                       "verdict (layer 0 h): exploding: the gradient from step t grows past 10× its size after 6 steps", large.stdout)
        XCTAssertGreaterThan(try value("Jacobian factor", in: large.stdout), 1.2, large.stdout)
        XCTAssertFalse(large.stdout.contains("vanishing"), large.stdout)
    }

    /// A tanh RNN, an lstm whose forget gate is held open (b_f = +20) with W_hh = 0, and a
    /// random 2-layer gru, on one plot: the lstm's cell state keeps the gradient (survival ≈ 1
    /// at every k: "survives"), its h loses it at once (W_hh = 0: exactly 0 beyond k = 0).
    func testSeveralModelsOnOnePlot() throws {
        let corpus = try writeCorpus()
        let tanh = try writeModel(radius: 0.5, name: "tanh.safetensors")
        let lstm = try writeGatedModel(.lstm, layers: 1, name: "lstm.safetensors") { layout, parameters in
            parameters.fill(0, range: layout.range(of: .W_hh(layer: 0))!)
            let b_xh = layout.range(of: .b_xh(layer: 0))!.lowerBound
            parameters.fill(20, range: b_xh + Self.H..<b_xh + 2 * Self.H)   // gate block 1: f
        }
        let gru = try writeGatedModel(.gru, layers: 2, name: "gru.safetensors") { _, _ in }
        let plot = run.path("all.svg")
        let result = try run.runAlone(["diagnose", "--checkpoint", tanh, "--checkpoint", lstm, "--checkpoint", gru,
                                       "--data", corpus, "--seq-len", "\(Self.T)", "--batches", "2", "--plot", plot])
        XCTAssertEqual(result.status, 0, result.output)
        let blocks: [String] = Array(result.stdout.components(separatedBy: "gradient diagnostics: ").dropFirst())
        XCTAssertEqual(blocks.count, 3, result.stdout)
        XCTAssertTrue(blocks[0].contains("tanh RNN H=8") && blocks[1].contains("lstm L=1 H=8") && blocks[2].contains("gru L=2 H=8"),
                      result.stdout)

        // The lstm: c survives at ≈ 1, h is exactly 0 beyond k = 0.
        for k in [1, 5, Self.T - 1] {
            let row = try survival(k: k, in: blocks[1])
            XCTAssertEqual(row[0], 0, "h, k=\(k)")
            XCTAssertEqual(row[1], 1, accuracy: 1e-3, "c, k=\(k)")
        }
        let carried = line("layer 0 c:", in: blocks[1])   // Π f ≈ 1 − 2e-9 per step: 1 in Float
        XCTAssertTrue(carried.hasPrefix("layer 0 c: survives: the gradient from step t keeps ≥ 99%")
                      || carried.hasPrefix("layer 0 c: survives: the gradient from step t keeps ≥ 100%"), blocks[1])
        XCTAssertTrue(line("layer 0 h:", in: blocks[1]).hasSuffix("falls below 1% of its size after 1 step"), blocks[1])
        XCTAssertFalse(blocks[1].contains("spectral radius") || blocks[1].contains("Jacobian"), "no W_hh spectrum for gated cells")
        // The gru: one column per layer, a verdict per layer.
        XCTAssertEqual(header(in: blocks[2]), "k layer 0 h layer 1 h", blocks[2])
        XCTAssertTrue(blocks[2].contains("\nlayer 0 h: ") && blocks[2].contains("\nlayer 1 h: "), blocks[2])

        let data = try Data(contentsOf: URL(fileURLWithPath: plot))
        let parser = XMLParser(data: data)
        XCTAssertTrue(parser.parse(), "not well-formed XML: \(String(describing: parser.parserError))")
        let svg = String(decoding: data, as: UTF8.self)
        let series = svg.components(separatedBy: "<g class=\"series\" data-name=\"").dropFirst().map { String($0.prefix { $0 != "\"" }) }
        XCTAssertEqual(series, ["tanh.safetensors: tanh RNN H=8, layer 0 h: vanishing",
                                "lstm.safetensors: lstm L=1 H=8, layer 0 h: vanishing (&lt; 1e-8 from k = 1)",
                                "lstm.safetensors: lstm L=1 H=8, layer 0 c: survives",
                                "gru.safetensors: gru L=2 H=8, layer 0 h: \(try word(blocks[2], "layer 0 h"))",
                                "gru.safetensors: gru L=2 H=8, layer 1 h: \(try word(blocks[2], "layer 1 h"))",
                                "1%: below it the gradient has vanished"], svg)
        XCTAssertEqual(svg.components(separatedBy: "stroke-dasharray").count - 1, 4, "c and the 1% line, each in the legend too")
        XCTAssertTrue(svg.contains("gradient survival of 3 models") && svg.contains("(log scale)"))
    }

    /// A 2-layer lstm trained by the real binary: every layer's h and c in the table, finite.
    func testTrainedStackedLSTM() throws {
        let train = try run.runAlone(["--data", "synthetic:markov", "--cell", "lstm", "--layers", "2", "--hidden", "16",
                                      "--seq-len", "12", "--global-batch", "8", "--steps", "20", "--log-every", "10",
                                      "--checkpoint-dir", run.path("lstm")])
        XCTAssertEqual(train.status, 0, train.output)
        let result = try run.runAlone(["diagnose", "--checkpoint", run.path("lstm"), "--batches", "1", "--batch-size", "4",
                                       "--loss-steps", "4", "--plot", run.path("lstm.svg")])
        XCTAssertEqual(result.status, 0, result.output)
        XCTAssertEqual(header(in: result.stdout), "k layer 0 h layer 0 c layer 1 h layer 1 c", result.stdout)
        for k in [0, 1, 5, 11] {
            let row = try survival(k: k, in: result.stdout)
            XCTAssertEqual(row.count, 4)
            for value in row { XCTAssertTrue(value.isFinite && value >= 0, "k=\(k): \(row)") }
            if k == 0 { XCTAssertEqual(row, [1, 1, 1, 1]) }
        }
        XCTAssertTrue(result.stdout.contains("(checkpoint, step 20)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(t = T, T−3, T−6, …: 4 of the 12 steps, --loss-steps 4)"), result.stdout)
        XCTAssertTrue(line("verdict", in: result.stdout).hasPrefix("verdict (layer 0 h): "), result.stdout)
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
        XCTAssertTrue(svg.contains("k, steps back from the loss at step t"))
        XCTAssertTrue(svg.contains("mean ‖∂L_t/∂h_{t−k}‖ / ‖∂L_t/∂h_t‖"))
        XCTAssertTrue(svg.contains("m.safetensors: tanh RNN H=8 — vanishing"), "title names the file, the model and the verdict")
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
        XCTAssertEqual(job.stdout.components(separatedBy: "verdict (layer 0 h)").count, 2, job.stdout)
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
            (["--checkpoint", good, "--data", corpus, "--loss-steps", "0"], "--loss-steps must be at least 1"),
            (["--checkpoint", good, "--checkpoint", run.path("missing.safetensors"), "--data", corpus], "model file not found"),
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
