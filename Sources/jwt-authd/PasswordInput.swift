import ProcessManager

/// Reads a password without echo from a terminal, or one line from standard input — never from argv.
enum PasswordInput {
    static func read(prompt: String, confirm: Bool) throws -> String {
        if Terminal.isInteractive {
            let first = try readHidden(prompt)
            if confirm, try readHidden("Again: ") != first { throw CommandError("the passwords differ") }
            return first
        }
        guard let line = Swift.readLine(strippingNewline: true), !line.isEmpty else {
            throw CommandError("no password on standard input")
        }
        return line
    }

    private static func readHidden(_ prompt: String) throws -> String {
        guard let line = Terminal.readHidden(prompt: prompt), !line.isEmpty else { throw CommandError("no password given") }
        return line
    }
}
