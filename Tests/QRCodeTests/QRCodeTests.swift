import Foundation
import Testing

@testable import QRCode

/// The SVG is checked by reading it back with independent tools from Debian: rsvg-convert draws it, zbarimg (ZBar)
/// decodes the drawing.
@Suite struct QRCodeTests {
    static func decode(_ svg: String) throws -> String? {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("qr-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let svgFile = folder.appendingPathComponent("code.svg")
        let pngFile = folder.appendingPathComponent("code.png")
        try svg.write(to: svgFile, atomically: true, encoding: .utf8)
        let draw = Process()
        draw.executableURL = URL(fileURLWithPath: "/usr/bin/rsvg-convert")
        draw.arguments = ["--zoom", "2", "-o", pngFile.path, svgFile.path]
        try draw.run()
        draw.waitUntilExit()
        guard draw.terminationStatus == 0 else { return nil }
        let read = Process()
        read.executableURL = URL(fileURLWithPath: "/usr/bin/zbarimg")
        read.arguments = ["--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", pngFile.path]
        let output = Pipe()
        read.standardOutput = output
        try read.run()
        read.waitUntilExit()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return read.terminationStatus == 0 ? String(text.dropLast(text.hasSuffix("\n") ? 1 : 0)) : nil
    }

    static var toolsPresent: Bool {
        let present = ["/usr/bin/rsvg-convert", "/usr/bin/zbarimg"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
        if !present && ProcessInfo.processInfo.environment["CI"] == "true" {
            Issue.record("rsvg-convert and zbarimg are missing (apt-get install librsvg2-bin zbar-tools)")
        }
        return present
    }

    @Test func anEnrolmentURIReadsBack() throws {
        guard Self.toolsPresent else { return }
        for text in [
            "otpauth://totp/Example%20Site:ann%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Example%20Site&algorithm=SHA1&digits=6&period=30",
            "x", String(repeating: "long text ", count: 60),
        ] {
            let svg = try #require(QRCode.svg(text))
            #expect(try Self.decode(svg) == text)
        }
    }

    @Test func theMarkupIsPlainSVG() throws {
        let svg = try #require(QRCode.svg("otpauth://totp/a:b?secret=AAAA"))
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.hasSuffix("</svg>"))
        #expect(!svg.contains("<script") && !svg.contains("href") && !svg.contains("data:"))
        let (width, dark) = try #require(QRCode.modules("otpauth://totp/a:b?secret=AAAA"))
        #expect(width >= 21 && (width - 17) % 4 == 0 && dark.count == width * width)
        // The three finder patterns: dark 7x7 corners.
        for (row, column) in [(0, 0), (0, width - 7), (width - 7, 0)] {
            #expect(dark[row * width + column] && dark[(row + 6) * width + column + 6])
        }
        #expect(svg.contains("viewBox=\"0 0 \(width + 8) \(width + 8)\""))
    }

    @Test func whatCannotBeEncodedIsNil() {
        #expect(QRCode.svg("") == nil)
        #expect(QRCode.svg(String(repeating: "x", count: 5000)) == nil)
        #expect(QRCode.svg("a\u{0}b") == nil)
    }
}
