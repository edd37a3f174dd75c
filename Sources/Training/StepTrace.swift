import Buffers
import Clock
import MPI
import RNN
import Trace

/// The backward pass's view when the step is traced: notes when the forward pass ends and
/// passes everything else on to the step's own readiness (or to nobody, without overlap), so
/// that tracing changes no computation.
final class TracedReadiness: GradientReadiness {
    private let recorder: TraceRecorder
    var inner: GradientReadiness?
    /// When the latest forward pass ended (this rank's monotonic seconds).
    private(set) var forwardEnd = 0.0

    init(recorder: TraceRecorder) { self.recorder = recorder }

    /// Self, forwarding to `inner`.
    func wrapping(_ inner: GradientReadiness?) -> GradientReadiness {
        self.inner = inner
        return self
    }

    func forwardFinished() {
        forwardEnd = recorder.now()
        inner?.forwardFinished()
    }

    func gradientReady(_ range: Range<Int>) { inner?.gradientReady(range) }
    func backwardProgress() { inner?.backwardProgress() }
}

/// Each allreduce piece (a bucket of the gradient) from when this rank makes it ready to when
/// it is summed here, with its size, whichever algorithm reduces it: the allreduce tracks of the
/// timeline.
final class BucketTrace: AllreduceObserver {
    private let recorder: TraceRecorder
    /// Per piece, when it started ([maxPieces], allocated once).
    private let started: Buffer<Double>

    init(recorder: TraceRecorder, maxPieces: Int) {
        self.recorder = recorder
        started = Buffer(count: maxPieces, repeating: 0)
    }

    func pieceStarted(_ index: Int, elements: Int) { started[index] = recorder.now() }

    func pieceSummed(_ index: Int, elements: Int) {
        recorder.record(.bucket, since: started[index], track: .allreduce, index: index,
                        bytes: elements * MemoryLayout<Float>.stride)
    }
}
