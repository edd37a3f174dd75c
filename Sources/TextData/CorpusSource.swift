/// Turns the `data` setting into a corpus: a built-in synthetic task, a token file
/// (recognized by its magic bytes, whatever its name) or a text file.
public enum CorpusSource {
    public static func load(spec: String, tokenizer: Tokenizer, validationFraction: Double,
                            vocabulary: Vocabulary? = nil) throws -> Corpus {
        if SyntheticTask.isSpec(spec) {
            // The synthetic data depends only on its spec (its own seed), so runs stay comparable.
            return try SyntheticTask(spec: spec).makeCorpus()
        }
        if TokenFileHeader.isTokenFile(path: spec) {
            return try Corpus.load(tokenFile: spec, vocabulary: vocabulary)
        }
        return try Corpus.load(path: spec, tokenizer: tokenizer,
                               validationFraction: validationFraction, vocabulary: vocabulary)
    }
}
