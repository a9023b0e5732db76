import CFastCGI
import Glibc
import Logging

/// One request of a connection: its body read within the limit, the handler's response written back.
extension Server {

    /// What became of a request.
    enum Answered {
        /// Answered on its connection; `inputRead`: its input was read to its end (its body and the stream's end).
        case answered(inputRead: Bool)
        /// Handed to ``HeldAnswers`` with its connection: finished, and the connection no longer this thread's.
        case handedOver
    }

    /// Answers one request.
    func respond(to request: UnsafeMutablePointer<FCGX_Request>, with handler: any RequestHandler) -> Answered {
        guard let envp = request.pointee.envp else { return .answered(inputRead: false) }
        let response: Response
        var inputRead = false
        switch readBody(of: request, declaredLength: FCGX_GetParam("CONTENT_LENGTH", envp).map { String(cString: $0) }) {
        case .complete(let body):
            inputRead = true
            let wrapped = Request(source: .environment(envp), body: body)
            response = handler.handle(wrapped)
            wrapped.invalidate()
        case .tooLarge:
            response = configuration.payloadTooLarge
        case .invalidLength:
            response = configuration.invalidContentLength
        case .broken:
            // The input failed part-way (the peer hung up, or the read guard refused what came): nothing is
            // answered and the connection closes, since a cut-off body must not be taken for a whole one.
            request.pointee.keepConnection = 0
            logger.notice("a FastCGI request's input failed part-way; closed unanswered", metadata: ["event": "fastcgi_input_failed"])
            return .answered(inputRead: false)
        }
        let bytes = response.serialized()
        if response.holdMilliseconds > 0, request.pointee.ipcFd >= 0,
            heldAnswers.hold(
                connection: request.pointee.ipcFd,
                records: HeldAnswers.records(requestID: UInt16(truncatingIfNeeded: request.pointee.requestId), response: bytes),
                milliseconds: response.holdMilliseconds)
        {
            request.pointee.ipcFd = -1
            FCGX_Free(request, 0)
            return .handedOver
        }
        let written = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { chars in
                FCGX_PutStr(chars.baseAddress, Int32(chars.count), request.pointee.out)
            }
        }
        if written < 0 {
            // The web server went away (EPIPE, reset). Nothing to tell; close the connection.
            request.pointee.keepConnection = 0
            logger.debug("client went away before the response was written")
        }
        return .answered(inputRead: inputRead)
    }

    private enum BodyResult {
        case complete([UInt8])
        case tooLarge
        case invalidLength
        /// The input stream failed before the body ended.
        case broken
    }

    /// What a `CONTENT_LENGTH` parameter says: absent (or empty, as nginx sends it without a body), a length, or
    /// not a length at all. Only ASCII digits are a length; a value too large for an `Int` counts as too large.
    enum DeclaredLength: Equatable {
        case absent
        case bytes(Int)
        case tooLarge
        case invalid

        init(_ text: String?) {
            guard let text, !text.isEmpty else {
                self = .absent
                return
            }
            guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                self = .invalid
                return
            }
            self = Int(text).map { .bytes($0) } ?? .tooLarge
        }
    }

    /// Reads the request body up to the limit. An over-limit body is not read: the request gets 413 and its
    /// connection is closed.
    private func readBody(of request: UnsafeMutablePointer<FCGX_Request>, declaredLength text: String?) -> BodyResult {
        let limit = configuration.maxBodyBytes
        var declaredLength: Int?
        switch DeclaredLength(text) {
        case .absent:
            declaredLength = nil
        case .bytes(let count):
            declaredLength = count
        case .tooLarge:
            declaredLength = Int.max
        case .invalid:
            request.pointee.keepConnection = 0
            return .invalidLength
        }
        if let declaredLength, declaredLength > limit {
            // Answer without reading: the connection is closed after the response, so the unread body cannot
            // desynchronise it (libfcgi would take leftover STDIN records for a protocol error).
            request.pointee.keepConnection = 0
            return .tooLarge
        }
        if let declaredLength {
            var body = [UInt8](repeating: 0, count: declaredLength)
            let filled = declaredLength == 0 ? 0 : body.withUnsafeMutableBufferPointer { read(into: $0, from: request) }
            if FCGX_GetError(request.pointee.in) != 0 { return .broken }
            body.removeSubrange(filled...)
            // The stream's end (its empty FCGI_STDIN record) is read too, also when it comes after the body: left
            // unread on a kept connection, it would be taken for the start of the next request, which then fails.
            // More bytes than declared: the stream cannot be trusted; the connection closes after the answer.
            guard filled == declaredLength, atEndOfInput(request) else {
                if FCGX_GetError(request.pointee.in) != 0 { return .broken }
                request.pointee.keepConnection = 0
                return .invalidLength
            }
            return .complete(body)
        }
        // No length given (nginx sends an empty CONTENT_LENGTH on GET): read in chunks, one past the limit at most,
        // to tell "exactly the limit" from "over".
        // A GET's stream ends at once: a first read into a small stack buffer (not zeroed; up to 1 KiB stays on the
        // stack, larger temporary allocations may go to the heap) costs no allocation. Anything more is read into
        // a heap chunk.
        var body: [UInt8] = []
        let first = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { probe in
            let got = read(into: probe, from: request, once: true)
            body.append(contentsOf: UnsafeBufferPointer(rebasing: probe[..<got]))
            return got
        }
        if first > 0 {
            var chunk = [UInt8](repeating: 0, count: 16 * 1024)
            while body.count <= limit {
                let got = chunk.withUnsafeMutableBufferPointer { read(into: $0, from: request, once: true) }
                if got == 0 { break }
                body.append(contentsOf: chunk[..<got])
            }
        }
        if FCGX_GetError(request.pointee.in) != 0 { return .broken }
        if body.count > limit {
            request.pointee.keepConnection = 0
            return .tooLarge
        }
        return .complete(body)
    }

    /// Whether the input stream ends here (reading its end-of-stream record, waiting for it if it is still on its way).
    private func atEndOfInput(_ request: UnsafeMutablePointer<FCGX_Request>) -> Bool {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { probe in read(into: probe, from: request, once: true) == 0 }
    }

    /// Reads stdin into `buffer` until it is full or the stream ends (or once, for chunked reading).
    private func read(
        into buffer: UnsafeMutableBufferPointer<UInt8>, from request: UnsafeMutablePointer<FCGX_Request>,
        once: Bool = false
    ) -> Int {
        guard let base = buffer.baseAddress else { return 0 }
        var filled = 0
        while filled < buffer.count {
            let want = Int32(min(buffer.count - filled, 1 << 20))
            let got = (base + filled).withMemoryRebound(to: CChar.self, capacity: Int(want)) {
                FCGX_GetStr($0, want, request.pointee.in)
            }
            if got <= 0 { break }
            filled += Int(got)
            if once { break }
        }
        return filled
    }

    /// Closes a connection after its response. TCP answers a close that leaves unread data behind with a reset,
    /// which can destroy a response the peer has not read yet; so unless the request's input was read to its end
    /// and nothing more is waiting (`inputRead`, then a look), our side's end is closed first (nginx reads the
    /// whole response, then end of file) and, for up to 2 s, whatever the peer still sends is read and dropped
    /// until it closes too (libfcgi does the same with select(); this uses poll()). A request read whole with
    /// nothing after it, which is every request nginx sends (an `auth_request` check closes this way each time),
    /// gets a plain close, which ends the connection in order, and the thread does not wait for nginx to hang up.
    /// (An answer sent before the body was read, 413 or 400, always lingers: the body may still be on its way.)
    func closeAfterResponse(_ request: UnsafeMutablePointer<FCGX_Request>, inputRead: Bool) {
        let connection = request.pointee.ipcFd
        guard connection >= 0 else { return }
        request.pointee.ipcFd = -1
        FCGX_Free(request, 0)
        var byte: UInt8 = 0
        if inputRead, recv(connection, &byte, 1, Int32(MSG_PEEK | MSG_DONTWAIT)) < 0, errno == EAGAIN || errno == EWOULDBLOCK {
            close(connection)
            return
        }
        if shutdown(connection, Int32(SHUT_WR)) == 0 {
            let deadline = Self.monotonicMilliseconds() + 2000
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 512) { trash in
                while Self.waitReadable(connection, until: deadline),
                    Glibc.read(connection, trash.baseAddress, trash.count) > 0
                {}
            }
        }
        close(connection)
    }
}
