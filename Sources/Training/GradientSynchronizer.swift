import Clock
import Buffers
import MPI
import RNN
import Config
import Distributed

/// The communication and gradient policy of one step (docs/design.md §4): local clipping (if
/// chosen), ONE in-place allreduce(SUM) of the flat gradient buffer, then the non-finite
/// check and global clipping, identical on every rank because every rank holds the same sum.
package struct GradientSynchronizer {
    package enum Outcome {
        case apply(gradientNormBeforeClip: Double, clipped: Bool)
        case skip(gradientNormBeforeClip: Double)
    }

    package let collectives: Collectives
    package let clipMode: ClipMode
    package let clipThreshold: Double
    package let clipScope: ClipScope
    /// Preallocated ring allreduce over the gradient buffer's size.
    package let ring: RingAllreduce<Float>

    package init(collectives: Collectives, clipMode: ClipMode, clipThreshold: Double, clipScope: ClipScope, gradientCount: Int) {
        self.collectives = collectives
        self.clipMode = clipMode
        self.clipThreshold = clipThreshold
        self.clipScope = clipScope
        ring = RingAllreduce(count: gradientCount, communicator: collectives.world)
    }

    /// `localTokenFraction`: this rank's share of the global tokens; local clipping applies
    /// the threshold to the rank's own mean gradient, which is its share divided by it.
    package func synchronize(_ gradients: Buffer<Float>, localTokenFraction: Double, step: Int) throws -> (Outcome, allreduceSeconds: Double) {
        if clipScope == .local, localTokenFraction > 0 {
            switch clipMode {
            case .norm: GradientClipping.clipByGlobalNorm(gradients, maxNorm: clipThreshold * localTokenFraction)
            case .value: GradientClipping.clipByValue(gradients, limit: clipThreshold * localTokenFraction)
            case .none: break
            }
        }
        let start = MonotonicClock.seconds()
        if collectives.size > 1 { try collectives.sum(gradients, ring: ring, label: "gradient allreduce", step: step) }
        let allreduceSeconds = MonotonicClock.seconds() - start

        let norm: Double
        var clipped = false
        switch (clipScope, clipMode) {
        case (.global, .norm):
            norm = GradientClipping.clipByGlobalNorm(gradients, maxNorm: clipThreshold)
            clipped = norm > clipThreshold
        case (.global, .value):
            norm = GradientClipping.l2Norm(gradients)
            if norm.isFinite { clipped = GradientClipping.clipByValue(gradients, limit: clipThreshold) > 0 }
        case (.local, _), (.global, .none):
            norm = GradientClipping.l2Norm(gradients)
        }
        guard norm.isFinite else { return (.skip(gradientNormBeforeClip: norm), allreduceSeconds) }
        return (.apply(gradientNormBeforeClip: norm, clipped: clipped), allreduceSeconds)
    }
}
