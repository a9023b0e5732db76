import CQRencode

/// QR codes by libqrencode, drawn as inline SVG markup (an authenticator app scans the TOTP enrolment URI from it).
public enum QRCode {
    /// The modules of `text` encoded in 8-bit mode at error correction level M (15%), smallest version that fits:
    /// `width` × `width`, row by row, `true` for dark. `nil` when libqrencode refuses (too long: at most about 2.3 KB).
    public static func modules(_ text: String) -> (width: Int, dark: [Bool])? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, !bytes.contains(0),
            let code = bytes.withUnsafeBufferPointer({ buffer in
                QRcode_encodeData(Int32(buffer.count), buffer.baseAddress, 0, QR_ECLEVEL_M)
            })
        else { return nil }
        defer { QRcode_free(code) }
        let width = Int(code.pointee.width)
        let dark = (0..<(width * width)).map { code.pointee.data[$0] & 1 == 1 }
        return (width, dark)
    }

    /// An `<svg>` element (no XML prolog, no script, no external reference) of `text`'s QR code with a 4-module quiet
    /// zone, `scale` pixels per module; one path of unit squares, `shape-rendering="crispEdges"`.
    public static func svg(_ text: String, scale: Int = 4) -> String? {
        guard let (width, dark) = modules(text) else { return nil }
        let margin = 4
        let size = width + 2 * margin
        var path = ""
        for row in 0..<width {
            var column = 0
            while column < width {
                guard dark[row * width + column] else {
                    column += 1
                    continue
                }
                var run = 1
                while column + run < width && dark[row * width + column + run] { run += 1 }
                path += "M\(column + margin) \(row + margin)h\(run)v1h-\(run)z"
                column += run
            }
        }
        return """
            <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(size) \(size)" width="\(size * scale)" height="\(size * scale)" \
            shape-rendering="crispEdges" role="img" aria-label="QR code"><rect width="\(size)" height="\(size)" fill="#fff"/>\
            <path fill="#000" d="\(path)"/></svg>
            """
    }
}
