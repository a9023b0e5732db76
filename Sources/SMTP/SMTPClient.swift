import CCurl

/// Where and how to reach a mail server: libcurl's SMTP client with its TLS (OpenSSL) and SASL.
public struct SMTPEndpoint: Sendable, Equatable {
    /// How the connection is protected.
    public enum Security: Sendable, Equatable {
        /// TLS from the first byte (`smtps://`, port 465).
        case implicitTLS
        /// STARTTLS required: a server that does not offer it, or whose certificate fails, gets no message.
        case startTLS
        /// No TLS at all (a loopback relay, or where explicitly allowed).
        case plain
    }

    /// `smtp://host:port[/ehlo-name]` or `smtps://…`, without credentials.
    public var url: String
    public var username: String?
    public var password: String?
    public var security: Security
    /// A PEM bundle of the CAs to trust instead of the system's.
    public var caFile: String?
    /// The whole exchange's limit, and the connection's.
    public var timeoutMilliseconds: Int
    public var connectTimeoutMilliseconds: Int

    public init(
        url: String, username: String? = nil, password: String? = nil, security: Security, caFile: String? = nil,
        timeoutMilliseconds: Int = 30_000, connectTimeoutMilliseconds: Int = 10_000
    ) {
        self.url = url
        self.username = username
        self.password = password
        self.security = security
        self.caFile = caFile
        self.timeoutMilliseconds = timeoutMilliseconds
        self.connectTimeoutMilliseconds = min(connectTimeoutMilliseconds, timeoutMilliseconds)
    }
}

/// What became of one message.
public struct SMTPResult: Sendable, Equatable {
    public enum Verdict: Sendable, Equatable {
        /// The server took the message (250 after the data).
        case accepted
        /// The server refused this message for good: a 5xx answer to its envelope or its data.
        case rejected
        /// Not now: a 4xx answer, no connection, TLS or authentication trouble, a timeout. Try again later.
        case deferred
    }

    public var verdict: Verdict
    /// The server's last reply line (`250 2.0.0 Ok: queued as …`), or libcurl's error when there was none to tell.
    public var answer: String
    /// The command that reply answered (`MAIL`, `RCPT`, `DATA`, `AUTH`, …; empty before any).
    public var lastCommand: String
}

/// Sends whole RFC 5322 messages over SMTP with libcurl. One client is used from one thread at a time.
public struct SMTPClient: Sendable {
    public let endpoint: SMTPEndpoint

    public init(endpoint: SMTPEndpoint) {
        self.endpoint = endpoint
    }

    /// Whether libcurl could be loaded and initialised (once per process, at the first use; `false` leaves every
    /// send deferred). Only a process that sends mail loads it (see the CCurl target).
    public static var isAvailable: Bool { CCurl_load() == 1 }

    /// Sends `message` (CRLF lines; libcurl stuffs leading dots) from the envelope sender `from` to `recipient`.
    public func send(_ message: [UInt8], from: String, to recipient: String) -> SMTPResult {
        guard Self.isAvailable, let handle = CCurl_easy_init() else {
            let why = CCurl_load_error().map { String(cString: $0) } ?? "curl_easy_init failed"
            return SMTPResult(verdict: .deferred, answer: "libcurl could not be initialised: \(why)", lastCommand: "")
        }
        defer { CCurl_easy_cleanup(handle) }
        let transfer = Transfer(message: message)
        let box = Unmanaged.passRetained(transfer)
        defer { box.release() }
        var recipients: UnsafeMutablePointer<curl_slist>?
        recipients = CCurl_slist_append(recipients, "<\(recipient)>")
        defer { CCurl_slist_free_all(recipients) }
        var errorBuffer = [CChar](repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        let code: CURLcode = errorBuffer.withUnsafeMutableBufferPointer { buffer in
            guard configure(handle, from: from, recipients: recipients, transfer: box.toOpaque(), errors: buffer.baseAddress) else {
                return CURLE_FAILED_INIT
            }
            return CCurl_easy_perform(handle)
        }
        var responseCode = 0
        _ = CCurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &responseCode)
        let curlMessage = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return Self.result(code: code, responseCode: responseCode, transfer: transfer, curlMessage: curlMessage)
    }

    /// The verdict of a finished transfer. A 5xx reply is final only when it answers the message itself: its
    /// recipient (RCPT) or its data. At the greeting, EHLO, STARTTLS, AUTH or MAIL FROM it is about the server or
    /// this sender's configuration (530 "authentication required", 553 "sender not owned"): the same for every
    /// message, and gone once the configuration is fixed, so the message waits for a later attempt.
    static func result(code: CURLcode, responseCode: Int, transfer: Transfer, curlMessage: String) -> SMTPResult {
        let reply = transfer.lastReply
        let command = transfer.lastCommand
        let responseCode = transfer.lastReplyCode ?? responseCode
        if code == CURLE_OK {
            return SMTPResult(verdict: .accepted, answer: reply.isEmpty ? "accepted" : reply, lastCommand: command)
        }
        let detail = curlMessage.isEmpty ? String(cString: CCurl_easy_strerror(code)) : curlMessage
        let answer = reply.isEmpty || responseCode < 400 ? detail : "\(reply) (\(detail))"
        let messageCommands: Set<String> = ["RCPT", "DATA"]
        if (500..<600).contains(responseCode) && messageCommands.contains(command) && code != CURLE_LOGIN_DENIED {
            return SMTPResult(verdict: .rejected, answer: answer, lastCommand: command)
        }
        return SMTPResult(verdict: .deferred, answer: answer, lastCommand: command)
    }

    private func configure(
        _ handle: UnsafeMutableRawPointer, from: String, recipients: UnsafeMutablePointer<curl_slist>?,
        transfer: UnsafeMutableRawPointer, errors: UnsafeMutablePointer<CChar>?
    ) -> Bool {
        var ok = true
        func set(_ result: CURLcode) { if result != CURLE_OK { ok = false } }
        set(CCurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errors))
        set(CCurl_setopt_string(handle, CURLOPT_URL, endpoint.url))
        set(CCurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, CCurl_smtp_protocols))
        set(CCurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(CCurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, endpoint.timeoutMilliseconds))
        set(CCurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, endpoint.connectTimeoutMilliseconds))
        let useSSL = endpoint.security == .plain ? CURLUSESSL_NONE : CURLUSESSL_ALL
        set(CCurl_setopt_long(handle, CURLOPT_USE_SSL, Int(useSSL.rawValue)))
        set(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
        set(CCurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        if let caFile = endpoint.caFile { set(CCurl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
        if let username = endpoint.username { set(CCurl_setopt_string(handle, CURLOPT_USERNAME, username)) }
        if let password = endpoint.password { set(CCurl_setopt_string(handle, CURLOPT_PASSWORD, password)) }
        set(CCurl_setopt_string(handle, CURLOPT_MAIL_FROM, "<\(from)>"))
        set(CCurl_setopt_list(handle, CURLOPT_MAIL_RCPT, recipients))
        set(CCurl_setopt_long(handle, CURLOPT_UPLOAD, 1))
        set(CCurl_setopt_read_function(handle, readMessage))
        set(CCurl_setopt_pointer(handle, CURLOPT_READDATA, transfer))
        // The debug callback sees the dialogue: it keeps the server's last reply and the verb of the last command
        // (never a command's arguments: AUTH carries the credentials). libcurl calls it only in verbose mode; the
        // callback prints nothing.
        set(CCurl_setopt_debug_function(handle, watchDialogue))
        set(CCurl_setopt_pointer(handle, CURLOPT_DEBUGDATA, transfer))
        set(CCurl_setopt_long(handle, CURLOPT_VERBOSE, 1))
        return ok
    }
}

/// One message on its way out, and what the dialogue showed.
final class Transfer {
    let message: [UInt8]
    var offset = 0
    var lastReply = ""
    var lastCommand = ""
    /// After QUIT (sent after a failure too) replies are not kept: "221 Bye" would hide the reason.
    var quitting = false

    init(message: [UInt8]) {
        self.message = message
    }

    /// Records one line the server sent (the last line of a multi-line reply wins) or the verb of one command sent.
    func observe(_ bytes: UnsafeBufferPointer<UInt8>, incoming: Bool) {
        if incoming {
            guard !quitting else { return }
            let lines = bytes.split(separator: 0x0A).map { $0.filter { $0 != 0x0D } }.filter { !$0.isEmpty }
            guard let last = lines.last else { return }
            let line = last.prefix(512)
            let printable = line.map { $0 >= 0x20 && $0 < 0x7F ? $0 : UInt8(ascii: "?") }
            lastReply = String(decoding: printable, as: UTF8.self)
        } else {
            let verb = bytes.prefix(12).prefix { ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) }
            let command = String(decoding: verb, as: UTF8.self).uppercased()
            if command == "QUIT" {
                quitting = true
            } else {
                lastCommand = command
            }
        }
    }

    /// The code of the last reply kept (`550`), if it starts with one.
    var lastReplyCode: Int? {
        let digits = lastReply.utf8.prefix(3)
        guard digits.count == 3, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        return Int(String(decoding: digits, as: UTF8.self))
    }
}

/// libcurl's read callback: the next part of the message.
private let readMessage: curl_read_callback = { buffer, size, count, userdata in
    guard let buffer, let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let room = size * count
    let left = transfer.message.count - transfer.offset
    let n = min(room, left)
    guard n > 0 else { return 0 }
    transfer.message.withUnsafeBufferPointer { source in
        UnsafeMutableRawPointer(buffer).copyMemory(from: source.baseAddress! + transfer.offset, byteCount: n)
    }
    transfer.offset += n
    return n
}

/// libcurl's debug callback: server replies (`CURLINFO_HEADER_IN`) and commands (`CURLINFO_HEADER_OUT`) only.
private let watchDialogue: curl_debug_callback = { _, type, data, size, userdata in
    guard let data, let userdata, type == CURLINFO_HEADER_IN || type == CURLINFO_HEADER_OUT else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    data.withMemoryRebound(to: UInt8.self, capacity: size) { bytes in
        transfer.observe(UnsafeBufferPointer(start: bytes, count: size), incoming: type == CURLINFO_HEADER_IN)
    }
    return 0
}
