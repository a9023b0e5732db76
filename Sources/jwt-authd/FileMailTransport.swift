import AuthCore
import FoundationEssentials

/// `mail.transport = file`: each message is written as `<outbox id>.eml` in a folder (development: `scripts/run`
/// prints where). Written to a temporary name with mode 0600 (a message holds a live link), then renamed: a reader
/// never sees half a message, and a second delivery of one message (at least once) finds it already there.
struct FileMailTransport: MailTransport {
    let directory: String

    func send(_ message: [UInt8], id: String, to recipient: String) -> MailSendOutcome {
        let files = FileManager.default
        let final = "\(directory)/\(id).eml"
        if files.fileExists(atPath: final) { return .sent("already written: \(final)") }
        do {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            return .transient("cannot create \(directory): \(error)")
        }
        let temporary = "\(directory)/.\(id).eml.tmp"
        guard files.createFile(atPath: temporary, contents: Data(message), attributes: [.posixPermissions: 0o600]) else {
            return .transient("cannot write \(temporary)")
        }
        do {
            try files.moveItem(atPath: temporary, toPath: final)
        } catch {
            try? files.removeItem(atPath: temporary)
            return files.fileExists(atPath: final) ? .sent("already written: \(final)") : .transient("cannot rename to \(final): \(error)")
        }
        return .sent("written: \(final)")
    }
}
