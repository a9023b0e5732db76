import AuthCore
import Foundation
import Testing

/// The README's configuration table must list every key the loader knows, with its environment variable.
@Suite struct ReadmeTests {
    @Test func configurationTableListsEveryKey() throws {
        let readme = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        for key in ConfigKey.all {
            #expect(text.contains("| `\(key.name)` | `\(key.env)` |"), "README lacks a row for \(key.name)")
        }
    }
}
