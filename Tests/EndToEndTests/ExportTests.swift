import Buffers
import Checkpoints
import FileIO
import Foundation
import RNN
import Safetensors
import TestSupport
import TextData
import XCTest

/// `rnn-dist export --format torch` (DESIGN §2b's PyTorch names): the tensors against
/// ModelLayout bit for bit, and a NumPy forward pass written from PyTorch's equations on the
/// exported file against rnn-dist's own forward (and real nn modules when torch is installed).
final class ExportTests: XCTestCase {
    private var run: RNNDistRun!

    override func setUpWithError() throws { run = try RNNDistRun() }
    override func tearDown() { run.remove() }

    private static let V = 7, H = 6

    /// A model with distinct, deterministic weights of magnitude up to 0.9 (large enough that
    /// a swapped gate block or bias changes the probabilities by far more than the tolerance).
    private func model(_ cell: CellKind, layers: Int, embedding: Int? = nil, tied: Bool = false) -> ModelFile {
        let architecture = ModelArchitecture(cell: cell, layers: layers, hiddenSize: Self.H, vocabularySize: Self.V,
                                             embeddingSize: embedding, tiedWeights: tied)
        let count = ModelLayout(architecture: architecture).count
        let parameters = Buffer<Float>(count: count, repeating: 0)
        parameters.copy(from: (0..<count).map { Float(0.9 * sin(Double($0) * 12.9898 + 0.5)) }, at: 0)
        return ModelFile(path: "memory", kind: .parameters, architecture: architecture,
                         vocabulary: Vocabulary(tokenizer: .chars, symbols: (97..<97 + UInt32(Self.V))), parameters: parameters)
    }

    /// (cell, layers, E, tied): one-hot models, then models with an embedding (E = 4 ≠ H) and
    /// tied ones (E = H).
    private static let cases: [(CellKind, Int, Int?, Bool)] = [
        (.rnn, 2, nil, false), (.lstm, 2, nil, false), (.gru, 2, nil, false), (.rnn, 1, nil, false),
        (.lstm, 2, 4, false), (.gru, 2, H, true), (.rnn, 1, H, true), (.lstm, 2, H, true),
    ]

    private static func label(_ cell: CellKind, _ layers: Int, _ E: Int?, _ tied: Bool) -> String {
        "\(cell)-\(layers)\(E.map { "-E\($0)" } ?? "")\(tied ? "-tied" : "")"
    }

    func testTensorsAreTheLayoutsRenamedBitForBit() throws {
        for (cell, layers, E, tied) in Self.cases {
            let model = model(cell, layers: layers, embedding: E, tied: tied)
            let path = run.path("\(Self.label(cell, layers, E, tied)).safetensors")
            try TorchExport.write(model, format: .torch, to: path)
            let file = try SafetensorsFile.read(path: path)
            let G = cell.gateCount, H = Self.H, V = Self.V
            var expected = ["fc.weight": [V, H], "fc.bias": [V]]
            if let E { expected["embedding.weight"] = [V, E] }
            for l in 0..<layers {
                expected["rnn.weight_ih_l\(l)"] = [G * H, l == 0 ? E ?? V : H]
                expected["rnn.weight_hh_l\(l)"] = [G * H, H]
                expected["rnn.bias_ih_l\(l)"] = [G * H]
                expected["rnn.bias_hh_l\(l)"] = [G * H]
            }
            XCTAssertEqual(file.tensors.mapValues(\.shape), expected, Self.label(cell, layers, E, tied))
            XCTAssertEqual(file.metadata["embedding_size"], E.map(String.init))
            XCTAssertEqual(file.metadata["tied_weights"], E.map { _ in String(tied) })
            if tied {
                // Written twice with the same bits: the module ties the two names to one parameter.
                XCTAssertEqual(try file.tensors["fc.weight"]!.floats().map(\.bitPattern),
                               try file.tensors["embedding.weight"]!.floats().map(\.bitPattern))
            }
            XCTAssertEqual(file.metadata["cell"], cell.rawValue)
            XCTAssertEqual(file.metadata["layers"], String(layers))
            XCTAssertEqual(file.metadata["vocabulary"], model.vocabulary.serialized)
            for entry in model.layout.entries {
                let tensor = try XCTUnwrap(file.tensors[TorchExport.name(of: entry.tensor)], entry.name)
                XCTAssertEqual(tensor.dtype, "F32")
                let bits = try tensor.floats().map(\.bitPattern)
                XCTAssertEqual(bits, entry.range.map { model.parameters[$0].bitPattern },
                               "\(Self.label(cell, layers, E, tied)) \(entry.name)")
            }
            if model.architecture.isLegacyTanhRNN {
                XCTAssertEqual(try file.tensors["rnn.bias_hh_l0"]!.floats(), [Float](repeating: 0, count: H),
                               "the legacy tanh RNN has one bias: b_hh.0 is 0")
            }
        }
    }

    /// PyTorch's equations (nn.RNN / nn.LSTM / nn.GRU docs), in NumPy float64, on the exported
    /// file: the softmax after each token of a prefix, h_0 = c_0 = 0.
    private static let numpyForward = #"""
    import json, sys, numpy as np
    from safetensors.numpy import load_file
    p = {k: v.astype(np.float64) for k, v in load_file(sys.argv[1]).items()}
    cell, L, tokens = sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    V, H = p["fc.weight"].shape
    sig = lambda x: 1 / (1 + np.exp(-x))
    h = [np.zeros(H) for _ in range(L)]; c = [np.zeros(H) for _ in range(L)]
    out = []
    for t in tokens:
        if "embedding.weight" in p:
            x = p["embedding.weight"][t]
        else:
            x = np.zeros(V); x[t] = 1
        for l in range(L):
            a = p[f"rnn.weight_ih_l{l}"] @ x + p[f"rnn.bias_ih_l{l}"]
            u = p[f"rnn.weight_hh_l{l}"] @ h[l] + p[f"rnn.bias_hh_l{l}"]
            if cell == "rnn":
                h[l] = np.tanh(a + u)
            elif cell == "lstm":
                i, f, g, o = np.split(a + u, 4)
                c[l] = sig(f) * c[l] + sig(i) * np.tanh(g)
                h[l] = sig(o) * np.tanh(c[l])
            else:
                (ar, az, an), (ur, uz, un) = np.split(a, 3), np.split(u, 3)
                r, z = sig(ar + ur), sig(az + uz)
                h[l] = (1 - z) * np.tanh(an + r * un) + z * h[l]
            x = h[l]
        y = p["fc.weight"] @ x + p["fc.bias"]
        e = np.exp(y - y.max()); out.append((e / e.sum()).tolist())
    print(json.dumps(out))
    """#

    /// The module of docs/export.md, loaded with load_state_dict (strict), run in float64.
    private static let torchForward = #"""
    import json, sys, torch, torch.nn as nn
    from safetensors.torch import load_file
    cell, L, tokens = sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
    state = load_file(sys.argv[1]); V, H = state["fc.weight"].shape
    E = state["embedding.weight"].shape[1] if "embedding.weight" in state else None
    tied = sys.argv[5] == "true"
    class CharModel(nn.Module):
        def __init__(self):
            super().__init__()
            if E is not None:
                self.embedding = nn.Embedding(V, E)
            self.rnn = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[cell](E or V, H, num_layers=L)
            self.fc = nn.Linear(H, V)
            if tied:
                self.fc.weight = self.embedding.weight
    model = CharModel(); model.load_state_dict(state); model.double()
    assert not tied or model.fc.weight is model.embedding.weight
    with torch.no_grad():
        x = (model.embedding(torch.tensor(tokens)) if E is not None
             else nn.functional.one_hot(torch.tensor(tokens), V).double()).unsqueeze(1)
        out, _ = model.rnn(x)
        print(json.dumps(torch.softmax(model.fc(out[:, 0]), -1).tolist()))
    """#

    /// rnn-dist's forward (TokenSampler, as `rnn-dist sample` runs it) against the exported
    /// file read by NumPy, token by token: |Δp| ≤ 1e-5 (Float32 forward vs float64; a gate or
    /// bias in the wrong place moves p by 1e-2 or more).
    func testNumPyForwardOnTheExportMatchesRnnDist() throws {
        let python: String
        do { python = try Python.importing(["numpy", "safetensors.numpy"], installing: ["numpy", "safetensors"]) } catch {
            throw XCTSkip("\(error)")
        }
        let hasTorch = (try? ProcessRunner.run(python, ["-c", "import torch"], timeout: 120))?.status == 0
        let tokens: [Int32] = [3, 0, 6, 6, 1, 5, 2, 4, 4, 0, 3, 1]
        for (cell, layers, E, tied) in Self.cases {
            let model = model(cell, layers: layers, embedding: E, tied: tied)
            let path = run.path("\(Self.label(cell, layers, E, tied)).safetensors")
            try TorchExport.write(model, format: .torch, to: path)

            let sampler = TokenSampler(architecture: model.architecture, parameters: model.parameters, seed: 1)
            var ours: [[Double]] = []
            for token in tokens {
                sampler.prime(tokens: [token])
                ours.append(sampler.probabilities())
            }
            var scripts = [("numpy", Self.numpyForward)]
            if hasTorch { scripts.append(("torch", Self.torchForward)) }
            for (name, script) in scripts {
                let result = try ProcessRunner.run(python, ["-c", script, path, cell.rawValue, String(layers), "\(tokens)", String(tied)],
                                                   timeout: 300)
                XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
                let theirs = try JSONDecoder().decode([[Double]].self, from: Data(result.stdout.utf8))
                XCTAssertEqual(theirs.count, tokens.count)
                var worst = 0.0
                for (p, q) in zip(ours, theirs) {
                    XCTAssertEqual(p.count, q.count)
                    for (x, y) in zip(p, q) { worst = max(worst, abs(x - y)) }
                }
                XCTAssertLessThanOrEqual(worst, 1e-5, "\(name) \(Self.label(cell, layers, E, tied))")
            }
        }
    }

    /// The command: a --save file in, the same bytes as TorchExport out; bad input is one line
    /// and exit 1.
    func testExportCommand() throws {
        let model = model(.lstm, layers: 2)
        let saved = run.path("saved.safetensors"), output = run.path("out.safetensors")
        try ParameterFile.save(path: saved, parameters: model.parameters, layout: model.layout,
                               metadata: ["vocabulary": model.vocabulary.serialized])
        let ok = try run.runAlone(["export", saved, "--format", "torch", "--output", output])
        XCTAssertEqual(ok.status, 0, ok.stderr)
        let reloaded = try ModelFile.load(path: saved)
        XCTAssertEqual(try FileIO.readAll(path: output), TorchExport.file(of: reloaded).serialized())

        for (arguments, expected) in [([run.path("missing.safetensors"), "--output", output], "model file not found"),
                                      ([saved, "--format", "onnx", "--output", output], "--format must be one of torch"),
                                      ([saved, "--output", run.path("no/such/folder/x.safetensors")], "cannot write")] {
            let bad = try run.runAlone(["export"] + arguments)
            XCTAssertEqual(bad.status, 1, "\(arguments): \(bad.stderr)")
            XCTAssertEqual(bad.stderr.split(separator: "\n").count, 1, bad.stderr)
            XCTAssertTrue(bad.stderr.contains(expected), bad.stderr)
        }
    }
}
