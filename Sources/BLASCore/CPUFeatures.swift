import CBLASCore

/// What this CPU can run, from cpuid: the instruction sets that decide which OpenBLAS kernel
/// fits, and whether the OS saves the AVX and AVX-512 registers (XGETBV), without which the
/// instructions fault even though cpuid lists them.
public struct CPUFeatures: Sendable, Equatable {
    public enum Vendor: String, Sendable {
        case intel = "GenuineIntel", amd = "AuthenticAMD", hygon = "HygonGenuine", other
    }

    public enum Feature: String, Sendable, CaseIterable {
        case sse3, avx, avx2, fma, avx512f, avx512bw, avx512dq, avx512vl, avx512bf16
        /// The OS saves the YMM state (XCR0 bits 1 and 2).
        case osAVX = "os-avx"
        /// The OS saves the opmask and ZMM state too (XCR0 bits 5, 6 and 7).
        case osAVX512 = "os-avx512"
    }

    public var vendor: Vendor
    public var features: Set<Feature>
    /// The processor's brand string, e.g. "Intel(R) Xeon(R) Processor" (empty when unknown).
    public var brand: String
    public var family: Int
    public var model: Int

    public init(vendor: Vendor, features: Set<Feature>, brand: String = "", family: Int = 0, model: Int = 0) {
        self.vendor = vendor
        self.features = features
        self.brand = brand
        self.family = family
        self.model = model
    }

    public func has(_ feature: Feature) -> Bool { features.contains(feature) }

    /// AVX that the OS supports.
    public var usableAVX: Bool { has(.avx) && has(.osAVX) }
    /// AVX2 with FMA (the Haswell/Zen kernels use both).
    public var usableAVX2FMA: Bool { usableAVX && has(.avx2) && has(.fma) }
    /// The AVX-512 subsets that OpenBLAS's SkylakeX kernels use, with OS support.
    public var usableAVX512: Bool {
        usableAVX2FMA && has(.osAVX512) && [.avx512f, .avx512bw, .avx512dq, .avx512vl].allSatisfy(has)
    }
    public var usableAVX512BF16: Bool { usableAVX512 && has(.avx512bf16) }

    /// "Intel(R) Xeon(R) Processor (family 6 model 207): sse3 avx avx2 fma avx512f ..."
    public var summary: String {
        let name = brand.isEmpty ? vendor.rawValue : brand
        let list = Feature.allCases.filter(has).map(\.rawValue).joined(separator: " ")
        return "\(name) (family \(family) model \(model)): \(list.isEmpty ? "no vector extensions known" : list)"
    }

    /// This CPU, read with cpuid and XGETBV (an empty set on other architectures).
    public static func detect() -> CPUFeatures {
        var words = rnn_dist_cpuid_words()
        rnn_dist_read_cpuid(&words)
        let vendorName = withUnsafeBytes(of: words.vendor) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        let brand = withUnsafeBytes(of: words.brand) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        return CPUFeatures(
            vendor: Vendor(rawValue: vendorName) ?? .other,
            features: features(leaf1ECX: words.leaf1_ecx, leaf7EBX: words.leaf7_ebx, leaf7Sub1EAX: words.leaf7_1_eax,
                               xcr0: words.xcr0),
            brand: brand.trimmingSpaces(), family: Int(words.family), model: Int(words.model))
    }

    /// The feature set that these cpuid words describe (bit positions from the Intel SDM, vol. 2A, CPUID).
    public static func features(leaf1ECX: UInt32, leaf7EBX: UInt32, leaf7Sub1EAX: UInt32, xcr0: UInt64) -> Set<Feature> {
        let bits: [(Feature, UInt32, Int)] = [
            (.sse3, leaf1ECX, 0), (.fma, leaf1ECX, 12), (.avx, leaf1ECX, 28),
            (.avx2, leaf7EBX, 5), (.avx512f, leaf7EBX, 16), (.avx512dq, leaf7EBX, 17),
            (.avx512bw, leaf7EBX, 30), (.avx512vl, leaf7EBX, 31), (.avx512bf16, leaf7Sub1EAX, 5),
        ]
        var set = Set(bits.filter { $0.1 & (1 << UInt32($0.2)) != 0 }.map(\.0))
        let osxsave = leaf1ECX & (1 << 27) != 0
        if osxsave && xcr0 & 0b110 == 0b110 { set.insert(.osAVX) }
        if osxsave && xcr0 & 0b1110_0110 == 0b1110_0110 { set.insert(.osAVX512) }
        return set
    }
}

extension String {
    /// Without leading and trailing spaces (cpuid pads the brand string).
    func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
