import AuthCore
public import ProcessManager

/// The service's metrics, counted in ``ProcessManager/SharedCounters`` (shared by all workers) and served in the
/// Prometheus text format at `GET /api/auth/metrics`, only to addresses on `metrics.allow`.
public struct ServiceMetrics: Sendable {
    /// Routes with their own series (the route table's paths); anything else is `other`.
    static let routes = Routes.paths + ["other"]
    static let statusClasses = ["2xx", "3xx", "4xx", "5xx"]
    /// Latency buckets in seconds.
    static let buckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

    /// Outcomes counted besides requests.
    public enum Event: Int, CaseIterable, Sendable {
        case tokenPairIssued, accessVerifiedOK, accessVerifyFailed, refreshRotated, refreshGrace, refreshReuse,
            refreshFailed, loginSucceeded, loginFailed, loginThrottled, loginBusy, databaseError, loginSecondFactorRequired,
            mfaSucceeded, mfaFailed, mfaThrottled, recoveryCodeUsed, passkeyLoginSucceeded, passkeyLoginFailed, passkeyLoginThrottled,
            passkeyRegistered

        var series: (name: String, labels: String) {
            switch self {
            case .tokenPairIssued: ("jwt_authd_token_pairs_issued_total", "")
            case .accessVerifiedOK: ("jwt_authd_access_verifications_total", "result=\"ok\"")
            case .accessVerifyFailed: ("jwt_authd_access_verifications_total", "result=\"refused\"")
            case .refreshRotated: ("jwt_authd_refreshes_total", "result=\"rotated\"")
            case .refreshGrace: ("jwt_authd_refreshes_total", "result=\"grace\"")
            case .refreshReuse: ("jwt_authd_refreshes_total", "result=\"reuse\"")
            case .refreshFailed: ("jwt_authd_refreshes_total", "result=\"refused\"")
            case .loginSucceeded: ("jwt_authd_logins_total", "result=\"ok\"")
            case .loginFailed: ("jwt_authd_logins_total", "result=\"failed\"")
            case .loginThrottled: ("jwt_authd_logins_total", "result=\"throttled\"")
            case .loginBusy: ("jwt_authd_logins_total", "result=\"busy\"")
            case .databaseError: ("jwt_authd_database_errors_total", "")
            case .loginSecondFactorRequired: ("jwt_authd_logins_total", "result=\"mfa_required\"")
            case .mfaSucceeded: ("jwt_authd_mfa_verifications_total", "result=\"ok\"")
            case .mfaFailed: ("jwt_authd_mfa_verifications_total", "result=\"failed\"")
            case .mfaThrottled: ("jwt_authd_mfa_verifications_total", "result=\"throttled\"")
            case .recoveryCodeUsed: ("jwt_authd_mfa_recovery_codes_used_total", "")
            case .passkeyLoginSucceeded: ("jwt_authd_passkey_logins_total", "result=\"ok\"")
            case .passkeyLoginFailed: ("jwt_authd_passkey_logins_total", "result=\"failed\"")
            case .passkeyLoginThrottled: ("jwt_authd_passkey_logins_total", "result=\"throttled\"")
            case .passkeyRegistered: ("jwt_authd_passkeys_registered_total", "")
            }
        }
    }

    private static let requestBase = 0
    private static let histogramBase = routes.count * statusClasses.count
    private static let durationSum = histogramBase + buckets.count + 1  // microseconds
    private static let eventBase = durationSum + 1
    /// Counters per worker slot.
    public static let countersPerSlot = eventBase + Event.allCases.count
    /// Global counter index of worker crashes (written by the supervisor).
    public static let workerCrashes = 0
    /// Global counter index of worker starts after the first ones.
    public static let workerReplacements = 1
    /// The layout the supervisor writes in.
    public static let counterLayout = CounterLayout(
        countersPerSlot: countersPerSlot, workerCrashes: workerCrashes,
        workerReplacements: workerReplacements)

    let counters: SharedCounters

    public init(counters: SharedCounters) {
        self.counters = counters
    }

    private static let routeIndexes: [String: Int] = Dictionary(uniqueKeysWithValues: routes.enumerated().map { ($1, $0) })

    /// Routes ending in `/{id}`: the prefix before the id, and the series index.
    private static let parameterized: [(prefix: String, index: Int)] = routes.enumerated().compactMap { index, route in
        route.hasSuffix("/{id}") ? (String(route.dropLast(4)), index) : nil
    }

    static func routeIndex(_ path: String) -> Int {
        if let exact = routeIndexes[path] { return exact }
        for route in parameterized where path.hasPrefix(route.prefix) { return route.index }
        return routes.count - 1
    }

    /// Counts one request.
    func record(path: String, status: Int, seconds: Double) {
        let statusClass = min(max(status / 100 - 2, 0), 3)
        counters.add(Self.requestBase + Self.routeIndex(path) * Self.statusClasses.count + statusClass)
        let bucket = Self.buckets.firstIndex { seconds <= $0 } ?? Self.buckets.count
        counters.add(Self.histogramBase + bucket)
        counters.add(Self.durationSum, UInt64(max(0, seconds * 1_000_000)))
    }

    /// Counts an outcome.
    func record(_ event: Event) {
        counters.add(Self.eventBase + event.rawValue)
    }

    /// The Prometheus text exposition (format 0.0.4) of the whole pool.
    func render() -> [UInt8] {
        var out = "# HELP jwt_authd_requests_total Requests answered, by route and status class.\n"
        out += "# TYPE jwt_authd_requests_total counter\n"
        for (routeIndex, route) in Self.routes.enumerated() {
            for (classIndex, statusClass) in Self.statusClasses.enumerated() {
                let value = counters.total(Self.requestBase + routeIndex * Self.statusClasses.count + classIndex)
                out += "jwt_authd_requests_total{route=\"\(route)\",status=\"\(statusClass)\"} \(value)\n"
            }
        }
        out += "# HELP jwt_authd_request_duration_seconds Time from the end of the request body to the response.\n"
        out += "# TYPE jwt_authd_request_duration_seconds histogram\n"
        var cumulative: UInt64 = 0
        for (index, bound) in Self.buckets.enumerated() {
            cumulative += counters.total(Self.histogramBase + index)
            out += "jwt_authd_request_duration_seconds_bucket{le=\"\(bound)\"} \(cumulative)\n"
        }
        cumulative += counters.total(Self.histogramBase + Self.buckets.count)
        out += "jwt_authd_request_duration_seconds_bucket{le=\"+Inf\"} \(cumulative)\n"
        out += "jwt_authd_request_duration_seconds_sum \(Double(counters.total(Self.durationSum)) / 1_000_000)\n"
        out += "jwt_authd_request_duration_seconds_count \(cumulative)\n"
        // One group per family (the text format requires it), in the order families first appear.
        var families: [String] = []
        for event in Event.allCases where !families.contains(event.series.name) { families.append(event.series.name) }
        for family in families {
            out += "# TYPE \(family) counter\n"
            for event in Event.allCases where event.series.name == family {
                let labels = event.series.labels
                out += labels.isEmpty ? "\(family) " : "\(family){\(labels)} "
                out += "\(counters.total(Self.eventBase + event.rawValue))\n"
            }
        }
        out += "# HELP jwt_authd_worker_crashes_total Workers that died without being asked to.\n"
        out += "# TYPE jwt_authd_worker_crashes_total counter\n"
        out += "jwt_authd_worker_crashes_total \(counters.global(Self.workerCrashes))\n"
        out += "# TYPE jwt_authd_worker_replacements_total counter\n"
        out += "jwt_authd_worker_replacements_total \(counters.global(Self.workerReplacements))\n"
        out += "# TYPE jwt_authd_workers gauge\njwt_authd_workers \(counters.slots)\n"
        return Array(out.utf8)
    }
}

extension ServiceMetrics.Event {
    /// How a refused login is counted: every domain outcome is named, so a new one must be decided here.
    static func loginRefused(_ code: AuthError.Code) -> Self {
        switch code {
        case .throttled: .loginThrottled
        case .busy: .loginBusy
        case .invalidCredentials, .invalidInput, .weakPassword, .emailTaken, .notFound, .reauthenticationRequired, .invalidToken,
            .tokenExpired,
            .tokenReused, .sessionExpired, .sessionRevoked, .databaseUnavailable, .databaseFailure, .internalFailure,
            .resetTokenInvalid, .emailTokenInvalid, .emailUnverified, .invalidCode, .mfaUnavailable, .mfaRequired, .passkeyInvalid,
            .passkeysUnavailable:
            .loginFailed
        }
    }

    /// How a refused rotation is counted.
    static func refreshRefused(_ code: AuthError.Code) -> Self {
        switch code {
        case .tokenReused: .refreshReuse
        case .invalidToken, .tokenExpired, .sessionExpired, .sessionRevoked, .invalidCredentials, .throttled, .emailTaken,
            .reauthenticationRequired, .busy,
            .invalidInput, .weakPassword, .notFound, .databaseUnavailable, .databaseFailure, .internalFailure,
            .resetTokenInvalid, .emailTokenInvalid, .emailUnverified, .invalidCode, .mfaUnavailable, .mfaRequired, .passkeyInvalid,
            .passkeysUnavailable:
            .refreshFailed
        }
    }
}
