import AuthHTTP
import FastCGI
import Foundation
import FuzzDriver
import Logging

/// The fuzz target for the FastCGI layer: any bytes, as one connection's input, through libfcgi's record and
/// parameter parsing and the server's request path (`CONTENT_LENGTH`, the body limit), to a handler that reads
/// every parameter, cookie and the body as the service's handlers do. Nothing may trap or hang; every answer the
/// server writes must be well-formed FastCGI records.
///
/// Built like `jose-fuzz` (see `scripts/fuzz`): with `-DFUZZING`, libFuzzer's entry point; otherwise a replayer of
/// the files given as arguments.
enum FuzzCheck {
    /// Reads what the service's handlers read.
    final class Reader: RequestHandler {
        func handle(_ request: Request) -> Response {
            var seen = 0
            for field in Request.Field.allCases { seen &+= request.field(field)?.utf8.count ?? 0 }
            for (name, value) in request.allParams { seen &+= name.utf8.count &+ value.utf8.count }
            seen &+= request.cookie("access_token")?.utf8.count ?? 0
            seen &+= request.cookieCounts(["access_token", "refresh_token"]).reduce(0, &+)
            seen &+= request.mediaType?.utf8.count ?? 0
            seen &+= request.body.count
            return Response(status: 200, headers: [("X-Seen", String(seen))], body: Array("ok".utf8))
        }
    }

    static let configuration: ServerConfiguration = {
        var configuration = ServerConfiguration(threads: 1, maxBodyBytes: 4096, payloadTooLarge: Response(status: 413))
        configuration.invalidContentLength = Response(status: 400)
        return configuration
    }()
    static let logger = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
    nonisolated(unsafe) static let reader = Reader()  // one fuzzing thread

    /// Checks one input; returns the number of bytes the server wrote.
    @discardableResult
    static func run(_ bytes: [UInt8]) -> Int {
        let output = Server.answer(connectionBytes: bytes, configuration: configuration, handler: reader, logger: logger)
        // The server writes whole records: version 1, a type it may send (END_REQUEST, STDOUT, STDERR,
        // GET_VALUES_RESULT, UNKNOWN_TYPE), content and padding as announced.
        var offset = 0
        while offset < output.count {
            guard output.count - offset >= 8, output[offset] == 1, [3, 6, 7, 10, 11].contains(output[offset + 1]) else {
                fatalError("malformed FastCGI record at \(offset) of \(output.count) bytes written")
            }
            let length = Int(output[offset + 4]) << 8 | Int(output[offset + 5])
            offset += 8 + length + Int(output[offset + 6])
        }
        if offset != output.count { fatalError("a record runs past the \(output.count) bytes written") }
        return output.count
    }
}

#if FUZZING
@_cdecl("fastcgi_fuzz_main")
func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    FuzzDriver.run(argc, argv) { FuzzCheck.run($0) }
}
#else
@main
enum Replay {
    static func main() throws { try FuzzDriver.replay { FuzzCheck.run($0) } }
}
#endif
