import Glibc

/// The controlling terminal of an admin command.
public enum Terminal {
    /// Whether standard input is a terminal.
    public static var isInteractive: Bool { isatty(STDIN_FILENO) == 1 }

    /// Reads one line from standard input with echo off (a password), after writing `prompt` to standard error.
    /// Returns `nil` at the end of input.
    public static func readHidden(prompt: String) -> String? {
        writeStandardError(prompt)
        var saved = termios()
        tcgetattr(STDIN_FILENO, &saved)
        var quiet = saved
        quiet.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        defer {
            tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved)
            writeStandardError("\n")
        }
        return Swift.readLine(strippingNewline: true)
    }
}
