import CMariaDB

/// What a connection needs to know of a Galera node: whether it can serve (ready and synced), by SHOW statements.
extension Connection {
    /// Why a server cannot serve, or `nil` when it can: a standalone server always can; a Galera node only when it is
    /// ready (in the primary component) and synced (`wsrep_local_state` 4), not while joining, donating or cut off.
    /// Two SHOW statements (which a node outside the primary component still answers), once per connection; also
    /// whether the server is a Galera node at all.
    static func nodeState(_ handle: UnsafeMutablePointer<MYSQL>) -> (problem: String?, isClusterNode: Bool) {
        guard let on = textQuery(handle, "SHOW GLOBAL VARIABLES LIKE 'wsrep_on'") else { return ("it does not answer SHOW", false) }
        guard on.first?.last == "ON" else { return (nil, false) }
        return (clusterProblem(handle), true)
    }

    /// What keeps a Galera node from serving, or `nil`.
    private static func clusterProblem(_ handle: UnsafeMutablePointer<MYSQL>) -> String? {
        guard let status = textQuery(handle, "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_local_state')") else {
            return "it does not answer SHOW STATUS"
        }
        let values = Dictionary(status.compactMap { row in row.count == 2 ? (row[0] ?? "", row[1] ?? "") : nil }) { first, _ in first }
        if values["wsrep_ready"] != "ON" { return "the Galera node is not ready (not in the primary component)" }
        if values["wsrep_local_state"] != "4" { return "the Galera node is not synced (wsrep_local_state \(values["wsrep_local_state"] ?? "?"))" }
        return nil
    }

    /// The rows of a text-protocol statement (for SHOW, which is not prepared), or `nil` on an error.
    static func textQuery(_ handle: UnsafeMutablePointer<MYSQL>, _ sql: String) -> [[String?]]? {
        guard sql.withCString({ mysql_query(handle, $0) }) == 0, let result = mysql_store_result(handle) else { return nil }
        defer { mysql_free_result(result) }
        let fields = Int(mysql_num_fields(result))
        var rows: [[String?]] = []
        while let row = mysql_fetch_row(result) {
            rows.append((0..<fields).map { index in row[index].map { String(cString: $0) } })
        }
        return rows
    }

    /// Makes `handle` (connected to `endpoint`, checked) this connection's server, closing the one before.
    func adopt(_ handle: UnsafeMutablePointer<MYSQL>, at endpoint: DatabaseURL.Endpoint, clusterNode: Bool) {
        close()
        self.handle = handle
        self.endpoint = endpoint
        isClusterNode = clusterNode
        lastFailback = .now
    }

    /// A server opened and asked whether it can serve (``nodeState(_:)``).
    enum Opened {
        case serving(UnsafeMutablePointer<MYSQL>, clusterNode: Bool)
        /// Connected, but the node cannot serve (the connection is closed again).
        case cannotServe(String)
    }

    /// Opens `endpoint` and checks that it can serve; a node that cannot is closed again.
    func openServing(_ endpoint: DatabaseURL.Endpoint, connectTimeout: UInt32? = nil) throws(MariaDBError) -> Opened {
        let handle = try open(endpoint, connectTimeout: connectTimeout)
        let state = Self.nodeState(handle)
        guard let problem = state.problem else { return .serving(handle, clusterNode: state.isClusterNode) }
        mysql_close(handle)
        return .cannotServe(problem)
    }

    /// Failback: a connection on a server listed after others (it moved there when its preferred node failed) tries
    /// the ones before it again every `failback` seconds of the URL, between statements outside a transaction (and
    /// outside ``withCausalReads(_:)``), and moves to the first that connects and can serve (a restarted node that
    /// has rejoined and synced). Each try waits at most 1 s to connect: a host that is down costs its thread that
    /// long once per interval.
    func failBackIfDue() {
        guard url.failbackSeconds > 0, !readsCausally, let current = endpoint, let index = url.endpoints.firstIndex(of: current),
            index > 0, ContinuousClock.now - lastFailback >= .seconds(Int(url.failbackSeconds))
        else { return }
        lastFailback = .now
        for preferred in url.endpoints[..<index] {
            guard case .serving(let handle, let clusterNode)? = try? openServing(preferred, connectTimeout: 1) else { continue }
            adopt(handle, at: preferred, clusterNode: clusterNode)
            return
        }
    }
}
