import CMPI

/// A failed MPI call: which operation, MPI's error code and its own description of it.
public struct MPIError: Error, CustomStringConvertible, Sendable {
    public let operation: String
    public let code: Int32
    public let message: String

    public var description: String { "MPI error in \(operation): \(message) (code \(code))" }

    /// Throws an `MPIError` unless `code` is MPI_SUCCESS.
    static func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(MPIError) {
        guard code != cmpi_success() else { return }
        throw MPIError(operation: operation(), code: code, message: errorString(code))
    }

    static func errorString(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
        var length: Int32 = 0
        guard MPI_Error_string(code, &buffer, &length) == cmpi_success() else { return "unknown MPI error" }
        return String(decoding: buffer[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
