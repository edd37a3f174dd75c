import Foundation
import TestSupport
import XCTest
import TextData

/// Byte-level BPEs trained offline with the Python `tokenizers` package, and its ids for the
/// texts of `BPEFixtures.texts`: the reference the Swift tokenizer must equal.
struct BPEFixtures {
    /// How each tokenizer is trained and saved (all byte-level, full 256-byte alphabet).
    struct Variant {
        let name: String
        let vocabularySize: Int
        let addPrefixSpace: Bool
        let useRegex: Bool
        let specialTokens: [String]
        /// Saved with merges as "a b" strings (the older form) and ignore_merges on.
        let stringMergesIgnoringMerges: Bool
        /// Trained on and encoding tinyshakespeare too (when present).
        let shakespeare: Bool
    }

    static let variants = [
        Variant(name: "main", vocabularySize: 1000, addPrefixSpace: false, useRegex: true, specialTokens: ["<|endoftext|>", "<pad>"],
                stringMergesIgnoringMerges: false, shakespeare: true),
        Variant(name: "prefix", vocabularySize: 400, addPrefixSpace: true, useRegex: true, specialTokens: ["<|endoftext|>"],
                stringMergesIgnoringMerges: false, shakespeare: true),
        Variant(name: "legacy", vocabularySize: 2000, addPrefixSpace: false, useRegex: true, specialTokens: [],
                stringMergesIgnoringMerges: true, shakespeare: true),
        Variant(name: "noregex", vocabularySize: 300, addPrefixSpace: false, useRegex: false, specialTokens: [],
                stringMergesIgnoringMerges: false, shakespeare: false),
    ]

    /// Text name → text (tinyshakespeare included when present).
    let texts: [String: String]
    /// Variant name → its tokenizer.json.
    let tokenizers: [String: [UInt8]]
    /// "variant/text" → `tokenizers`' ids of the text, encoded in one call.
    let ids: [String: [Int32]]

    func encoding(_ variant: Variant) throws -> BytePairEncoding {
        try BytePairEncoding(json: tokenizers[variant.name]!, source: "\(variant.name).json")
    }

    func referenceIDs(_ variant: Variant, _ text: String) throws -> [Int32] {
        try XCTUnwrap(ids["\(variant.name)/\(text)"], "no reference ids of \(text) for \(variant.name)")
    }

    func hasReference(_ variant: Variant, _ text: String) -> Bool { ids["\(variant.name)/\(text)"] != nil }

    static var shakespearePath: String {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return repository.deletingLastPathComponent().appendingPathComponent("shared/data/tinyshakespeare.txt").path
    }

    nonisolated(unsafe) private static var made: BPEFixtures?

    /// The fixtures, made once per test process (training takes seconds).
    static func shared() throws -> BPEFixtures {
        if let made { return made }
        made = try make()
        return made!
    }

    /// Trains every variant and encodes every text with `tokenizers` (skips the test when
    /// pip cannot install it).
    private static func make() throws -> BPEFixtures {
        let python: String
        do {
            python = try Python.importing(["tokenizers"], installing: ["tokenizers"])
        } catch let unavailable as Python.Unavailable {
            throw XCTSkip(unavailable.description)
        }
        let directory = try TemporaryDirectory()
        var texts = generatedTexts()
        if FileManager.default.fileExists(atPath: shakespearePath) {
            texts["shakespeare"] = try String(contentsOfFile: shakespearePath, encoding: .utf8)
        }
        for (name, text) in texts { _ = try directory.file("text-\(name).txt", text: text) }
        let variants = try JSONSerialization.data(withJSONObject: Self.variants.map {
            ["name": $0.name, "vocab": $0.vocabularySize, "prefix": $0.addPrefixSpace, "regex": $0.useRegex,
             "special": $0.specialTokens, "legacy": $0.stringMergesIgnoringMerges, "shakespeare": $0.shakespeare] as [String: Any]
        })
        let script = try directory.file("reference.py", text: referenceScript)
        let result = try ProcessRunner.run(python, [script, directory.path, String(decoding: variants, as: UTF8.self)], timeout: 600)
        guard result.status == 0 else { throw XCTSkip("tokenizers failed: \(result.stderr.suffix(500))") }
        var tokenizers = [String: [UInt8]](), ids = [String: [Int32]]()
        for variant in Self.variants {
            tokenizers[variant.name] = Array(try Data(contentsOf: URL(fileURLWithPath: directory.path("\(variant.name).json"))))
            for name in texts.keys where FileManager.default.fileExists(atPath: directory.path("ids-\(variant.name)-\(name).json")) {
                let data = try Data(contentsOf: URL(fileURLWithPath: directory.path("ids-\(variant.name)-\(name).json")))
                ids["\(variant.name)/\(name)"] = try JSONDecoder().decode([Int32].self, from: data)
            }
        }
        return BPEFixtures(texts: texts, tokenizers: tokenizers, ids: ids)
    }

    /// English prose, non-Latin scripts, emoji sequences, numbers, contractions and runs of
    /// whitespace, and a seeded jumble of all the pieces the pre-tokenizer distinguishes.
    static func generatedTexts() -> [String: String] {
        let prose = """
        Preamble. The licenses for most software and other practical works are designed to take away your \
        freedom to share and change the works. By contrast, this license is intended to guarantee your freedom \
        to share and change all versions of a program, to make sure it remains free software for all its users.
        When we speak of free software, we are referring to freedom, not price. You can't be told you'll pay; \
        they're free, we've said, and I'm sure he'd agree. Isn't it so? It's the author's wish.
        To protect your rights, we need to prevent others from denying you these rights or asking you to \
        surrender the rights. Therefore, you have certain responsibilities if you distribute copies of the \
        software, or if you modify it: responsibilities to respect the freedom of others.\n\n
        """
        let scripts = """
        Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει πάνω από τον τεμπέλη σκύλο. Ἀρχὴ ἥμισυ παντός.
        Русский: Съешь же ещё этих мягких французских булок, да выпей чаю. Ёлка!
        中文：我能吞下玻璃而不伤身体。日本語：私はガラスを食べられます。それは私を傷つけません。한국어: 나는 유리를 먹을 수 있어요.
        العربية: أنا قادر على أكل الزجاج و هذا لا يؤلمني. مَرْحَبًا بِكُمْ
        עברית: אני יכול לאכול זכוכית וזה לא מזיק לי. हिन्दी: मैं काँच खा सकता हूँ और मुझे उससे कोई चोट नहीं पहुंचती.
        Tiếng Việt: Tôi có thể ăn thủy tinh mà không hại gì. ﬁ ligature, Ⅻ roman, ½ ² ³ ٣٤٥ ०१२ full-width ＡＢＣ１２３.
        """
        let emoji = """
        Family 👨‍👩‍👧‍👦 and 👩🏽‍💻 coder, thumbs 👍🏻👍🏼👍🏽👍🏾👍🏿, flags 🇫🇷🇯🇵, keycap 1️⃣, heart ❤️‍🔥, 🏳️‍🌈 rainbow.
        Skin tones alone: 🏻🏼 ZWJ alone: \u{200D}x\u{200D}; variation selectors: ☺︎ ☺️; combining: é (e\u{301}) ñ.
        """
        let spacing = "Numbers 3.14159 and 2,718,281 or 1e-9 +42 -7 0x1F 12345678901234567890 1st 2nd.\n"
            + "Contractions: it's I'm we're you've he'll she'd can't IT'S I'M WE'RE 'tis 'S 'Ll ''s '''ll ' s.\n"
            + "Runs:   three spaces,\t\ttabs,\n\n\nnewlines, \r\nCRLF, trailing   \n   leading, \u{A0}nbsp\u{3000}ideographic\u{2028}ls\u{85}nel\u{2009}thin "
            + "\u{B}vt\u{C}ff end with spaces   "
        var generator = SplitMix(seed: 22)
        let pieces = [" ", "  ", "\n", "\t", " \n", "'", "'s", "'ll", "'re", "'d", "a", "Zz", "é", "ß", "Σ", "ж", "中", "ا", "1", "42", "²",
                      "!", "?!", "...", "👍🏽", "👨‍👩‍👧", "\u{200D}", "\u{301}", "\u{A0}", "\u{3000}", "<|endoftext|>", "<|end", "<pad>", "$", "_", "-"]
        var jumble = ""
        for _ in 0..<6000 { jumble += pieces[Int(generator.next() % UInt64(pieces.count))] }
        return ["prose": prose, "scripts": scripts, "emoji": emoji, "spacing": spacing, "jumble": jumble,
                "special": "one<|endoftext|>two <|endoftext|> three<|endoftext|><|endoftext|>\n<pad>x<|endoftext"]
    }

    /// A fixed-seed generator for the jumble (SplitMix64).
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    /// Trains each variant on the texts (tinyshakespeare only where the variant says) and
    /// writes its tokenizer.json and the ids of every text, each encoded in one call.
    static let referenceScript = """
    import glob, json, os, sys
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    directory, variants = sys.argv[1], json.loads(sys.argv[2])
    texts = {}
    for path in sorted(glob.glob(os.path.join(directory, "text-*.txt"))):
        with open(path, encoding="utf-8", newline="") as f:
            texts[os.path.basename(path)[5:-4]] = f.read()
    for v in variants:
        use = {k: t for k, t in texts.items() if v["shakespeare"] or k != "shakespeare"}
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=v["prefix"], use_regex=v["regex"])
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=v["vocab"], special_tokens=v["special"], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator(list(use.values()), trainer)
        path = os.path.join(directory, v["name"] + ".json")
        tok.save(path)
        if v["legacy"]:
            with open(path, encoding="utf-8") as f:
                saved = json.load(f)
            saved["model"]["merges"] = [" ".join(m) for m in saved["model"]["merges"]]
            saved["model"]["ignore_merges"] = True
            with open(path, "w", encoding="utf-8") as f:
                json.dump(saved, f, ensure_ascii=False, indent=1)
            tok = Tokenizer.from_file(path)
        for name, text in use.items():
            with open(os.path.join(directory, "ids-%s-%s.json" % (v["name"], name)), "w") as f:
                json.dump(tok.encode(text).ids, f)
    """
}
