import TextData

/// The token-file reader: header decoding, the open-time checks and the data verification,
/// on a real mapped file as `--data` opens one.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenFile(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    var bytes = FuzzInput.bytes(data, size)
    // Almost every mutation breaks a checksum, and the reader would stop there: unless byte
    // 18 (reserved, unchecked) is set, the checksums are made to match so that the checks
    // behind them are reached too.
    if bytes.count >= 64, bytes[18] == 0 { sealChecksums(&bytes) }
    let path = FuzzInput.file(bytes)
    _ = TokenFileHeader.isTokenFile(path: path)
    guard let file = try? TokenFile(path: path, verifyData: true) else { return 0 }
    // An opened file's slices and ids are in range: reading them all must not trap.
    var sum = 0
    for sequence in [file.train, file.validation] {
        for token in sequence { sum &+= Int(token) }
    }
    precondition(sum >= 0, "token ids are unsigned")
    return 0
}

/// Writes the data checksum (bytes after the header) and then the header checksum (bytes
/// [0, H) with its own field zero) that the header's size field H implies, when H fits.
private func sealChecksums(_ bytes: inout [UInt8]) {
    let headerSize = Int(UInt32(littleEndian: bytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 12, as: UInt32.self) }))
    guard headerSize >= 64, headerSize <= bytes.count else { return }
    func put(_ value: UInt64, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, byte) in $0.enumerated() { bytes[offset + i] = byte } }
    }
    put(bytes[headerSize...].withUnsafeBytes { TokenChecksum.of($0) }, at: 40)
    put(0, at: 48)
    put(bytes[..<headerSize].withUnsafeBytes { TokenChecksum.of($0) }, at: 48)
}
