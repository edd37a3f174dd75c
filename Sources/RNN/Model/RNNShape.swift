/// The two sizes that fix every tensor of the model: vocabulary V and hidden width H.
public struct RNNShape: Hashable, Codable, Sendable {
    public var vocabularySize: Int
    public var hiddenSize: Int

    public init(vocabularySize: Int, hiddenSize: Int) {
        precondition(vocabularySize > 0 && hiddenSize > 0,
                     "RNNShape needs positive sizes, got V=\(vocabularySize) H=\(hiddenSize)")
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
    }
}
