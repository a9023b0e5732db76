import Glibc

/// Files that hold secrets (key files): created by one process alone, readable by their owner alone.
public enum SecretFile {
    /// Creates `path` with mode 0600, failing if it exists (O_EXCL: no overwrite; O_NOFOLLOW: no symlink followed),
    /// writes `contents` and syncs it to disk. The copy of the contents in memory is zeroed afterwards.
    ///
    /// - Throws: ``ProcessSetupError`` naming the path and the system's reason.
    public static func createExclusively(at path: String, contents: String) throws(ProcessSetupError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw ProcessSetupError(
                "cannot create \(path): \(reason)\(errno == EEXIST ? " (refusing to overwrite an existing key)" : "")")
        }
        defer { close(fd) }
        var bytes = Array(contents.utf8)
        defer { for index in bytes.indices { bytes[index] = 0 } }
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            unlink(path)
            throw ProcessSetupError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}
