public import FoundationEssentials

/// A value bound to a statement parameter or read from a result column.
public enum DatabaseValue: Sendable, Equatable, CustomStringConvertible {
    case null
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case string(String)
    case bytes([UInt8])
    /// A point in time, stored as UTC `DATETIME(6)` (microsecond precision).
    case date(Date)

    public var description: String {
        switch self {
        case .null: "NULL"
        case .int(let value): "\(value)"
        case .double(let value): "\(value)"
        case .bool(let value): "\(value)"
        case .string(let value): "'\(value)'"
        case .bytes(let value): "<\(value.count) bytes>"
        case .date(let value): "\(value)"
        }
    }
}
