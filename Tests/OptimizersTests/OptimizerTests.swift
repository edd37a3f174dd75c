import Buffers
import Foundation
import TestSupport
import XCTest
import Optimizers

/// Expected values are worked out by hand (or with an independent Python line, quoted) and
/// written as literals, so the tests do not share code with the optimizers.
final class OptimizerTests: XCTestCase {
    /// Runs three steps with the gradients in `steps` (one array per step) and returns the
    /// parameters after each.
    private func run(_ optimizer: Optimizer, start: [Float], steps: [[Float]], lr: Float) -> [[Float]] {
        let parameters = Buffer(start)
        return steps.map { gradient in
            let gradients = Buffer(gradient)
            optimizer.step(parameters: parameters, gradients: gradients, learningRate: lr)
            XCTAssertEqual(gradients.toArray(), gradient, "the caller's gradients must not change")
            return parameters.toArray()
        }
    }

    private func assertClose(_ actual: [[Float]], _ expected: [[Float]], accuracy: Float = 1e-6,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(actual.count, expected.count, file: file, line: line)
        for (a, e) in zip(actual, expected) {
            XCTAssertEqual(a.count, e.count, file: file, line: line)
            for (x, y) in zip(a, e) { XCTAssertEqual(x, y, accuracy: accuracy, "\(a) vs \(e)", file: file, line: line) }
        }
    }

    func testSGDMomentum() throws {
        // μ = 0.9, lr = 0.1, g = 0.5 and 1.0 every step, p0 = 1 and −2.
        // element 0: buf = 0.5, 0.9·0.5+0.5 = 0.95, 0.9·0.95+0.5 = 1.355
        //            p = 1 − 0.05 = 0.95, 0.95 − 0.095 = 0.855, 0.855 − 0.1355 = 0.7195
        // element 1: buf = 1, 1.9, 2.71;  p = −2.1, −2.29, −2.561
        let sgd = try SGD(count: 2, momentum: 0.9)
        let result = run(sgd, start: [1, -2], steps: [[0.5, 1], [0.5, 1], [0.5, 1]], lr: 0.1)
        assertClose(result, [[0.95, -2.1], [0.855, -2.29], [0.7195, -2.561]])
        XCTAssertEqual(sgd.stepCount, 3)
        XCTAssertEqual(sgd.stateTensors.map(\.prefix), ["sgd.momentum"])
        XCTAssertEqual(sgd.momentumBuffer[0], 1.355, accuracy: 1e-6)
    }

    func testSGDNesterov() throws {
        // μ = 0.9, lr = 0.1, g = 0.5, p0 = 1. buf as above: 0.5, 0.95, 1.355.
        // step g' = g + μ·buf: 0.95, 1.355, 1.7195
        // p = 1 − 0.095 = 0.905, 0.905 − 0.1355 = 0.7695, 0.7695 − 0.17195 = 0.59755
        let sgd = try SGD(count: 1, momentum: 0.9, nesterov: true)
        let result = run(sgd, start: [1], steps: [[0.5], [0.5], [0.5]], lr: 0.1)
        assertClose(result, [[0.905], [0.7695], [0.59755]])
    }

    func testSGDWeightDecay() throws {
        // wd = 0.1, no momentum, lr = 0.1, g = 0.5, p0 = 1:
        // d = 0.5 + 0.1·1 = 0.6 → p = 0.94; d = 0.5 + 0.094 = 0.594 → p = 0.8806;
        // d = 0.5 + 0.08806 = 0.58806 → p = 0.821794
        let sgd = try SGD(count: 1, weightDecay: 0.1)
        let result = run(sgd, start: [1], steps: [[0.5], [0.5], [0.5]], lr: 0.1)
        assertClose(result, [[0.94], [0.8806], [0.821794]])
        XCTAssertTrue(sgd.stateTensors.isEmpty)
    }

    func testSGDMomentumWithWeightDecay() throws {
        // μ = 0.5, wd = 0.1, lr = 1, g = 0, p0 = 1:
        // d = 0.1 → buf = 0.1, p = 0.9; d = 0.09 → buf = 0.05 + 0.09 = 0.14, p = 0.76;
        // d = 0.076 → buf = 0.07 + 0.076 = 0.146, p = 0.614
        let sgd = try SGD(count: 1, momentum: 0.5, weightDecay: 0.1)
        assertClose(run(sgd, start: [1], steps: [[0], [0], [0]], lr: 1), [[0.9], [0.76], [0.614]])
    }

    func testSGDRejectsInvalidHyperparameters() {
        assertThrows(try SGD(count: 1, momentum: 0, nesterov: true), containing: ["nesterov", "momentum"])
        assertThrows(try SGD(count: 1, momentum: 1.5), containing: ["momentum", "1.5"])
        assertThrows(try SGD(count: 1, weightDecay: -1), containing: ["weight decay"])
    }

    func testAdamFirstThreeStepsWithBiasCorrection() throws {
        // β1 = 0.9, β2 = 0.999, eps = 1e-8, lr = 0.1, p0 = 1, g = 0.5, −1, 2.
        // t=1: m = 0.05, v = 0.00025; m̂ = 0.05/0.1 = 0.5, v̂ = 0.00025/0.001 = 0.25
        //      p = 1 − 0.1·0.5/(0.5 + 1e-8) = 0.900000002
        // t=2: m = 0.045 − 0.1 = −0.055, v = 0.00024975 + 0.001 = 0.00124975
        //      m̂ = −0.055/0.19 = −0.2894737, v̂ = 0.00124975/0.001999 = 0.6251876, √v̂ = 0.7906880
        //      p = 0.9 + 0.1·0.2894737/0.7906880 = 0.9366104
        // t=3: m = −0.0495 + 0.2 = 0.1505, v = 0.00124850025 + 0.004 = 0.00524850025
        //      m̂ = 0.1505/0.271 = 0.5553506, v̂ = 0.0052485/0.002997001 = 1.7512508, √v̂ = 1.3233483
        //      p = 0.9366104 − 0.1·0.5553506/1.3233483 = 0.8946448
        // (checked with a plain Python loop of the torch formulas.)
        let adam = try Adam(count: 1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8)
        let result = run(adam, start: [1], steps: [[0.5], [-1], [2]], lr: 0.1)
        assertClose(result, [[0.9], [0.9366104], [0.8946448]])
        XCTAssertEqual(adam.stateTensors.map(\.prefix), ["adam.m", "adam.v"])
        XCTAssertEqual(adam.firstMoment[0], 0.1505, accuracy: 1e-6)
        XCTAssertEqual(adam.secondMoment[0], 0.00524850025, accuracy: 1e-9)
    }

    func testAdamWeightDecayIsL2() throws {
        // wd = 0.1, g = 0.5, p0 = 1: d = 0.6; after bias correction m̂ = 0.6, √v̂ = 0.6,
        // so p = 1 − 0.1·0.6/0.6 = 0.9 (the step size is lr whatever d is, on step one).
        // A second element with p0 = −10, g = 0 checks decay alone moves it: d = −1 → p = −9.9.
        let adam = try Adam(count: 2, weightDecay: 0.1)
        assertClose(run(adam, start: [1, -10], steps: [[0.5, 0]], lr: 0.1), [[0.9, -9.9]])
    }

    func testAdamWDecouplesTheDecay() throws {
        // torch.optim.AdamW, wd = 0.1, lr = 0.1, p0 = (1, −10), g = (0.5, 0) twice.
        // t=1: p ← p·(1 − 0.01) = (0.99, −9.9); m̂ = 0.5, √v̂ = 0.5 → p0 = 0.99 − 0.1 = 0.89;
        //      g = 0 leaves m = v = 0, so only the decay moves the second element: −9.9.
        // t=2: p ← (0.8811, −9.801); m = 0.095, m̂ = 0.095/0.19 = 0.5; v = 0.00049975,
        //      v̂ = 0.00049975/0.001999 = 0.25 → p0 = 0.8811 − 0.1 = 0.7811.
        // (L2 decay would give 0.9 at t=1: the decay would pass through m/√v.)
        let adamW = try Adam(count: 2, weightDecay: 0.1, decay: .decoupled)
        assertClose(run(adamW, start: [1, -10], steps: [[0.5, 0], [0.5, 0]], lr: 0.1), [[0.89, -9.9], [0.7811, -9.801]])
    }

    func testExponentialMovingAverage() throws {
        // β = 0.9: average ← average + 0.1·(p − average). From 1: p = 2 → 1.1; p = 3 → 1.29;
        // p = −1 → 1.29 + 0.1·(−2.29) = 1.061.
        let ema = try ExponentialMovingAverage(decay: 0.9, count: 1)
        ema.reset(to: Buffer([1]))
        var seen: [Float] = []
        for p: Float in [2, 3, -1] {
            ema.update(from: Buffer([p]))
            seen.append(ema.average[0])
        }
        assertClose([seen], [[1.1, 1.29, 1.061]])
        XCTAssertThrowsError(try ExponentialMovingAverage(decay: 1, count: 1))
        XCTAssertThrowsError(try ExponentialMovingAverage(decay: 0, count: 1))
    }

    func testValidationPlateauDecaysAfterPatience() {
        // patience 2, decay 0.5: 1.0 and 0.9 improve; 0.9, 0.89995 (above 0.9·(1 − 1e-4) =
        // 0.89991: no new best) and 0.95 do not, and the third of them, the count above 2,
        // halves the factor and restarts the count; 0.8 improves again.
        var plateau = ValidationPlateau()
        let outcomes = [1.0, 0.9, 0.9, 0.89995, 0.95, 0.8].map { plateau.observe($0, decay: 0.5, patience: 2) }
        XCTAssertEqual(outcomes, [.improved, .improved, .noImprovement, .noImprovement, .decayed(factor: 0.5), .improved])
        XCTAssertEqual(plateau, ValidationPlateau(factor: 0.5, best: 0.8, badEvaluations: 0, evaluationsSinceBest: 0))
        // Tracking only (early stopping without the plateau schedule): the factor stays 1.
        var tracking = ValidationPlateau()
        for loss in [1.0, 1.0, 1.0, 1.0] { _ = tracking.observe(loss, decay: nil, patience: 0) }
        XCTAssertEqual(tracking, ValidationPlateau(factor: 1, best: 1, badEvaluations: 3, evaluationsSinceBest: 3))
    }

    func testAdagradSteps() throws {
        // torch: sum = 0.25, p = 1 − 0.1·0.5/(0.5 + 1e-10) = 0.9;
        // then g = −1: sum = 1.25, p = 0.9 + 0.1/√1.25 = 0.9 + 0.0894427 = 0.9894427
        let adagrad = try Adagrad(count: 1)
        assertClose(run(adagrad, start: [1], steps: [[0.5], [-1]], lr: 0.1), [[0.9], [0.9894427]])
        XCTAssertEqual(adagrad.stateTensors.map(\.prefix), ["adagrad.sum"])
        XCTAssertEqual(adagrad.sumOfSquares[0], 1.25)
    }

    func testRestoredStepCountContinuesTheTrajectory() throws {
        // Resuming = copying state buffers and stepCount into a fresh optimizer.
        let grads: [[Float]] = [[0.5, -1], [2, 0.25], [-0.75, 1]]
        let whole = try Adam(count: 2)
        let expected = run(whole, start: [1, 2], steps: grads, lr: 0.01)

        let first = try Adam(count: 2)
        let parameters = Buffer<Float>([1, 2])
        first.step(parameters: parameters, gradients: Buffer(grads[0]), learningRate: 0.01)
        let resumed = try Adam(count: 2)
        resumed.stepCount = first.stepCount
        for ((_, target), (_, source)) in zip(resumed.stateTensors, first.stateTensors) {
            target.copy(from: source.toArray())
        }
        for gradient in grads.dropFirst() {
            resumed.step(parameters: parameters, gradients: Buffer(gradient), learningRate: 0.01)
        }
        XCTAssertEqual(parameters.toArray(), expected.last!)
    }

    func testWarmupCosineSchedule() throws {
        // W = 10, S = 110, f = 0.1, base 1:
        // warmup (s+1)/10: s=0 → 0.1, s=4 → 0.5, s=9 → 1.
        // cosine: s=10 → progress 0 → 1; s=35 → progress 1/4 → 0.1 + 0.9·(1 + cos(π/4))/2 = 0.8681981;
        // s=60 → progress 1/2 → 0.1 + 0.45 = 0.55; s=109 → 0.1 + 0.45·(1 + cos(0.99π)) = 0.1002220;
        // s ≥ 110 → 0.1.
        let schedule = LearningRateSchedule.warmupCosine(warmupSteps: 10, totalSteps: 110, minimumFactor: 0.1)
        try schedule.validate()
        let expected: [(Int, Double)] = [(0, 0.1), (4, 0.5), (9, 1), (10, 1), (35, 0.8681981), (60, 0.55),
                                         (109, 0.1002220), (110, 0.1), (1000, 0.1)]
        for (step, value) in expected {
            XCTAssertEqual(schedule.learningRate(base: 1, step: step), value, accuracy: 1e-7, "step \(step)")
        }
        XCTAssertEqual(schedule.learningRate(base: 0.002, step: 60), 0.0011, accuracy: 1e-12)
        XCTAssertEqual(LearningRateSchedule.constant.learningRate(base: 0.3, step: 12345), 0.3)
        // No warmup: starts at base.
        XCTAssertEqual(LearningRateSchedule.warmupCosine(warmupSteps: 0, totalSteps: 10, minimumFactor: 0)
            .learningRate(base: 2, step: 0), 2)
        assertThrows(try LearningRateSchedule.warmupCosine(warmupSteps: 20, totalSteps: 10, minimumFactor: 0).validate(),
                     containing: ["warmup steps (20)", "(10)"])

        let data = try JSONEncoder().encode(schedule)
        XCTAssertEqual(try JSONDecoder().decode(LearningRateSchedule.self, from: data), schedule)
    }
}
