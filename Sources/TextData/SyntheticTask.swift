import Foundation
/// A built-in generated corpus, selected with `--data synthetic:NAME` or
/// `synthetic:NAME:key=value,key=value`. The corpus is a pure function of the spec (its own
/// `seed` key, not the training seed), so every run on `synthetic:markov` sees the same data
/// and the same entropy floor, and runs with different training seeds stay comparable.
public struct SyntheticTask: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// A random sparse first-order Markov source (see `MarkovChain`).
        case markov
        /// Remember symbols over a fixed distance (see `RecallTask`).
        case recall
    }

    public var kind: Kind
    /// Seed of the generated data.
    public var seed: UInt64 = 1
    /// Training tokens generated.
    public var trainTokens = 200_000
    /// Validation tokens as a fraction of all generated tokens (as for files): the
    /// validation tail holds trainTokens · v / (1 − v) more tokens.
    public var validationFraction = 0.1
    /// markov: alphabet size ("a", "b", ...) and successors per state.
    public var symbols = 12
    public var successors = 3
    /// recall: distance d, payload length k, payload alphabet size A.
    public var delay = 8
    public var payload = 4
    public var alphabet = 8

    public static let prefix = "synthetic:"

    public init(_ kind: Kind) {
        self.kind = kind
    }

    /// Whether a `--data` value names a synthetic task rather than a file.
    public static func isSpec(_ data: String) -> Bool { data.hasPrefix(prefix) }

    /// Keys every task accepts, then the task's own.
    public static let commonKeys = ["seed", "tokens", "validation"]
    public static func keys(of kind: Kind) -> [String] {
        commonKeys + (kind == .markov ? ["symbols", "successors"] : ["delay", "payload", "alphabet"])
    }

    /// Parses `synthetic:NAME` or `synthetic:NAME:key=value,...`.
    public init(spec: String) throws {
        guard Self.isSpec(spec) else { throw SyntheticTaskError.malformed(spec) }
        let body = spec.dropFirst(Self.prefix.count)
        let parts = body.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard let kind = Kind(rawValue: String(parts[0])) else {
            throw SyntheticTaskError.unknownTask(String(parts[0]))
        }
        self.init(kind)
        if parts.count == 2 {
            for assignment in parts[1].split(separator: ",", omittingEmptySubsequences: false) {
                let pair = assignment.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2, !pair[0].isEmpty else { throw SyntheticTaskError.malformed(spec) }
                try set(String(pair[0]), to: String(pair[1]))
            }
        }
        try validate()
    }

    private mutating func set(_ key: String, to text: String) throws {
        func integer(_ range: ClosedRange<Int>) throws -> Int {
            guard let value = Int(text), range.contains(value) else {
                throw SyntheticTaskError.invalidValue(task: kind, key: key, value: text,
                                                      expected: "an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return value
        }
        switch (key, kind) {
        case ("seed", _):
            guard let value = UInt64(text) else {
                throw SyntheticTaskError.invalidValue(task: kind, key: key, value: text, expected: "a non-negative integer")
            }
            seed = value
        case ("tokens", _): trainTokens = try integer(2...1_000_000_000)
        case ("validation", _):
            guard let value = Double(text), value >= 0, value <= 0.5 else {
                throw SyntheticTaskError.invalidValue(task: kind, key: key, value: text, expected: "a number in [0, 0.5]")
            }
            validationFraction = value
        case ("symbols", .markov): symbols = try integer(2...26)
        case ("successors", .markov): successors = try integer(1...26)
        case ("delay", .recall): delay = try integer(1...100_000)
        case ("payload", .recall): payload = try integer(1...100_000)
        case ("alphabet", .recall): alphabet = try integer(2...26)
        default: throw SyntheticTaskError.unknownKey(task: kind, key: key)
        }
    }

    /// Throws for combinations outside the valid ranges (also for values set directly).
    public func validate() throws {
        func require(_ condition: Bool, _ message: String) throws {
            if !condition { throw SyntheticTaskError.inconsistent(task: kind, message: message) }
        }
        try require(trainTokens >= 2, "tokens must be at least 2, got \(trainTokens)")
        try require(validationFraction >= 0 && validationFraction <= 0.5,
                    "validation must be in [0, 0.5], got \(validationFraction)")
        switch kind {
        case .markov:
            try require((2...26).contains(symbols), "symbols must be in 2...26, got \(symbols)")
            try require(successors >= 1 && successors <= symbols,
                        "successors must be in 1...symbols (\(symbols)), got \(successors)")
        case .recall:
            try require((2...26).contains(alphabet), "alphabet must be in 2...26, got \(alphabet)")
            try require(delay >= 1, "delay must be at least 1, got \(delay)")
            try require(payload >= 1 && payload <= delay,
                        "payload must be in 1...delay (\(delay)), got \(payload)")
        }
    }

    /// The canonical spec with every key, e.g. for checkpoint metadata.
    public var spec: String {
        let values: [String]
        switch kind {
        case .markov: values = ["symbols=\(symbols)", "successors=\(successors)"]
        case .recall: values = ["delay=\(delay)", "payload=\(payload)", "alphabet=\(alphabet)"]
        }
        let common = ["seed=\(seed)", "tokens=\(trainTokens)", "validation=\(validationFraction)"]
        return "\(Self.prefix)\(kind.rawValue):" + (common + values).joined(separator: ",")
    }

    /// The source of the markov task (state i is the letter "a" + i); its entropy rate is
    /// the corpus' entropy floor.
    public func markovChain() -> MarkovChain {
        var generator = DataRandom(seed: seed, stream: 1)
        return MarkovChain(randomWithStates: symbols, successors: successors, generator: &generator)
    }

    /// Generates the corpus: trainTokens training tokens, then the validation tail, with
    /// the vocabulary of the whole stream and the exact entropy floor.
    public func makeCorpus() throws -> Corpus {
        try validate()
        let validationTokens = Int((Double(trainTokens) * validationFraction / (1 - validationFraction)).rounded())
        let total = trainTokens + validationTokens
        let stream: [UInt32]
        let floor: Double
        let summary: String
        switch kind {
        case .markov:
            let chain = markovChain()
            var generator = DataRandom(seed: seed, stream: 3)
            stream = chain.generate(count: total, generator: &generator).map { 0x61 + UInt32($0) }
            floor = chain.entropyRate
            summary = "Markov source, \(symbols) symbols, \(successors) successors each, "
                + "entropy rate \(Self.format(floor)) nats/token"
        case .recall:
            var generator = DataRandom(seed: seed, stream: 2)
            let task = RecallTask(delay: delay, payload: payload, alphabet: alphabet)
            stream = task.generate(count: total, generator: &generator)
            floor = task.entropyFloor
            summary = "recall, \(payload) of \(alphabet) letters repeated \(delay) steps later, "
                + "floor \(Self.format(floor)) nats/token"
        }
        let vocabulary = Vocabulary(tokenizer: .chars, symbols: stream)
        let tokens = vocabulary.ids(ofKnown: stream)
        return Corpus(name: spec, vocabulary: vocabulary,
                      trainTokens: Array(tokens[..<trainTokens]), validationTokens: Array(tokens[trainTokens...]),
                      entropyFloor: floor,
                      summary: summary + " (\(trainTokens) train + \(validationTokens) validation tokens, seed \(seed))")
    }

    package static func format(_ value: Double) -> String {
        let scaled = (value * 10_000).rounded()
        let whole = Int(scaled) / 10_000
        let fraction = String(Int(scaled) % 10_000)
        return "\(whole)." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }
}

/// A synthetic data spec that cannot be used.
public enum SyntheticTaskError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case unknownTask(String)
    case unknownKey(task: SyntheticTask.Kind, key: String)
    case invalidValue(task: SyntheticTask.Kind, key: String, value: String, expected: String)
    case inconsistent(task: SyntheticTask.Kind, message: String)

    public var description: String {
        switch self {
        case .malformed(let spec):
            return "invalid synthetic data spec '\(spec)': expected synthetic:NAME or synthetic:NAME:key=value,..."
        case .unknownTask(let name):
            return "unknown synthetic task '\(name)'; valid tasks: "
                + SyntheticTask.Kind.allCases.map(\.rawValue).joined(separator: ", ")
        case .unknownKey(let task, let key):
            return "unknown key '\(key)' for synthetic task \(task.rawValue); valid keys: "
                + SyntheticTask.keys(of: task).joined(separator: ", ")
        case .invalidValue(let task, let key, let value, let expected):
            return "invalid value '\(value)' for \(key) of synthetic task \(task.rawValue): expected \(expected)"
        case .inconsistent(let task, let message):
            return "synthetic task \(task.rawValue): \(message)"
        }
    }
}

// Foundation's `localizedDescription` shows the same one-line message as `description`.
extension SyntheticTaskError: LocalizedError { public var errorDescription: String? { description } }
