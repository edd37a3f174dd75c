import BLASCore
import XCTest

/// The kernel decision as a pure function: CPU feature sets, library cores and versions, and
/// environments in; keep or replace (and with what) out.
final class BLASCorePolicyTests: XCTestCase {
    private let avx512: Set<CPUFeatures.Feature> = [.sse3, .avx, .avx2, .fma, .avx512f, .avx512bw, .avx512dq, .avx512vl,
                                                     .osAVX, .osAVX512]
    private let avx2: Set<CPUFeatures.Feature> = [.sse3, .avx, .avx2, .fma, .osAVX]
    private var sapphireRapids: CPUFeatures { CPUFeatures(vendor: .intel, features: avx512.union([.avx512bf16])) }
    private var skylakeServer: CPUFeatures { CPUFeatures(vendor: .intel, features: avx512) }
    private var zen3: CPUFeatures { CPUFeatures(vendor: .amd, features: avx2) }
    private var haswellCPU: CPUFeatures { CPUFeatures(vendor: .intel, features: avx2) }

    private func library(_ core: String, version: String = "0.3.21", dynamic: Bool = true) -> OpenBLASLibrary {
        OpenBLASLibrary(config: "OpenBLAS \(version) NO_LAPACKE \(dynamic ? "DYNAMIC_ARCH " : "")NO_AFFINITY \(core) MAX_THREADS=64",
                        coreName: core)
    }

    private func decide(_ cpu: CPUFeatures, _ core: String, version: String = "0.3.21",
                        _ environment: [String: String] = [:]) -> BLASCoreDecision {
        BLASCorePolicy.decide(cpu: cpu, library: library(core, version: version), environment: environment)
    }

    func testPrescottOnAVX512IsReplacedBySkylakeX() {
        XCTAssertEqual(decide(skylakeServer, "Prescott"), .replace(core: .skylakeX, libraryPicked: "Prescott"))
    }

    func testBF16PicksCooperlakeWhenTheLibraryHasIt() {
        XCTAssertEqual(decide(sapphireRapids, "Prescott"), .replace(core: .cooperlake, libraryPicked: "Prescott"))
        // Cooperlake first shipped in 0.3.11; an older library gets SkylakeX.
        XCTAssertEqual(decide(sapphireRapids, "Prescott", version: "0.3.10"), .replace(core: .skylakeX, libraryPicked: "Prescott"))
    }

    func testHaswellOnAVX512IsReplaced() {
        XCTAssertEqual(decide(skylakeServer, "Haswell"), .replace(core: .skylakeX, libraryPicked: "Haswell"))
    }

    func testEveryOlderGenericCoreIsReplaced() {
        for core in ["Katmai", "Coppermine", "Northwood", "Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Atom",
                     "Barcelona", "Unknown", "prescott"] {
            XCTAssertEqual(decide(haswellCPU, core), .replace(core: .haswell, libraryPicked: core), core)
            XCTAssertEqual(decide(zen3, core), .replace(core: .zen, libraryPicked: core), core)
        }
        XCTAssertEqual(decide(haswellCPU, "Sandybridge"), .replace(core: .haswell, libraryPicked: "Sandybridge"))
    }

    func testAVXOnlyCPUGetsSandybridge() {
        let sandyBridgeCPU = CPUFeatures(vendor: .intel, features: [.sse3, .avx, .osAVX])
        XCTAssertEqual(decide(sandyBridgeCPU, "Nehalem"), .replace(core: .sandybridge, libraryPicked: "Nehalem"))
        XCTAssertEqual(decide(sandyBridgeCPU, "Sandybridge"), .keep(.fits(best: .sandybridge)))
    }

    func testAFittingCoreIsKept() {
        XCTAssertEqual(decide(zen3, "Zen"), .keep(.fits(best: .zen)))
        XCTAssertEqual(decide(zen3, "Haswell"), .keep(.fits(best: .zen)), "Haswell and Zen are the same AVX2 level")
        XCTAssertEqual(decide(skylakeServer, "SkylakeX"), .keep(.fits(best: .skylakeX)))
        XCTAssertEqual(decide(sapphireRapids, "SkylakeX"), .keep(.fits(best: .cooperlake)), "Cooperlake's sgemm is SkylakeX's")
        XCTAssertEqual(decide(sapphireRapids, "SapphireRapids", version: "0.3.25"), .keep(.fits(best: .cooperlake)))
    }

    func testNoAVXMeansKeep() {
        let old = CPUFeatures(vendor: .intel, features: [.sse3])
        XCTAssertEqual(decide(old, "Prescott"), .keep(.noVectorExtensions))
        // AVX that the OS does not save (XCR0) is no AVX at all.
        let noOSSupport = CPUFeatures(vendor: .intel, features: [.sse3, .avx, .avx2, .fma])
        XCTAssertEqual(decide(noOSSupport, "Prescott"), .keep(.noVectorExtensions))
        // AVX-512 without the OS's ZMM state: the AVX2 core.
        let noZMM = CPUFeatures(vendor: .intel, features: avx512.subtracting([.osAVX512]))
        XCTAssertEqual(decide(noZMM, "Prescott"), .replace(core: .haswell, libraryPicked: "Prescott"))
    }

    func testUserSetCoreTypeIsAlwaysRespected() {
        XCTAssertEqual(decide(skylakeServer, "Prescott", ["OPENBLAS_CORETYPE": "Prescott"]), .keep(.userSet(core: "Prescott")))
        XCTAssertEqual(decide(skylakeServer, "Haswell", ["OPENBLAS_CORETYPE": "haswell"]), .keep(.userSet(core: "haswell")))
        // An empty value names no core: rnn-dist treats it as unset.
        XCTAssertEqual(decide(skylakeServer, "Prescott", ["OPENBLAS_CORETYPE": ""]), .replace(core: .skylakeX, libraryPicked: "Prescott"))
    }

    func testMarkersStopEveryLoop() {
        let replaced = ["OPENBLAS_CORETYPE": "SkylakeX", "RNN_DIST_BLAS_REPLACED": "Prescott"]
        XCTAssertEqual(decide(skylakeServer, "SkylakeX", replaced), .keep(.chosenByRNNDist(libraryPicked: "Prescott")))
        // Even if the library did not switch, the marker means no second try.
        XCTAssertEqual(decide(skylakeServer, "Prescott", replaced), .keep(.chosenByRNNDist(libraryPicked: "Prescott")))
        XCTAssertEqual(decide(skylakeServer, "Prescott", ["RNN_DIST_BLAS_FALLBACK": "SkylakeX", "RNN_DIST_BLAS_TEST_START": "Prescott"]),
                       .keep(.failedSelfCheck(core: "SkylakeX")))
        XCTAssertEqual(decide(skylakeServer, "Prescott", ["RNN_DIST_BLAS_EXEC_FAILED": "SkylakeX: ENOENT"]),
                       .keep(.execFailed(detail: "SkylakeX: ENOENT")))
        XCTAssertEqual(decide(skylakeServer, "Prescott", ["RNN_DIST_BLAS_AUTO": "0"]), .keep(.disabled))
    }

    func testTestStartRunsTheReplacementOnAnyCPU() {
        // Zen 3, where the library picks Zen: the test hook first starts it on Prescott ...
        let start = ["RNN_DIST_BLAS_TEST_START": "Prescott"]
        XCTAssertEqual(decide(zen3, "Zen", start), .startOn(core: "Prescott"))
        // ... then treats that OPENBLAS_CORETYPE as the library's pick, and replaces it.
        let started = start.merging(["OPENBLAS_CORETYPE": "Prescott"]) { $1 }
        XCTAssertEqual(decide(zen3, "Prescott", started), .replace(core: .zen, libraryPicked: "Prescott"))
        // A user's OPENBLAS_CORETYPE still wins over the hook.
        XCTAssertEqual(decide(zen3, "Haswell", start.merging(["OPENBLAS_CORETYPE": "Haswell"]) { $1 }),
                       .keep(.userSet(core: "Haswell")))
    }

    func testLibrariesRNNDistCannotSteerAreKept() {
        XCTAssertEqual(BLASCorePolicy.decide(cpu: skylakeServer, library: library("Prescott", dynamic: false), environment: [:]),
                       .keep(.notDynamicArch))
        XCTAssertEqual(decide(skylakeServer, "NeoverseN1"), .keep(.unknownCore("NeoverseN1")))
        // Before 0.3.0 there is no SkylakeX: the best the library has is Haswell.
        XCTAssertEqual(decide(skylakeServer, "Prescott", version: "0.2.20"), .replace(core: .haswell, libraryPicked: "Prescott"))
    }

    func testVersionParsing() {
        XCTAssertEqual(OpenBLASLibrary.parseVersion("0.3.21"), [0, 3, 21])
        XCTAssertEqual(OpenBLASLibrary.parseVersion("0.3.26.dev"), [0, 3, 26])
        XCTAssertNil(OpenBLASLibrary.parseVersion("dev"))
        XCTAssertTrue(ReplacementCore.skylakeX.isAvailable(inVersion: [0, 3]))
        XCTAssertFalse(ReplacementCore.cooperlake.isAvailable(inVersion: [0, 3, 10]))
        XCTAssertEqual(library("Prescott").versionText, "0.3.21")
        XCTAssertTrue(library("Prescott").isDynamicArch)
    }

    func testStepsCarryTheMarkers() {
        XCTAssertEqual(BLASCoreStartup.step(for: .replace(core: .skylakeX, libraryPicked: "Prescott")),
                       .reexec(EnvironmentChange(set: ["OPENBLAS_CORETYPE": "SkylakeX", "RNN_DIST_BLAS_REPLACED": "Prescott"])))
        XCTAssertEqual(BLASCoreStartup.step(for: .keep(.disabled)), .proceed)
        let after = BLASCoreStartup.fallback(from: "SkylakeX").applied(
            to: ["OPENBLAS_CORETYPE": "SkylakeX", "RNN_DIST_BLAS_REPLACED": "Prescott", "PATH": "/bin"])
        XCTAssertEqual(after, ["RNN_DIST_BLAS_FALLBACK": "SkylakeX", "PATH": "/bin"])
    }

    func testDescriptions() {
        let cpu = skylakeServer
        let describe = { (core: String, environment: [String: String]) in
            BLASCoreReport.make(library: self.library(core), environment: environment, cpu: cpu).description
        }
        XCTAssertEqual(describe("SkylakeX", ["OPENBLAS_CORETYPE": "SkylakeX", "RNN_DIST_BLAS_REPLACED": "Prescott"]),
                       "OpenBLAS 0.3.21 SkylakeX (chosen by rnn-dist; the library picked Prescott)")
        XCTAssertEqual(describe("Zen", [:]), "OpenBLAS 0.3.21 Zen (chosen by the library)")
        // The user's core is kept; on this AVX-512 CPU the header says what it costs.
        XCTAssertEqual(describe("Haswell", ["OPENBLAS_CORETYPE": "Haswell"]),
                       "OpenBLAS 0.3.21 Haswell (set by OPENBLAS_CORETYPE; this CPU's best is SkylakeX: unset OPENBLAS_CORETYPE for faster products)")
        XCTAssertEqual(describe("SkylakeX", ["OPENBLAS_CORETYPE": "SkylakeX"]), "OpenBLAS 0.3.21 SkylakeX (set by OPENBLAS_CORETYPE)")
        XCTAssertEqual(BLASCoreReport.make(library: library("Haswell"), environment: ["OPENBLAS_CORETYPE": "Haswell"], cpu: zen3).description,
                       "OpenBLAS 0.3.21 Haswell (set by OPENBLAS_CORETYPE)")
        XCTAssertEqual(describe("Prescott", ["RNN_DIST_BLAS_FALLBACK": "SkylakeX"]),
                       "OpenBLAS 0.3.21 Prescott (chosen by the library; rnn-dist's SkylakeX failed its self-check)")
        XCTAssertEqual(describe("Prescott", ["RNN_DIST_BLAS_EXEC_FAILED": "SkylakeX: Permission denied"]),
                       "OpenBLAS 0.3.21 Prescott (chosen by the library; rnn-dist's re-exec failed: SkylakeX: Permission denied)")
        XCTAssertEqual(describe("Prescott", ["OPENBLAS_CORETYPE": "prescott", "RNN_DIST_BLAS_TEST_START": "Prescott"]),
                       "OpenBLAS 0.3.21 Prescott (forced by RNN_DIST_BLAS_TEST_START)")
    }

    func testTheCeilingRunsAtTheWidestInstructionSetOfTheRun() {
        let source = { (cpu: CPUFeatures, core: String, code: KernelLevel?, version: String) in
            SgemmCeilingSource.choose(loadedCore: core, codeLevel: code, cpu: cpu,
                                      version: OpenBLASLibrary.parseVersion(version) ?? [0])
        }
        // An AVX-512 recurrence kernel beside a BLAS held to Haswell: the ceiling runs elsewhere, on the best AVX-512 core.
        XCTAssertEqual(source(sapphireRapids, "Haswell", .avx512, "0.3.21"), .separateProcess(core: .cooperlake))
        XCTAssertEqual(source(skylakeServer, "Haswell", .avx512, "0.3.21"), .separateProcess(core: .skylakeX))
        XCTAssertEqual(source(sapphireRapids, "Sandybridge", .avx2, "0.3.21"), .separateProcess(core: .haswell))
        // The AVX2-only machine's regime (RNN_DIST_KERNEL=avx2, OPENBLAS_CORETYPE=Haswell): both AVX2, here.
        XCTAssertEqual(source(sapphireRapids, "Haswell", .avx2, "0.3.21"), .thisProcess)
        XCTAssertEqual(source(sapphireRapids, "Cooperlake", .avx512, "0.3.21"), .thisProcess)
        // The BLAS computes the products itself (nil), the core is unknown, or the library has nothing wider.
        XCTAssertEqual(source(sapphireRapids, "Haswell", nil, "0.3.21"), .thisProcess)
        XCTAssertEqual(source(sapphireRapids, "NeoverseN1", .avx512, "0.3.21"), .thisProcess)
        XCTAssertEqual(source(skylakeServer, "Haswell", .avx512, "0.2.20"), .thisProcess)
        XCTAssertEqual(source(zen3, "Prescott", .generic, "0.3.21"), .thisProcess)
    }
}
