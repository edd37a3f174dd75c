import CMPI

/// Element types that MPI can reduce and broadcast.
public protocol MPIScalar: BitwiseCopyable {
    static var mpiDatatype: MPI_Datatype { get }
}

extension Float: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_float()! } }
extension Double: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_double()! } }
extension Int: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_int64()! } }
extension Int64: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_int64()! } }
extension Int32: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_int32()! } }
extension UInt64: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_uint64()! } }
extension UInt8: MPIScalar { public static var mpiDatatype: MPI_Datatype { cmpi_uint8()! } }

/// The reductions the trainer needs.
public enum ReductionOperation: String, Sendable {
    case sum, max, min

    var mpiOp: MPI_Op {
        switch self {
        case .sum: return cmpi_op_sum()!
        case .max: return cmpi_op_max()!
        case .min: return cmpi_op_min()!
        }
    }
}
