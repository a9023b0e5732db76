import CMariaDB
import FoundationEssentials

/// What running a statement produced.
public struct ExecuteResult: Sendable {
    /// Rows changed (for INSERT/UPDATE/DELETE) or returned (for SELECT).
    public let affectedRows: Int
    /// The AUTO_INCREMENT value of an INSERT, or 0.
    public let lastInsertID: UInt64
    /// The rows of a result set; empty for statements without one.
    public let rows: [Row]
}

/// One server-side prepared statement, owned by the ``Connection`` that prepared it.
///
/// `MYSQL_BIND` arrays and their buffers are allocated per execution and freed once Connector/C is done with them:
/// parameters after `mysql_stmt_execute` (the values are sent by then), result buffers after the last fetch.
final class Statement {
    private var handle: UnsafeMutablePointer<MYSQL_STMT>?
    let parameterCount: Int

    /// Prepares `sql` on `connection`.
    init(connection: UnsafeMutablePointer<MYSQL>, sql: String) throws(MariaDBError) {
        guard let handle = mysql_stmt_init(connection) else {
            throw Connection.error(of: connection)
        }
        let length = UInt(sql.utf8.count)
        let failed = sql.withCString { mysql_stmt_prepare(handle, $0, length) } != 0
        if failed {
            let error = Self.error(of: handle)
            mysql_stmt_close(handle)
            throw error
        }
        // Let mysql_stmt_store_result compute each column's longest value, so result buffers are sized exactly.
        var update: Int8 = 1
        mysql_stmt_attr_set(handle, STMT_ATTR_UPDATE_MAX_LENGTH, &update)
        self.handle = handle
        self.parameterCount = Int(mysql_stmt_param_count(handle))
    }

    deinit { close() }

    /// Releases the server-side statement; safe to call twice.
    func close() {
        if let handle { mysql_stmt_close(handle) }
        handle = nil
    }

    static func error(of statement: UnsafeMutablePointer<MYSQL_STMT>) -> MariaDBError {
        MariaDBError(
            errno: mysql_stmt_errno(statement), sqlState: String(cString: mysql_stmt_sqlstate(statement)),
            message: String(cString: mysql_stmt_error(statement)))
    }

    /// Binds `values`, executes, and reads the whole result.
    func execute(_ values: [DatabaseValue]) throws(MariaDBError) -> ExecuteResult {
        guard let handle else { throw MariaDBError(code: .misuse, message: "statement used after close") }
        guard values.count == parameterCount else {
            throw MariaDBError(code: .misuse, message: "statement takes \(parameterCount) values, got \(values.count)")
        }
        try bindAndExecute(handle, values)
        guard let metadata = mysql_stmt_result_metadata(handle) else {
            return ExecuteResult(
                affectedRows: Int(mysql_stmt_affected_rows(handle)),
                lastInsertID: mysql_stmt_insert_id(handle), rows: [])
        }
        defer { mysql_free_result(metadata) }
        return try fetchAll(handle, metadata)
    }

    // MARK: Parameters

    /// The bytes a value's bind buffer needs, rounded up to 8 (every buffer starts 8-aligned).
    private static func bufferSize(_ value: DatabaseValue) -> Int {
        let size =
            switch value {
            case .null: 0
            case .int, .double: 8
            case .bool: 1
            case .string(let text): text.utf8.count
            case .bytes(let bytes): bytes.count
            case .date: MemoryLayout<MYSQL_TIME>.size
            }
        return (size + 7) & ~7
    }

    private func bindAndExecute(_ handle: UnsafeMutablePointer<MYSQL_STMT>, _ values: [DatabaseValue]) throws(MariaDBError) {
        // One allocation for the binds and one for every value's bytes (this runs for every statement).
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: max(values.count, 1))
        binds.initialize(repeating: MYSQL_BIND(), count: max(values.count, 1))
        let storage = UnsafeMutableRawPointer.allocate(
            byteCount: max(values.reduce(0) { $0 + Self.bufferSize($1) }, 8),
            alignment: 8)
        defer {
            storage.deallocate()
            binds.deallocate()
        }
        var offset = 0
        for (index, value) in values.enumerated() {
            let buffer = storage + offset
            offset += Self.bufferSize(value)
            switch value {
            case .null:
                binds[index].buffer_type = MYSQL_TYPE_NULL
            case .int(let number):
                binds[index].buffer_type = MYSQL_TYPE_LONGLONG
                buffer.storeBytes(of: number, as: Int64.self)
                binds[index].buffer = buffer
            case .double(let number):
                binds[index].buffer_type = MYSQL_TYPE_DOUBLE
                buffer.storeBytes(of: number, as: Double.self)
                binds[index].buffer = buffer
            case .bool(let flag):
                binds[index].buffer_type = MYSQL_TYPE_TINY
                buffer.storeBytes(of: Int8(flag ? 1 : 0), as: Int8.self)
                binds[index].buffer = buffer
            case .string(let text):
                var text = text
                let count = text.withUTF8 { utf8 in
                    if let base = utf8.baseAddress { buffer.copyMemory(from: base, byteCount: utf8.count) }
                    return utf8.count
                }
                binds[index].buffer_type = MYSQL_TYPE_STRING
                binds[index].buffer = buffer
                binds[index].buffer_length = UInt(count)
            case .bytes(let bytes):
                bytes.withUnsafeBytes { source in
                    if let base = source.baseAddress { buffer.copyMemory(from: base, byteCount: source.count) }
                }
                binds[index].buffer_type = MYSQL_TYPE_BLOB
                binds[index].buffer = buffer
                binds[index].buffer_length = UInt(bytes.count)
            case .date(let date):
                let fields = CivilTime.fields(of: date)
                var time = MYSQL_TIME()
                time.year = UInt32(clamping: fields.year)
                time.month = UInt32(fields.month)
                time.day = UInt32(fields.day)
                time.hour = UInt32(fields.hour)
                time.minute = UInt32(fields.minute)
                time.second = UInt32(fields.second)
                time.second_part = UInt(fields.microsecond)
                time.time_type = MYSQL_TIMESTAMP_DATETIME
                binds[index].buffer_type = MYSQL_TYPE_DATETIME
                buffer.storeBytes(of: time, as: MYSQL_TIME.self)
                binds[index].buffer = buffer
            }
        }
        if !values.isEmpty, mysql_stmt_bind_param(handle, binds) != 0 { throw Self.error(of: handle) }
        if mysql_stmt_execute(handle) != 0 { throw Self.error(of: handle) }
    }

    // MARK: Results

    private enum ColumnKind {
        case integer(unsigned: Bool)
        case double
        case dateTime
        case text
        case binary
        case null

        var isBinary: Bool {
            if case .binary = self { return true }
            return false
        }
    }

    private func fetchAll(
        _ handle: UnsafeMutablePointer<MYSQL_STMT>,
        _ metadata: UnsafeMutablePointer<MYSQL_RES>
    ) throws(MariaDBError) -> ExecuteResult {
        if mysql_stmt_store_result(handle) != 0 { throw Self.error(of: handle) }
        defer { mysql_stmt_free_result(handle) }
        let count = Int(mysql_num_fields(metadata))
        guard let fields = mysql_fetch_fields(metadata) else {
            return ExecuteResult(affectedRows: 0, lastInsertID: 0, rows: [])
        }
        var names: [String] = []
        var kinds: [ColumnKind] = []
        let binds = UnsafeMutablePointer<MYSQL_BIND>.allocate(capacity: count)
        binds.initialize(repeating: MYSQL_BIND(), count: count)
        let lengths = UnsafeMutablePointer<UInt>.allocate(capacity: count)
        lengths.initialize(repeating: 0, count: count)
        let nulls = UnsafeMutablePointer<CChar>.allocate(capacity: count)
        nulls.initialize(repeating: 0, count: count)
        var buffers: [UnsafeMutableRawPointer] = []
        defer {
            for buffer in buffers { buffer.deallocate() }
            binds.deallocate()
            lengths.deallocate()
            nulls.deallocate()
        }
        for index in 0..<count {
            let field = fields[index]
            names.append(String(cString: field.name))
            let kind = Self.kind(of: field)
            kinds.append(kind)
            let (type, unsigned, size) = Self.resultBuffer(for: kind, maxLength: Int(field.max_length))
            binds[index].buffer_type = type
            binds[index].is_unsigned = unsigned ? 1 : 0
            let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
            buffers.append(buffer)
            binds[index].buffer = buffer
            binds[index].buffer_length = UInt(size)
            binds[index].length = lengths + index
            CMariaDB_bind_set_null_ptr(binds + index, nulls + index)
        }
        if mysql_stmt_bind_result(handle, binds) != 0 { throw Self.error(of: handle) }
        let columns = Columns(names)
        var rows: [Row] = []
        rows.reserveCapacity(Int(mysql_stmt_num_rows(handle)))
        while true {
            let status = mysql_stmt_fetch(handle)
            if status == MYSQL_NO_DATA { break }
            if status == 1 { throw Self.error(of: handle) }
            if status == MYSQL_DATA_TRUNCATED {
                throw MariaDBError(code: .server, message: "a column was truncated while fetching")
            }
            var values: [DatabaseValue] = []
            values.reserveCapacity(count)
            for index in 0..<count {
                if nulls[index] != 0 {
                    values.append(.null)
                    continue
                }
                values.append(Self.decode(kinds[index], buffers[index], length: lengths[index]))
            }
            rows.append(Row(columns: columns, values: values))
        }
        return ExecuteResult(affectedRows: rows.count, lastInsertID: 0, rows: rows)
    }

    /// The result buffer of a column: its MariaDB type, signedness and size.
    private static func resultBuffer(for kind: ColumnKind, maxLength: Int) -> (enum_field_types, Bool, Int) {
        switch kind {
        case .integer(let unsigned): (MYSQL_TYPE_LONGLONG, unsigned, 8)
        case .double: (MYSQL_TYPE_DOUBLE, false, 8)
        case .dateTime: (MYSQL_TYPE_DATETIME, false, MemoryLayout<MYSQL_TIME>.size)
        case .text: (MYSQL_TYPE_STRING, false, max(maxLength, 1))
        case .binary: (MYSQL_TYPE_BLOB, false, max(maxLength, 1))
        case .null: (MYSQL_TYPE_NULL, false, 1)
        }
    }

    /// A fetched column value from its result buffer (not NULL).
    @inline(__always)
    private static func decode(_ kind: ColumnKind, _ buffer: UnsafeMutableRawPointer, length: UInt) -> DatabaseValue {
        switch kind {
        case .integer(let unsigned):
            if unsigned {
                let raw = buffer.load(as: UInt64.self)
                return Int64(exactly: raw).map(DatabaseValue.int) ?? .string(String(raw))
            }
            return .int(buffer.load(as: Int64.self))
        case .double:
            return .double(buffer.load(as: Double.self))
        case .dateTime:
            let time = buffer.load(as: MYSQL_TIME.self)
            return .date(
                CivilTime.date(
                    from: .init(
                        year: Int(time.year), month: Int(max(time.month, 1)), day: Int(max(time.day, 1)),
                        hour: Int(time.hour), minute: Int(time.minute), second: Int(time.second),
                        microsecond: Int(time.second_part))))
        case .text:
            return .string(String(decoding: UnsafeRawBufferPointer(start: buffer, count: Int(length)), as: UTF8.self))
        case .binary:
            return .bytes(Array(UnsafeRawBufferPointer(start: buffer, count: Int(length))))
        case .null:
            return .null
        }
    }

    private static func kind(of field: MYSQL_FIELD) -> ColumnKind {
        let binaryCharset: UInt32 = 63
        let unsigned = (field.flags & UInt32(UNSIGNED_FLAG)) != 0
        switch field.type {
        case MYSQL_TYPE_TINY, MYSQL_TYPE_SHORT, MYSQL_TYPE_LONG, MYSQL_TYPE_LONGLONG, MYSQL_TYPE_INT24,
            MYSQL_TYPE_YEAR:
            return .integer(unsigned: unsigned)
        case MYSQL_TYPE_FLOAT, MYSQL_TYPE_DOUBLE:
            return .double
        case MYSQL_TYPE_DATETIME, MYSQL_TYPE_TIMESTAMP, MYSQL_TYPE_DATE:
            return .dateTime
        case MYSQL_TYPE_NULL:
            return .null
        case MYSQL_TYPE_BIT, MYSQL_TYPE_GEOMETRY:
            return .binary
        case MYSQL_TYPE_TINY_BLOB, MYSQL_TYPE_MEDIUM_BLOB, MYSQL_TYPE_LONG_BLOB, MYSQL_TYPE_BLOB,
            MYSQL_TYPE_STRING, MYSQL_TYPE_VAR_STRING, MYSQL_TYPE_VARCHAR:
            return field.charsetnr == binaryCharset ? .binary : .text
        default:
            return .text  // DECIMAL, TIME, JSON, ENUM, SET: their text form
        }
    }
}
