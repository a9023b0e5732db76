public import FoundationEssentials

/// The time source of the domain, injected so tests never sleep.
public protocol AuthClock: Sendable {
    func now() -> Date
}

/// The real clock.
public struct SystemClock: AuthClock {
    public init() {}
    public func now() -> Date { Date() }
}
