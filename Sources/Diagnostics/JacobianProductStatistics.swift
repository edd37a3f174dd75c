#if canImport(Glibc)
import Glibc
#endif

/// The average size of products of backward Jacobians J_k = W_hhᵀ diag(1 − h_k²) over
/// windows of consecutive steps (SpectralAnalysis.jacobianProductNorms): the quantity that
/// decides vanishing (per-step factor < 1) versus exploding (> 1) gradients.
public struct JacobianProductStatistics: Equatable, Sendable {
    /// How the norm of each factor J_k is measured.
    public enum FactorNorm: Equatable, Sendable {
        /// ‖J_k‖₂ itself, by this many power iterations on J_kᵀJ_k per factor (all factors
        /// batched into two gemms per iteration). A lower estimate that converges to ‖J_k‖₂.
        case spectral(iterations: Int)
        /// ‖W_hh‖₂·max_i(1 − h_{k,i}²) ≥ ‖J_k‖₂: cheap (one singular value for all factors),
        /// but loose when the saturated units are not the ones W_hh amplifies.
        case upperBound
    }

    /// Steps per window.
    public let window: Int
    /// Windows averaged over (all sequences, all start positions); 0 when every sequence is
    /// shorter than the window.
    public let windowCount: Int
    /// Mean over the windows of Σ_{k in window} ln ‖J_k‖₂ (NaN when windowCount == 0).
    public let meanLogProduct: Double
    public let factorNorm: FactorNorm

    public init(window: Int, windowCount: Int, meanLogProduct: Double, factorNorm: FactorNorm) {
        self.window = window
        self.windowCount = windowCount
        self.meanLogProduct = meanLogProduct
        self.factorNorm = factorNorm
    }

    /// Geometric mean of the product ∏ ‖J_k‖₂ over the windows: exp(meanLogProduct).
    public var product: Double { exp(meanLogProduct) }

    /// Geometric-mean per-step factor: product^(1/window). Below 1: vanishing, above: exploding.
    public var perStepFactor: Double { exp(meanLogProduct / Double(window)) }
}
