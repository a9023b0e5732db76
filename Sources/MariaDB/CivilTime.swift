import FoundationEssentials

/// Bridges ``DatabaseValue`` and MariaDB's `MYSQL_TIME`, in UTC, with exact microseconds.
enum CivilTime {
    struct Fields: Equatable {
        var year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, microsecond: Int
    }

    /// Splits a date into UTC calendar fields (proleptic Gregorian; Howard Hinnant's civil-from-days).
    static func fields(of date: Date) -> Fields {
        let micros = Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
        let (days, microOfDay) = floorDivide(micros, 86_400_000_000)
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        let seconds = microOfDay / 1_000_000
        return Fields(
            year: Int(year), month: Int(month), day: Int(day), hour: Int(seconds / 3600),
            minute: Int(seconds / 60 % 60), second: Int(seconds % 60),
            microsecond: Int(microOfDay % 1_000_000))
    }

    /// Joins UTC calendar fields into a date (days-from-civil).
    static func date(from f: Fields) -> Date {
        let y = Int64(f.month <= 2 ? f.year - 1 : f.year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let m = Int64(f.month)
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(f.day) - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = days * 86_400 + Int64(f.hour) * 3600 + Int64(f.minute) * 60 + Int64(f.second)
        // Double keeps well under a microsecond of error for any DATETIME year; fields(of:) rounds it back exactly.
        return Date(timeIntervalSince1970: Double(seconds) + Double(f.microsecond) / 1_000_000)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> (Int64, Int64) {
        let q = a / b
        let r = a % b
        return r < 0 ? (q - 1, r + b) : (q, r)
    }
}
