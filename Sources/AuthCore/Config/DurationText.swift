/// Parses durations such as `15m`, `7d`, `10s`, `1h30m`, `250ms` or a bare number of seconds, and writes them back.
public enum DurationText {
    /// The duration in milliseconds, or `nil` when the text is not a duration.
    public static func milliseconds(_ text: String) -> Int? {
        let trimmed = text.filter { $0 != " " }
        if trimmed.isEmpty { return nil }
        if let seconds = Int(trimmed) {
            let (millis, overflow) = seconds.multipliedReportingOverflow(by: 1000)
            return seconds >= 0 && !overflow ? millis : nil
        }
        var total = 0
        var number = ""
        var unit = ""
        func flush() -> Bool {
            guard let value = Int(number), let factor = factor(of: unit) else { return false }
            let (product, overflow) = value.multipliedReportingOverflow(by: factor)
            let (sum, sumOverflow) = total.addingReportingOverflow(product)
            guard !overflow, !sumOverflow else { return false }
            total = sum
            number = ""
            unit = ""
            return true
        }
        for character in trimmed {
            if character.isASCII && character.isNumber {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(character)
            } else if character.isASCII && character.isLetter {
                guard !number.isEmpty else { return nil }
                unit.append(character)
            } else {
                return nil
            }
        }
        guard flush() else { return nil }
        return total
    }

    private static func factor(of unit: String) -> Int? {
        switch unit {
        case "ms": 1
        case "s": 1000
        case "m": 60_000
        case "h": 3_600_000
        case "d": 86_400_000
        case "w": 604_800_000
        default: nil
        }
    }

    /// Formats whole seconds the way the defaults are written (`15m`, `7d`, `10s`).
    public static func format(seconds: Int) -> String {
        if seconds != 0 && seconds % 86_400 == 0 { return "\(seconds / 86_400)d" }
        if seconds != 0 && seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds != 0 && seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }

    /// Formats a duration in whole seconds (`15m`, `7d`, `10s`), or milliseconds when it has a fraction (`250ms`).
    public static func format(_ duration: Duration) -> String {
        let parts = duration.components
        let millis = parts.attoseconds / 1_000_000_000_000_000
        if millis != 0 { return "\(parts.seconds * 1000 + millis)ms" }
        return format(seconds: Int(parts.seconds))
    }
}
