import MariaDB

/// Migration 3's row work: every stored email rewritten to its one spelling (``EmailAddress/normalize(_:)``), with a
/// report of what could not be: two accounts whose addresses are now one, and addresses holding characters that are
/// now refused. Accounts whose addresses share a login-throttle skeleton are listed too (harmless: they share a
/// limit). Re-runnable: a row already in its spelling is left alone.
enum EmailCanonicalisation {
    @Sendable static func run(_ connection: Connection) throws -> [String] {
        var report: [String] = []
        var skeletons: [String: [(id: String, email: String)]] = [:]
        var after = ""
        while true {
            let rows = try connection.query(
                "SELECT id, email FROM users WHERE id > ? ORDER BY id LIMIT 1000", [.string(after)])
            guard let last = rows.last else { break }
            after = try last.string("id")
            for row in rows {
                let id = try row.string("id")
                var email = try row.string("email")
                let canonical = EmailAddress.normalize(email)
                var collides = false
                if canonical != email {
                    if let holder = try holder(of: canonical, connection) {
                        collides = true
                        report.append(
                            "account \(id) <\(email)> is now the same address as account \(holder) <\(canonical)>: it keeps its "
                                + "old spelling and cannot log in until one of the two changes address")
                    } else {
                        try connection.execute(
                            "UPDATE users SET email = ?, updated_at = UTC_TIMESTAMP(6) WHERE id = ? AND email = ?",
                            [.string(canonical), .string(id), .string(email)])
                        email = canonical
                    }
                }
                if !EmailAddress.isPlausible(email) {
                    report.append(
                        "account \(id) <\(email)> holds characters an address may no longer have (invisible, control or "
                            + "unassigned): it cannot log in until its address changes")
                }
                if !collides && !email.utf8.allSatisfy({ $0 < 0x80 }) {  // an ASCII address is its own skeleton
                    skeletons[EmailAddress.skeleton(email), default: []].append((id, email))
                }
            }
        }
        for (skeleton, accounts) in skeletons.sorted(by: { $0.key < $1.key }) {
            var sharing = accounts
            if let plain = try holder(of: skeleton, connection), !sharing.contains(where: { $0.id == plain }) {
                sharing.append((plain, skeleton))
            }
            guard sharing.count > 1 else { continue }
            report.append(
                "accounts " + sharing.map { "\($0.id) <\($0.email)>" }.joined(separator: ", ")
                    + " share one login limit (their addresses differ only by accents, case or compatibility forms)")
        }
        return report
    }

    private static func holder(of email: String, _ connection: Connection) throws -> String? {
        try connection.query("SELECT id FROM users WHERE email = ?", [.string(email)]).first?.string("id")
    }
}
