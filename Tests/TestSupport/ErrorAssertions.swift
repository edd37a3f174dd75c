import XCTest

/// The message users see for `error`.
public func message(of error: Error) -> String { String(describing: error) }

/// Asserts that `body` throws and that the message contains every one of `fragments`.
public func assertThrows<T>(_ body: @autoclosure () throws -> T, containing fragments: [String],
                            file: StaticString = #filePath, line: UInt = #line) {
    do {
        _ = try body()
        XCTFail("expected an error containing \(fragments)", file: file, line: line)
    } catch {
        let text = message(of: error)
        for fragment in fragments {
            XCTAssertTrue(text.contains(fragment), "'\(text)' does not contain '\(fragment)'", file: file, line: line)
        }
    }
}
