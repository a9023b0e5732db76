public import FoundationEssentials
public import MariaDB

/// A lease: a row of `leases` that says which process does a job (a migration, the periodic cleanup) until when. It
/// replaces MariaDB's named locks (`GET_LOCK`), which are per server: on a multi-writer Galera cluster two hosts on
/// two nodes would both get one (and some releases refuse `GET_LOCK` under Galera). A lease is an ordinary row, taken
/// and given back by single statements that certify like any write, so it works the same on one server and on a
/// cluster. A holder that dies keeps it until it expires; holders renew long jobs.
public struct Lease: Sendable {
    /// The job (`migrate`, `cleanup`).
    public let name: String
    /// Who holds it: host, process and a random part, so two runs on one host differ.
    public let owner: String
    /// How long a take or renewal holds.
    public let duration: TimeInterval

    public init(name: String, duration: TimeInterval, owner: String = Lease.newOwner()) {
        self.name = name
        self.owner = owner
        self.duration = duration
    }

    /// `host:pid:random`.
    public static func newOwner() -> String {
        let process = ProcessInfo.processInfo
        return "\(process.hostName.prefix(60)):\(process.processIdentifier):\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The table, created when missing (before any migration: the migration lease guards the migrations).
    static let createSQL = """
        CREATE TABLE IF NOT EXISTS leases (
            name VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
            owner VARCHAR(100) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
            expires_at DATETIME(6) NOT NULL
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
        """

    /// Takes the lease if it is free, expired or already this owner's (then renews it). Returns whether this owner
    /// holds it now. One statement (insert, or update of the existing row), then a read of the row: safe to run again
    /// after a conflict, since it only ever sets this owner where the row was free. The read is causal on a Galera
    /// node: two owners taking the lease through two nodes can both commit, and the owner the cluster keeps is the
    /// one whose name the row holds once this node has applied what was ordered before the read.
    ///
    /// - Throws: ``MariaDBError`` (a certification conflict when another node took it at the same moment: try again).
    public func take(on connection: Connection, now: Date) throws(MariaDBError) -> Bool {
        // The owner is assigned first: MariaDB evaluates the assignments in order and the second sees the first's
        // result, so `expires_at` moves only when the row is (now) this owner's.
        try connection.execute(
            """
            INSERT INTO leases (name, owner, expires_at) VALUES (?, ?, ?)
            ON DUPLICATE KEY UPDATE
                owner = IF(expires_at < ? OR owner = VALUES(owner), VALUES(owner), owner),
                expires_at = IF(owner = VALUES(owner), VALUES(expires_at), expires_at)
            """, [.string(name), .string(owner), .date(now.addingTimeInterval(duration)), .date(now)])
        return try connection.withCausalReads { () throws(MariaDBError) in
            try connection.query("SELECT owner FROM leases WHERE name = ?", [.string(name)]).first?.string("owner") == owner
        }
    }

    /// Gives the lease back (only if this owner still holds it).
    public func release(on connection: Connection) throws(MariaDBError) {
        try connection.execute("DELETE FROM leases WHERE name = ? AND owner = ?", [.string(name), .string(owner)])
    }
}
