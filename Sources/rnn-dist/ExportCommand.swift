import ArgumentParser
import Foundation
import Checkpoints
import RunErrors

/// `rnn-dist export`: a trained model's weights under another framework's names.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a model's weights under PyTorch's names (safetensors), for nn.RNN/LSTM/GRU + nn.Linear.",
        discussion: """
        MODEL is a checkpoint, a checkpoint folder (its newest valid checkpoint) or a --save \
        parameters file. The output loads with model.load_state_dict(safetensors.torch.load_file(FILE)) \
        into a module whose attributes are rnn = nn.LSTM/GRU/RNN(V, H, num_layers=L) and \
        fc = nn.Linear(H, V), fed one-hot input (docs/export.md). Written atomically.
        """
    )

    @Argument(help: "A checkpoint, a checkpoint folder or a --save parameters file.") var model: String
    @Option(help: "Output format: torch.") var format: String = "torch"
    @Option(help: "The safetensors file to write.") var output: String

    func run() throws {
        SingleProcess.run {
            guard let format = TorchExport.Format(rawValue: format) else {
                let known = TorchExport.Format.allCases.map(\.rawValue).joined(separator: ", ")
                throw RunError.badInput("--format must be one of \(known), got \(format)")
            }
            let loaded = try ModelFile.load(path: model, warning: StandardError.warning)
            do {
                try TorchExport.write(loaded, format: format, to: output)
            } catch {
                throw RunError.badInput("cannot write \(output): \(error)")
            }
            let a = loaded.architecture
            print("exported \(loaded.path) (\(a.cell) L=\(a.layers) H=\(a.hiddenSize)\(a.embeddingSize.map { " E=\($0)\(a.tiedWeights ? " tied" : "")" } ?? "") V=\(a.vocabularySize)) to \(output)")
        }
    }
}
