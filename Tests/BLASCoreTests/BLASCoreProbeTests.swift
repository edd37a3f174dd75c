import BLASCore
import Foundation
import XCTest

/// The probes of this process: cpuid against the kernel's own view (/proc/cpuinfo), the
/// library's report, and the self-check on the kernel this process runs.
final class BLASCoreProbeTests: XCTestCase {
    func testCPUIDAgreesWithProcCPUInfo() throws {
        #if arch(x86_64)
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo flags line")
        }
        let flags = Set(line.split(separator: ":")[1].split(separator: " ").map(String.init))
        let cpu = CPUFeatures.detect()
        // Linux names SSE3 "pni"; it lists an AVX flag only when the OS saves its registers.
        let names: [(CPUFeatures.Feature, String)] = [
            (.sse3, "pni"), (.avx, "avx"), (.avx2, "avx2"), (.fma, "fma"), (.avx512f, "avx512f"), (.avx512bw, "avx512bw"),
            (.avx512dq, "avx512dq"), (.avx512vl, "avx512vl"), (.avx512bf16, "avx512_bf16"),
        ]
        for (feature, flag) in names {
            XCTAssertEqual(cpu.has(feature), flags.contains(flag), "\(feature) vs /proc/cpuinfo \(flag)")
        }
        XCTAssertEqual(cpu.has(.osAVX), flags.contains("avx"))
        XCTAssertEqual(cpu.has(.osAVX512), flags.contains("avx512f"))
        #else
        throw XCTSkip("cpuid exists on x86-64 only")
        #endif
    }

    func testFeatureBitsFromCPUIDWords() {
        // Leaf 1 ECX: SSE3 (0), FMA (12), OSXSAVE (27), AVX (28); leaf 7 EBX: AVX2 (5), AVX512F (16).
        let ecx: UInt32 = 1 << 0 | 1 << 12 | 1 << 27 | 1 << 28
        let set = CPUFeatures.features(leaf1ECX: ecx, leaf7EBX: 1 << 5 | 1 << 16, leaf7Sub1EAX: 1 << 5, xcr0: 0b111)
        XCTAssertEqual(set, [.sse3, .fma, .avx, .avx2, .avx512f, .avx512bf16, .osAVX])
        XCTAssertFalse(CPUFeatures.features(leaf1ECX: ecx & ~(1 << 27), leaf7EBX: 0, leaf7Sub1EAX: 0, xcr0: 0xff).contains(.osAVX),
                       "without OSXSAVE, XCR0 means nothing")
        XCTAssertTrue(CPUFeatures.features(leaf1ECX: ecx, leaf7EBX: 0, leaf7Sub1EAX: 0, xcr0: 0xe7).contains(.osAVX512))
    }

    func testLibraryReportNamesTheRunningCore() {
        let library = OpenBLASLibrary.loaded()
        XCTAssertEqual(library.name, "OpenBLAS")
        XCTAssertNotNil(library.version)
        XCTAssertFalse(library.coreName.isEmpty)
        XCTAssertTrue(library.config.contains(library.coreName), "the config names the core: \(library.config)")
        XCTAssertTrue(BLASCoreReport.current(environment: ProcessInfo.processInfo.environment).description.hasPrefix("OpenBLAS \(library.versionText) \(library.coreName) ("))
    }

    func testSelfCheckPassesOnThisProcessKernel() {
        XCTAssertTrue(BLASCoreStartup.selfCheckPasses())
    }
}
