/// A failure of a command that is not a usage error: printed as `Error: message`, without the usage text.
struct CommandError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
