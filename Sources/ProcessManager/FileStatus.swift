import Glibc

/// What the file system says about a path, for checks before a file is used (key files, configuration files).
public struct FileStatus: Sendable, Equatable {
    /// The permission bits (`0o640`).
    public let permissions: UInt32
    public let isDirectory: Bool
    public let owner: UInt32

    /// The status of `path` (following symlinks), or `nil` when it cannot be read (missing, no permission on a
    /// directory on the way).
    public init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        permissions = info.st_mode & 0o7777
        isDirectory = (info.st_mode & S_IFMT) == S_IFDIR
        owner = info.st_uid
    }

    /// Why `path` cannot be read, in the system's words ("No such file or directory", "Is a directory",
    /// "Permission denied"), or `nil` when it looks readable.
    public static func unreadableReason(_ path: String) -> String? {
        guard let status = FileStatus(path: path) else { return String(cString: strerror(errno)) }
        if status.isDirectory { return String(cString: strerror(EISDIR)) }
        if access(path, R_OK) != 0 { return String(cString: strerror(errno)) }
        return nil
    }
}
