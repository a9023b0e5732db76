public import FoundationEssentials

extension Duration {
    /// The duration as a `TimeInterval`, for date arithmetic.
    public var timeInterval: TimeInterval {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// The whole seconds of the duration (a cookie's Max-Age, a token's `exp` offset).
    public var wholeSeconds: Int { Int(components.seconds) }
}
