import Buffers
import Checkpoints
import Config
import Foundation
import RNN
import Safetensors
import TextData
import XCTest

/// A model with an embedding in checkpoint metadata and model files: the 'model' object says E
/// and the tying (a one-hot model's stays as it was), reads back to the same architecture, and a
/// parameters file's tensors alone say it too (an `embedding` tensor; no W_hy when tied).
final class EmbeddingMetadataTests: XCTestCase {
    private let vocabulary = Vocabulary(tokenizer: .chars, symbols: 97..<104)

    private func metadata(_ architecture: ModelArchitecture) -> CheckpointMetadata {
        CheckpointMetadata(step: 3, epoch: 0, dataCursor: 0, globalBatch: 4, seed: 1, vocabulary: vocabulary,
                           architecture: architecture, optimizer: .adam, optimizerStepCount: 3, config: TrainingConfig(), ranks: 2)
    }

    func testModelMetadataRoundTrips() throws {
        for (E, tied) in [(nil, false), (5, false), (8, true)] as [(Int?, Bool)] {
            let architecture = ModelArchitecture(cell: .gru, layers: 2, hiddenSize: 8, vocabularySize: 7, embeddingSize: E,
                                                 tiedWeights: tied)
            let strings = metadata(architecture).strings
            XCTAssertEqual(strings["model"]!.contains("embedding"), E != nil, strings["model"]!)
            let read = try CheckpointMetadata(strings: strings, source: "memory")
            XCTAssertEqual(read.architecture, architecture)
        }
        var strings = metadata(ModelArchitecture(cell: .gru, layers: 2, hiddenSize: 8, vocabularySize: 7)).strings
        strings["model"] = #"{"cell":"gru","layers":2,"hidden":8,"vocabulary_size":7,"embedding":5,"tied_weights":true}"#
        XCTAssertThrowsError(try CheckpointMetadata(strings: strings, source: "bad")) { error in
            XCTAssertTrue("\(error)".contains("tied weights need embedding = hidden"), "\(error)")
        }
    }

    func testParametersFileSaysItsEmbedding() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("embedding-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        for (E, tied) in [(5, false), (8, true)] {
            let architecture = ModelArchitecture(cell: .lstm, layers: 2, hiddenSize: 8, vocabularySize: 7, embeddingSize: E,
                                                 tiedWeights: tied)
            let layout = ModelLayout(architecture: architecture)
            let parameters = Buffer<Float>((0..<layout.count).map { Float($0 % 13) / 13 })
            let path = "\(folder)/E\(E).safetensors"
            try ParameterFile.save(path: path, parameters: parameters, layout: layout, metadata: ["vocabulary": vocabulary.serialized])
            let file = try SafetensorsFile.read(path: path)
            XCTAssertEqual(file.tensors["W_emb"]?.shape, [7, E])
            XCTAssertEqual(file.tensors["W_hy"] == nil, tied, "a tied table is stored once")
            let model = try ModelFile.load(path: path)
            XCTAssertEqual(model.architecture, architecture)
            XCTAssertEqual(model.parameters.toArray(), parameters.toArray())
        }
    }
}
