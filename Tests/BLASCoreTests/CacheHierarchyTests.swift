import BLASCore
import Foundation
import XCTest

/// The cache sizes come from cpuid (or sysfs) and agree with what Linux reports.
final class CacheHierarchyTests: XCTestCase {
    /// cpuid's answer equals the kernel's own reading of the same CPU (sysfs), where both exist.
    func testCpuidAgreesWithSysfs() throws {
        let detected = CacheHierarchy.detect()
        print("caches: \(detected.summary)")
        guard detected.source == .cpuid, let sysfs = CacheHierarchy.fromSysfs() else {
            throw XCTSkip("no cpuid cache leaf or no sysfs here: \(detected.summary)")
        }
        XCTAssertEqual(detected.l1d, sysfs.l1d)
        XCTAssertEqual(detected.l2, sysfs.l2)
        XCTAssertEqual(detected.l3, sysfs.l3)
        XCTAssertGreaterThanOrEqual(detected.l2!, 128 << 10)
        XCTAssertGreaterThan(detected.l2!, detected.l1d!)
    }

    /// sysfs's format: levels, types (the instruction cache is not a data cache) and sizes.
    func testSysfsParsing() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("caches-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let entries = [("1", "Data", "48K"), ("1", "Instruction", "32K"), ("2", "Unified", "2048K"), ("3", "Unified", "105M")]
        for (index, entry) in entries.enumerated() {
            let base = "\(directory)/index\(index)"
            try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
            for (name, value) in [("level", entry.0), ("type", entry.1), ("size", entry.2 + "\n")] {
                try value.write(toFile: "\(base)/\(name)", atomically: true, encoding: .utf8)
            }
        }
        let caches = try XCTUnwrap(CacheHierarchy.fromSysfs(directory: directory))
        XCTAssertEqual(caches, CacheHierarchy(l1d: 48 << 10, l2: 2 << 20, l3: 105 << 20, source: .sysfs))
        XCTAssertEqual(caches.summary, "L1d 48 KiB, L2 2 MiB, L3 105 MiB (sysfs)")
        XCTAssertNil(CacheHierarchy.fromSysfs(directory: "\(directory)/missing"))
    }
}
