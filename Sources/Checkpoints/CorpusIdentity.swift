import RunErrors
import TextData

/// Which data a model was trained on, as checkpoints and `--save` files record it in their
/// metadata (`corpus`, `corpus_checksum`, beside `vocabulary`): resuming or initializing
/// from it with another corpus or vocabulary is refused, naming both. Files written before
/// these keys existed carry none and are accepted.
public enum CorpusIdentity {
    public static func strings(_ corpus: Corpus) -> [String: String] {
        ["corpus": corpus.name, "corpus_checksum": TokenChecksum.hex(corpus.checksum)]
    }

    /// Throws unless the vocabulary and corpus recorded in `metadata` (when recorded) are
    /// those of `corpus`; `source` names the file.
    public static func verify(_ metadata: [String: String], source: String, corpus: Corpus) throws {
        if let text = metadata["vocabulary"], let recorded = try? Vocabulary(serialized: text), recorded != corpus.vocabulary {
            throw RunError.badInput("\(source) was trained with a vocabulary of \(recorded.summary), "
                + "but \(corpus.name) has \(corpus.vocabulary.summary)")
        }
        let checksum = TokenChecksum.hex(corpus.checksum)
        if let recorded = metadata["corpus_checksum"], recorded != checksum {
            let name = metadata["corpus"] ?? "another corpus"
            throw RunError.badInput("\(source) was trained on \(name) (checksum \(recorded)), "
                + "not on \(corpus.name) (checksum \(checksum)): another corpus")
        }
    }
}
