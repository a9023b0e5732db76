import AuthCore
import Foundation
import Testing

/// The README's configuration table is the declaration's (``ConfigKey/markdownTable``, printed by `jwt-authd config
/// reference`): every key, its environment variable, default and meaning, in order.
@Suite struct ReadmeTests {
    @Test func configurationTableIsTheDeclarations() throws {
        let readme = URL(filePath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appending(path: "README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        #expect(
            text.contains(ConfigKey.markdownTable + "\n"),
            "README.md's configuration table differs from the declarations: paste `jwt-authd config reference`")
        for key in ConfigKey.all {
            #expect(text.contains("| `\(key.name)` | `\(key.env)` |"), "README lacks a row for \(key.name)")
        }
    }
}
