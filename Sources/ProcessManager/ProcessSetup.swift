import Glibc

/// Dropping root after the socket is bound, and log files that SIGUSR1 reopens.
public enum ProcessSetup {
    /// This machine's name (`gethostname`), or `host` when it cannot be read.
    public static func hostName() -> String {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return "host" }
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Switches to `user` (and `group`, else the user's primary group) with their supplementary groups, and makes
    /// a unix socket file theirs so the mode applies as configured. Only when running as root.
    ///
    /// - Throws: ``ProcessSetupError`` naming what failed (an unknown user or group, a refused call).
    public static func dropPrivileges(user: String, group: String?, socketPath: String?, logFile: String?) throws {
        guard getuid() == 0 else { throw ProcessSetupError("--user needs the process to start as root") }
        guard let account = getpwnam(user) else { throw ProcessSetupError("unknown user '\(user)'") }
        let uid = account.pointee.pw_uid
        var gid = account.pointee.pw_gid
        if let group {
            guard let entry = getgrnam(group) else { throw ProcessSetupError("unknown group '\(group)'") }
            gid = entry.pointee.gr_gid
        }
        if let socketPath, lchown(socketPath, uid, gid) != 0 {
            throw ProcessSetupError("cannot hand the socket \(socketPath) to \(user): \(String(cString: strerror(errno)))")
        }
        // The log file was opened as root (on standard error): hand the open file to the user, never a path that
        // could have been replaced by a link since, so the workers and a SIGUSR1 reopen can write to it.
        if logFile != nil, fchown(STDERR_FILENO, uid, gid) != 0 {
            throw ProcessSetupError("cannot hand the log file to \(user): \(String(cString: strerror(errno)))")
        }
        guard initgroups(user, gid) == 0, setgid(gid) == 0, setuid(uid) == 0 else {
            throw ProcessSetupError("cannot switch to \(user): \(String(cString: strerror(errno)))")
        }
        guard setuid(0) != 0 else { throw ProcessSetupError("privileges were not dropped (setuid(0) still works)") }
    }

    /// The user id of a user name, or `nil` when there is no such user.
    public static func userID(_ name: String) -> UInt32? {
        getpwnam(name).map { $0.pointee.pw_uid }
    }

    /// Points standard error at `path` (append, mode 0640), so logs go there; called at start and on SIGUSR1.
    ///
    /// The file is opened without following a symbolic link (`O_NOFOLLOW`) and must be a regular file: started as
    /// root, a link planted at the log path would otherwise make the service append to, and hand its user, any file
    /// of the system.
    public static func redirectStandardError(to path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0o640)
        guard fd >= 0 else {
            let reason =
                switch errno {
                case ELOOP: "it is a symbolic link (refused: give the real path)"
                case ENXIO: "it is not a regular file"  // a FIFO without a reader
                default: String(cString: strerror(errno))
                }
            throw ProcessSetupError("cannot open the log file \(path): \(reason)")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw ProcessSetupError("cannot open the log file \(path): it is not a regular file")
        }
        _ = fcntl(fd, F_SETFL, O_WRONLY | O_APPEND)  // blocking writes again (O_NONBLOCK only kept a FIFO from hanging the open)
        dup2(fd, STDERR_FILENO)
        close(fd)
    }
}

/// Why a process set-up step failed, in words for the operator (never secret).
public struct ProcessSetupError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
