import RNN
import XCTest

/// The dropout mask is a pure function of (seed, step, sequence, layer, t, unit).
final class DropoutMaskTests: XCTestCase {
    let units = 256

    private func mask(_ d: Dropout, step: Int = 3, sequence: Int = 41, layer: Int = 1, t: Int = 9) -> [Bool] {
        (0..<units).map { d.keeps(step: step, sequence: sequence, layer: layer, t: t, unit: $0) }
    }

    func testSameKeysGiveTheSameMaskAndAnyChangedKeyAnother() {
        let d = Dropout(probability: 0.5, seed: 7)
        let base = mask(d)
        XCTAssertEqual(mask(Dropout(probability: 0.5, seed: 7)), base)
        let others: [(String, [Bool])] = [
            ("seed", mask(Dropout(probability: 0.5, seed: 8))),
            ("step", mask(d, step: 4)), ("sequence", mask(d, sequence: 42)),
            ("layer", mask(d, layer: 0)), ("t", mask(d, t: 10)),
            // Swapped fields must not collide either.
            ("step <-> sequence", mask(d, step: 41, sequence: 3)), ("layer <-> t", mask(d, layer: 9, t: 1)),
        ]
        for (what, other) in others {
            // Two independent masks agree on ~half of 256 units; equal masks on all.
            let agreeing = zip(base, other).filter { $0 == $1 }.count
            XCTAssertLessThan(agreeing, units * 3 / 4, "changing \(what) left the mask nearly unchanged")
        }
    }

    /// The drop rate is p (4 standard deviations over 200k units), units within a row and rows
    /// are not correlated (neighbouring units agree at the independent rate p² + (1−p)²), and
    /// p = 0 keeps everything.
    func testDropRateIsPAndUnitsAreIndependent() {
        for p in [0.1, 0.5, 0.8] {
            let d = Dropout(probability: p, seed: 12)
            var dropped = 0, agreeing = 0, n = 0
            for sequence in 0..<100 {
                for t in 0..<8 {
                    let row = mask(d, step: 5, sequence: sequence, layer: 0, t: t)
                    dropped += row.filter { !$0 }.count
                    agreeing += zip(row, row.dropFirst()).filter { $0 == $1 }.count
                    n += units
                }
            }
            let rate = Double(dropped) / Double(n), sigma = (p * (1 - p) / Double(n)).squareRoot()
            XCTAssertEqual(rate, p, accuracy: 4 * sigma, "p=\(p)")
            let pairs = Double(n - 800), expected = p * p + (1 - p) * (1 - p)
            XCTAssertEqual(Double(agreeing) / pairs, expected, accuracy: 4 * (expected * (1 - expected) / pairs).squareRoot() * 2, "p=\(p)")
        }
        XCTAssertTrue(mask(Dropout(probability: 0, seed: 1)).allSatisfy { $0 })
        XCTAssertEqual(Dropout(probability: 0.25, seed: 1).keepScale, 1 / 0.75)
    }

    /// Locked masks are constant over t and change with every other key; the drop rate is p;
    /// per-step masks of the same run differ at every t.
    func testLockedMasksIgnoreTimeAndNothingElse() {
        let locked = Dropout(probability: 0.5, seed: 7, masking: .locked)
        let base = mask(locked, t: 0)
        for t in [1, 9, 63] { XCTAssertEqual(mask(locked, t: t), base, "t = \(t)") }
        for (what, other) in [("step", mask(locked, step: 4)), ("sequence", mask(locked, sequence: 42)),
                              ("layer", mask(locked, layer: 0)), ("per-step", mask(Dropout(probability: 0.5, seed: 7), t: 0))] {
            XCTAssertLessThan(zip(base, other).filter { $0 == $1 }.count, units * 3 / 4, "changing \(what) left the mask nearly unchanged")
        }
        var dropped = 0
        for sequence in 0..<400 { dropped += mask(Dropout(probability: 0.3, seed: 2, masking: .locked), sequence: sequence).filter { !$0 }.count }
        let n = Double(400 * units)
        XCTAssertEqual(Double(dropped) / n, 0.3, accuracy: 4 * (0.3 * 0.7 / n).squareRoot())
    }
}
