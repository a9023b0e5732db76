public import FoundationEssentials

/// The column names of one result, shared by its rows.
public final class Columns: Sendable {
    /// Names in select order.
    public let names: [String]

    init(_ names: [String]) {
        self.names = names
    }

    /// The first column of that name. (A linear scan: results have a handful of columns, and building a
    /// dictionary per query cost more than every lookup of a row together.)
    func index(of name: String) -> Int? { names.firstIndex(of: name) }
}

/// One result row: values in select order, reachable by column name with typed accessors.
public struct Row: Sendable {
    public let columns: Columns
    public let values: [DatabaseValue]

    /// The value of a column, or `nil` when the result has no such column.
    public subscript(_ name: String) -> DatabaseValue? {
        columns.index(of: name).map { values[$0] }
    }

    private func value(_ name: String) throws(MariaDBError) -> DatabaseValue {
        guard let value = self[name] else {
            throw MariaDBError(code: .missingColumn, message: "no column '\(name)' in the result")
        }
        return value
    }

    private func mismatch(_ name: String, _ wanted: String, _ got: DatabaseValue) -> MariaDBError {
        MariaDBError(code: .typeMismatch, message: "column '\(name)' is not \(wanted)")
    }

    /// A non-NULL text column.
    public func string(_ name: String) throws(MariaDBError) -> String {
        guard let value = try optionalString(name) else { throw mismatch(name, "a non-NULL string", .null) }
        return value
    }

    /// A text column that may be NULL.
    public func optionalString(_ name: String) throws(MariaDBError) -> String? {
        switch try value(name) {
        case .null: return nil
        case .string(let text): return text
        case let other: throw mismatch(name, "a string", other)
        }
    }

    /// A non-NULL integer column.
    public func int(_ name: String) throws(MariaDBError) -> Int64 {
        guard let value = try optionalInt(name) else { throw mismatch(name, "a non-NULL integer", .null) }
        return value
    }

    /// An integer column that may be NULL.
    public func optionalInt(_ name: String) throws(MariaDBError) -> Int64? {
        switch try value(name) {
        case .null: return nil
        case .int(let number): return number
        case let other: throw mismatch(name, "an integer", other)
        }
    }

    /// A non-NULL floating-point column.
    public func double(_ name: String) throws(MariaDBError) -> Double {
        switch try value(name) {
        case .double(let number): return number
        case .int(let number): return Double(number)
        case let other: throw mismatch(name, "a number", other)
        }
    }

    /// A non-NULL boolean (TINYINT) column.
    public func bool(_ name: String) throws(MariaDBError) -> Bool {
        switch try value(name) {
        case .int(let number): return number != 0
        case .bool(let flag): return flag
        case let other: throw mismatch(name, "a boolean", other)
        }
    }

    /// A non-NULL binary column.
    public func bytes(_ name: String) throws(MariaDBError) -> [UInt8] {
        guard let value = try optionalBytes(name) else { throw mismatch(name, "non-NULL binary", .null) }
        return value
    }

    /// A binary column that may be NULL.
    public func optionalBytes(_ name: String) throws(MariaDBError) -> [UInt8]? {
        switch try value(name) {
        case .null: return nil
        case .bytes(let data): return data
        case let other: throw mismatch(name, "binary", other)
        }
    }

    /// A non-NULL `DATETIME` column.
    public func date(_ name: String) throws(MariaDBError) -> Date {
        guard let value = try optionalDate(name) else { throw mismatch(name, "a non-NULL date", .null) }
        return value
    }

    /// A `DATETIME` column that may be NULL.
    public func optionalDate(_ name: String) throws(MariaDBError) -> Date? {
        switch try value(name) {
        case .null: return nil
        case .date(let date): return date
        case let other: throw mismatch(name, "a date", other)
        }
    }
}
