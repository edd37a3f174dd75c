import Config

/// The YAML config loader: parse, apply over the defaults, then the cross-key checks, as
/// `--config` does.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfig(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let text = String(decoding: FuzzInput.bytes(data, size), as: UTF8.self)
    guard let pairs = try? ConfigLoader.parseYAML(text, source: "fuzz"),
          let config = try? ConfigLoader.apply(pairs, to: TrainingConfig(), source: "fuzz") else { return 0 }
    _ = try? ConfigLoader.validate(config)
    return 0
}
