import TextData

/// The token-file reader: header decoding, the open-time checks and the data verification,
/// on a real mapped file as `--data` opens one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzInput.file(FuzzInput.bytes(data, size))
    _ = TokenFileHeader.isTokenFile(path: path)
    guard let file = try? TokenFile(path: path, verifyData: true) else { return 0 }
    // An opened file's slices and ids are in range: reading them all must not trap.
    var sum = 0
    for sequence in [file.train, file.validation] {
        for token in sequence { sum &+= Int(token) }
    }
    precondition(sum >= 0 || file.header.vocabulary.count > 0)
    return 0
}
