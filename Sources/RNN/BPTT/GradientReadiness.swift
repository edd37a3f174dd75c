/// What a backward pass tells its caller while it runs: which parts of the flat gradient are
/// final, and when there is a moment to move communication on. A data-parallel caller starts
/// reducing the ready parts while BPTT continues (docs/design.md §4, overlap), as PyTorch
/// DDP's buckets do; this module only says when, it knows nothing of MPI.
///
/// The pieces come in the order of the workspace's `gradientBuckets`, one call per bucket, on
/// every call of forwardBackward: a caller without overlap can reduce the same buckets in the
/// same order afterwards and get the same bits.
public protocol GradientReadiness: AnyObject {
    /// The forward pass and the loss are done; the backward pass begins (a timeline marks it).
    func forwardFinished()
    /// Elements `range` of the gradient buffer hold their final value for this batch.
    func gradientReady(_ range: Range<Int>)
    /// Called between pieces of backward work (each time step of the recurrence): a chance
    /// to progress communication. Must be cheap and must not allocate.
    func backwardProgress()
}

extension GradientReadiness {
    public func forwardFinished() {}
}
