import XCTest
final class BLASTestsPlaceholder: XCTestCase { func testNothing() {} }
