import Glibc

/// Writes `text` to standard error whole (a short write is continued, an interrupted one retried); what cannot be
/// written is dropped, since there is nowhere else to report it.
///
/// The command-line tool uses this instead of Foundation's `FileHandle`, so that no process of jwt-authd loads
/// Foundation and its ICU data (bench/README.md, *Memory*, has what that costs each worker).
public func writeStandardError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = write(STDERR_FILENO, base + offset, bytes.count - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                return
            }
        }
    }
}
