import Foundation
import Buffers

/// An update rule over the flat parameter buffer (all tensors back to back), with the
/// semantics of the torch.optim class of the same name. Every rank applies the same update
/// to the same averaged gradient, so parameters stay identical without communication.
public protocol Optimizer: AnyObject {
    /// Updates applied so far; drives first-step and bias-correction behaviour, and is saved
    /// in checkpoints. A skipped step (non-finite gradient) is simply not applied.
    var stepCount: Int { get set }
    /// One update of `parameters` from `gradients` (which is left unchanged); increments `stepCount`.
    func step(parameters: Buffer<Float>, gradients: Buffer<Float>, learningRate: Float)
    /// The state a checkpoint must save and restore, named by prefix ("adam.m", "adam.v",
    /// "sgd.momentum", "adagrad.sum"), each as long as the parameter buffer.
    var stateTensors: [(prefix: String, buffer: Buffer<Float>)] { get }
}

/// An optimizer hyperparameter outside its valid range.
public enum OptimizerError: Error, Equatable, CustomStringConvertible {
    case invalidHyperparameter(String)

    public var description: String {
        switch self {
        case .invalidHyperparameter(let message): return message
        }
    }
}

package func requireOptimizer(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw OptimizerError.invalidHyperparameter(message()) }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension OptimizerError: LocalizedError { public var errorDescription: String? { description } }

/// How weight decay enters an optimizer step.
public enum WeightDecayMode: String, CaseIterable, Codable, Sendable {
    /// wd·p added to the gradient (torch.optim.SGD, Adam, Adagrad).
    case l2
    /// p shrunk by lr·wd·p beside the update (torch.optim.AdamW): Adam only.
    case decoupled
}
