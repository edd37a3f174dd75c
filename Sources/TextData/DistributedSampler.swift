/// Which sequences each rank trains on at each step (torch DistributedSampler semantics).
///
/// The sequences of all epochs form one flat stream of positions; position p belongs to
/// epoch p / N and stands for sequence perm_epoch[p % N], where perm is the identity without
/// shuffling and a Fisher–Yates permutation drawn from (seed, epoch) with shuffling — the same
/// on every rank because it depends on nothing else. Step s takes positions s·G ..< s·G + G,
/// so a step may wrap into the next epoch (G need not divide N, and G may even exceed N, in
/// which case one step spans several epochs and a sequence can appear more than once in it).
/// Rank r takes a contiguous slice of those G positions; slice sizes differ by at most one
/// (the first G mod P ranks get one more, like numpy's array_split), so over an epoch every
/// sequence is used exactly once across the ranks. With G < P some ranks get an empty shard;
/// they still take part in the allreduce.
///
/// The sampler has no state besides the step number, so resuming, also with another rank
/// count, only needs the step. Above `storedPermutationLimit` sequences the shuffle is an
/// `IndexPermutation` evaluated per index instead of a stored Fisher–Yates array, so that a
/// rank's memory does not grow with the corpus (8 bytes per sequence, two epochs cached).
public struct DistributedSampler {
    public let datasetCount: Int
    public let globalBatch: Int
    public let rankCount: Int
    public let rank: Int
    public let shuffle: Bool
    public let seed: UInt64
    private let cache = PermutationCache()
    public static let storedPermutationLimit = 1 << 20

    public init(datasetCount: Int, globalBatch: Int, rankCount: Int, rank: Int, shuffle: Bool, seed: UInt64) {
        precondition(datasetCount >= 1, "the dataset must hold at least one sequence")
        precondition(globalBatch >= 1, "global batch must be at least 1, got \(globalBatch)")
        precondition(rankCount >= 1 && rank >= 0 && rank < rankCount, "rank \(rank) outside 0..<\(rankCount)")
        self.datasetCount = datasetCount
        self.globalBatch = globalBatch
        self.rankCount = rankCount
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
    }

    /// Steps to cover one epoch: ceil(N / G). With G not dividing N, epochs do not start on
    /// step boundaries; use `steps(forEpochs:)` to convert an epoch count exactly.
    public var stepsPerEpoch: Int { (datasetCount + globalBatch - 1) / globalBatch }

    /// Steps whose positions cover `epochs` whole epochs: ceil(epochs·N / G).
    public func steps(forEpochs epochs: Int) -> Int { (epochs * datasetCount + globalBatch - 1) / globalBatch }

    /// The epoch of the first sequence of `step`.
    public func epoch(ofStep step: Int) -> Int { step * globalBatch / datasetCount }

    /// Epochs completed after `steps` steps, fractional (for progress lines).
    public func epochs(afterSteps steps: Int) -> Double { Double(steps) * Double(globalBatch) / Double(datasetCount) }

    /// The slice of the global batch (positions 0..<G) that `rank` trains on.
    public func shardRange(rank: Int) -> Range<Int> {
        precondition(rank >= 0 && rank < rankCount, "rank \(rank) outside 0..<\(rankCount)")
        let base = globalBatch / rankCount
        let extra = globalBatch % rankCount
        let lower = rank * base + min(rank, extra)
        return lower ..< lower + base + (rank < extra ? 1 : 0)
    }

    /// All G sequence indices of `step`, in order.
    public func globalBatch(step: Int) -> [Int] {
        sequences(step: step, slice: 0..<globalBatch)
    }

    /// This rank's sequence indices of `step`.
    public func shard(step: Int) -> [Int] {
        sequences(step: step, slice: shardRange(rank: rank))
    }

    /// This rank's sequence indices of `step`, written into `indices` (its capacity is
    /// reused, so the training loop allocates nothing per step).
    public func shard(step: Int, into indices: inout [Int]) {
        precondition(step >= 0, "step must be non-negative, got \(step)")
        indices.removeAll(keepingCapacity: true)
        let first = step * globalBatch
        for offset in shardRange(rank: rank) {
            let position = first + offset
            let index = position % datasetCount
            indices.append(shuffle ? permutationIndex(epoch: position / datasetCount, index) : index)
        }
    }

    private func permutationIndex(epoch: Int, _ index: Int) -> Int {
        if datasetCount > Self.storedPermutationLimit {
            return IndexPermutation(count: datasetCount, seed: seed, epoch: epoch)(index)
        }
        if let cached = cache.permutations[epoch] { return cached[index] }
        return permutation(epoch: epoch)[index]
    }

    private func sequences(step: Int, slice: Range<Int>) -> [Int] {
        precondition(step >= 0, "step must be non-negative, got \(step)")
        let first = step * globalBatch
        return slice.map { offset in
            let position = first + offset
            let index = position % datasetCount
            return shuffle ? permutationIndex(epoch: position / datasetCount, index) : index
        }
    }

    /// The order of the sequences in `epoch` when shuffling (cached: one step touches at
    /// most a few consecutive epochs, so only the latest two are kept).
    public func permutation(epoch: Int) -> [Int] {
        if datasetCount > Self.storedPermutationLimit {
            let order = IndexPermutation(count: datasetCount, seed: seed, epoch: epoch)
            return (0..<datasetCount).map { order($0) }
        }
        if let cached = cache.permutations[epoch] { return cached }
        var generator = DataRandom(seed: seed, stream: UInt64(epoch))
        var order = Array(0..<datasetCount)
        var i = datasetCount - 1
        while i > 0 {
            order.swapAt(i, generator.nextInt(below: i + 1))
            i -= 1
        }
        while cache.permutations.count >= 2,
              let farthest = cache.permutations.keys.max(by: { abs($0 - epoch) < abs($1 - epoch) }) {
            cache.permutations[farthest] = nil
        }
        cache.permutations[epoch] = order
        return order
    }

    /// Shared by copies of the sampler: its contents are a pure function of (seed, epoch).
    private final class PermutationCache {
        var permutations: [Int: [Int]] = [:]
    }
}
