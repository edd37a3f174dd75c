import Foundation
import XCTest

/// The module map in Package.swift's header is the architecture: every module's imports must
/// be exactly the arrows it draws, and the targets' declared dependencies must match too.
final class ArchitectureTests: XCTestCase {
    /// Imports that are the platform's, not the project's architecture.
    static let platformModules: Set<String> = ["Foundation", "FoundationXML", "Glibc", "Darwin", "Synchronization", "Dispatch"]

    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// module → the modules its header line allows.
    func headerMap() throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var map: [String: Set<String>] = [:]
        for line in manifest.split(separator: "\n") where line.hasPrefix("//   ") {
            // "//   Name -> A, B    description": the part before two spaces is the arrow.
            let body = line.dropFirst(5)
            guard let first = body.components(separatedBy: "  ").first, !first.isEmpty else { continue }
            let parts = first.components(separatedBy: " -> ")
            let name = parts[0].trimmingCharacters(in: .whitespaces)
            let imports = parts.count > 1 ? parts[1].components(separatedBy: ", ").map { $0.trimmingCharacters(in: .whitespaces) } : []
            XCTAssertNil(map[name], "Package.swift's header names \(name) twice")
            map[name] = Set(imports)
        }
        return map
    }

    /// module → the project modules its Swift files import.
    func importsBySourceModule() throws -> [String: Set<String>] { try importsByModule(under: "Sources") }

    /// folder of `folder` (a module or test target) → the modules its Swift files import, less the platform's.
    func importsByModule(under folder: String) throws -> [String: Set<String>] {
        let sources = root.appendingPathComponent(folder)
        var result: [String: Set<String>] = [:]
        for module in try FileManager.default.contentsOfDirectory(atPath: sources.path).sorted() {
            var imports: Set<String> = []
            let directory = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                // An import is a line of its own at the left margin; indented ones are other
                // languages' (Python inside a test's string literal).
                for line in text.split(separator: "\n") where !(line.first?.isWhitespace ?? true) {
                    let words = line.split(separator: " ")
                    guard let index = words.firstIndex(of: "import"), words[..<index].allSatisfy({ $0.hasPrefix("@") }),
                          index + 1 < words.count else { continue }
                    let module = String(words[index + 1].split(separator: ".")[0])
                    if !Self.platformModules.contains(module) { imports.insert(module) }
                }
            }
            result[module] = imports
        }
        return result
    }

    func testEveryModuleImportsExactlyTheArrowsOfTheMap() throws {
        let map = try headerMap()
        let actual = try importsBySourceModule()
        XCTAssertEqual(Set(map.keys), Set(actual.keys), "the header must list every folder of Sources/, and nothing else")
        for (module, imports) in actual.sorted(by: { $0.key < $1.key }) {
            let allowed = map[module] ?? []
            XCTAssertEqual(imports.subtracting(allowed).sorted(), [], "\(module) imports modules its header line does not draw")
            XCTAssertEqual(allowed.subtracting(imports).sorted(), [], "\(module)'s header line draws arrows no file of it uses")
        }
    }

    func testTheTargetsDependOnExactlyTheArrowsOfTheMap() throws {
        let map = try headerMap()
        var checked = 0
        for (name, dependencies) in try declaredDependencies(of: ["target", "executableTarget"]).sorted(by: { $0.key < $1.key }) {
            guard let allowed = map[name] else { continue } // test support targets are not in the map
            XCTAssertEqual(dependencies, allowed, "Package.swift: \(name)'s dependencies differ from its header line")
            checked += 1
        }
        XCTAssertGreaterThanOrEqual(checked, 20, "the manifest's targets were not found")
    }

    /// target → the dependencies Package.swift declares for it, for the targets of the given kinds
    /// (`.target(name: "X", dependencies: [...])`, products by their name).
    func declaredDependencies(of kinds: [String]) throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        let flat = manifest.replacingOccurrences(of: "\n", with: " ")
        let pattern = try NSRegularExpression(
            pattern: #"\.(?:"# + kinds.joined(separator: "|") + #")\(\s*name: "([^"]+)"(?:,\s*dependencies: \[([^\]]*)\])?"#)
        var result: [String: Set<String>] = [:]
        for match in pattern.matches(in: flat, range: NSRange(flat.startIndex..., in: flat)) {
            let name = String(flat[Range(match.range(at: 1), in: flat)!])
            var dependencies: Set<String> = []
            if let range = Range(match.range(at: 2), in: flat) {
                let list = String(flat[range])
                let product = try NSRegularExpression(pattern: #"\.product\(name: "([^"]+)""#)
                for found in product.matches(in: list, range: NSRange(list.startIndex..., in: list)) {
                    dependencies.insert(String(list[Range(found.range(at: 1), in: list)!]))
                }
                let plain = try NSRegularExpression(pattern: #"(?:^\s*|,\s*)"([^"]+)""#)
                for found in plain.matches(in: list, range: NSRange(list.startIndex..., in: list)) {
                    dependencies.insert(String(list[Range(found.range(at: 1), in: list)!]))
                }
            }
            result[name] = dependencies
        }
        return result
    }

    /// Libraries report; only the executables print or exit (docs/design.md: one place decides what the user sees).
    func testNoLibraryPrintsOrExits() throws {
        let sources = root.appendingPathComponent("Sources")
        let forbidden = try NSRegularExpression(pattern: #"(^|[^.A-Za-z_])(print|fputs|exit)\(|FileHandle\.standard(Error|Output)"#)
        var offenders: [String] = []
        for module in try FileManager.default.contentsOfDirectory(atPath: sources.path) where !["rnn-dist", "mpi-selftest"].contains(module) {
            let directory = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(atPath: directory.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
                for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                    let code = String(line.split(separator: "//", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
                    if forbidden.firstMatch(in: code, range: NSRange(code.startIndex..., in: code)) != nil {
                        offenders.append("\(module)/\(file):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                    }
                }
            }
        }
        XCTAssertEqual(offenders, [], "library code that prints or exits")
    }
}

extension ArchitectureTests {
    /// README's module table shows the same arrows as the header (one map, shown twice).
    func testTheREADMEModuleTableIsTheMap() throws {
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        let section = try XCTUnwrap(readme.components(separatedBy: "\n## Modules\n").dropFirst().first)
            .components(separatedBy: "\n## ")[0]
        var table: [String: Set<String>] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let name = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            table[name] = cells[2].isEmpty ? [] : Set(cells[2].components(separatedBy: ", "))
        }
        XCTAssertEqual(table, try headerMap())
    }
}

extension ArchitectureTests {
    /// The targets under Tests/ that are not tests: what the test targets share.
    static let testSupportTargets: Set<String> = ["TestSupport", "RNNReference"]
    /// A module of Sources/ that measures and computes nothing (it counts malloc calls): a test of
    /// any module may import it to hold that module's code to "allocates nothing".
    static let instruments: Set<String> = ["CAllocationCounter"]

    /// The rule for Tests/: (1) every test target (and every test-support target) imports only
    /// what Package.swift declares as its dependencies, so no test compiles by the accident of a
    /// module built for another target; (2) a unit-test target `<M>Tests`, for a module M of the
    /// map, imports only M, the modules M's header line draws and what they draw in turn (M's
    /// closure: what M's own code can reach), the test-support targets and the instruments. A
    /// test that needs more than M's closure tests more than M: it belongs to the test target of
    /// the module whose closure holds it, or, when it runs the binary, to EndToEndTests.
    func testTestTargetsImportTheirDependenciesAndUnitTestsStayInTheirModule() throws {
        let map = try headerMap()
        let declared = try declaredDependencies(of: ["target", "testTarget"])
        let imports = try importsByModule(under: "Tests").mapValues { $0.subtracting(["XCTest"]) }
        var checked = 0
        for (target, used) in imports.sorted(by: { $0.key < $1.key }) where !used.isEmpty || declared[target] != nil {
            let dependencies = try XCTUnwrap(declared[target], "Tests/\(target) is not a target of Package.swift")
            XCTAssertEqual(used.subtracting(dependencies).sorted(), [],
                           "Tests/\(target) imports modules Package.swift does not declare as its dependencies")
            checked += 1
            guard target.hasSuffix("Tests"), let module = Optional(String(target.dropLast(5))), map[module] != nil else { continue }
            var closure: Set<String> = [module]
            var frontier = [module]
            while let next = frontier.popLast() {
                for arrow in map[next] ?? [] where closure.insert(arrow).inserted { frontier.append(arrow) }
            }
            let allowed = closure.union(Self.testSupportTargets).union(Self.instruments)
            XCTAssertEqual(used.subtracting(allowed).sorted(), [],
                           "\(target) imports modules outside \(module)'s closure: its tests belong elsewhere")
        }
        XCTAssertGreaterThanOrEqual(checked, 15, "the test targets were not found")
    }
}
