import Foundation

// Foundation's `localizedDescription` shows the same one-line message as `description`, so
// callers get it whichever way they print an error.
extension FileIOError: LocalizedError { public var errorDescription: String? { description } }
extension DataRandomError: LocalizedError { public var errorDescription: String? { description } }
extension VocabularyError: LocalizedError { public var errorDescription: String? { description } }
extension CorpusError: LocalizedError { public var errorDescription: String? { description } }
extension SyntheticTaskError: LocalizedError { public var errorDescription: String? { description } }
extension OptimizerError: LocalizedError { public var errorDescription: String? { description } }
extension SafetensorsError: LocalizedError { public var errorDescription: String? { description } }
