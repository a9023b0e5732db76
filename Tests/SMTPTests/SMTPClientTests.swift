import CCurl
import Glibc
import Testing

@testable import SMTP

@Suite struct SMTPClientTests {
    private func transfer(reply: String, command: String) -> Transfer {
        let transfer = Transfer(message: [])
        Array(command.utf8).withUnsafeBufferPointer { transfer.observe($0, incoming: false) }
        Array(reply.utf8).withUnsafeBufferPointer { transfer.observe($0, incoming: true) }
        return transfer
    }

    @Test func aFiveHundredToTheMessageIsFinal() {
        for command in ["RCPT TO:<x@y>\r\n", "DATA\r\n"] {
            let result = SMTPClient.result(
                code: CURLE_SEND_ERROR, responseCode: 550, transfer: transfer(reply: "550 5.1.1 no such user\r\n", command: command),
                curlMessage: "RCPT failed: 550")
            #expect(result.verdict == .rejected, "\(command)")
            #expect(result.answer.hasPrefix("550 5.1.1 no such user"))
        }
    }

    @Test func aFiveHundredBeforeTheEnvelopeIsTheServersTroubleNotTheMessages() {
        let greeting = SMTPClient.result(
            code: CURLE_WEIRD_SERVER_REPLY, responseCode: 554, transfer: transfer(reply: "554 go away\r\n", command: ""),
            curlMessage: "")
        #expect(greeting.verdict == .deferred)
        let sender = SMTPClient.result(
            code: CURLE_SEND_ERROR, responseCode: 530,
            transfer: transfer(reply: "530 Must issue a STARTTLS command first\r\n", command: "MAIL FROM:<a@b>\r\n"),
            curlMessage: "MAIL failed: 530")
        #expect(sender.verdict == .deferred, "a refused sender is this service's configuration, the same for every message")
        let auth = SMTPClient.result(
            code: CURLE_LOGIN_DENIED, responseCode: 535,
            transfer: transfer(reply: "535 5.7.8 bad credentials\r\n", command: "AUTH PLAIN c2VjcmV0\r\n"),
            curlMessage: "Login denied")
        #expect(auth.verdict == .deferred)
        #expect(auth.lastCommand == "AUTH")
        #expect(!auth.answer.contains("c2VjcmV0"), "a command's arguments are never kept")
    }

    @Test func fourHundredsAndConnectionTroubleAreDeferred() {
        let busy = SMTPClient.result(
            code: CURLE_SEND_ERROR, responseCode: 451, transfer: transfer(reply: "451 4.3.0 try later\r\n", command: "RCPT TO:<x@y>\r\n"),
            curlMessage: "")
        #expect(busy.verdict == .deferred)
        let tls = SMTPClient.result(
            code: CURLE_USE_SSL_FAILED, responseCode: 250, transfer: transfer(reply: "250 HELP\r\n", command: "EHLO x\r\n"),
            curlMessage: "STARTTLS not supported.")
        #expect(tls.verdict == .deferred)
        #expect(tls.answer == "STARTTLS not supported.", "a 2xx reply is not shown as the reason of a failure")
    }

    @Test func theQuitAfterAFailureDoesNotHideItsReason() {
        let transfer = transfer(reply: "550 5.1.1 no such user\r\n", command: "RCPT TO:<x@y>\r\n")
        Array("QUIT\r\n".utf8).withUnsafeBufferPointer { transfer.observe($0, incoming: false) }
        Array("221 Bye\r\n".utf8).withUnsafeBufferPointer { transfer.observe($0, incoming: true) }
        let result = SMTPClient.result(code: CURLE_SEND_ERROR, responseCode: 221, transfer: transfer, curlMessage: "RCPT failed: 550")
        #expect(result.verdict == .rejected)
        #expect(result.answer == "550 5.1.1 no such user (RCPT failed: 550)")
    }

    @Test func theLastLineOfAMultiLineReplyIsKept() {
        let transfer = Transfer(message: [])
        Array("250-first\r\n250-second\r\n250 OK queued\r\n".utf8).withUnsafeBufferPointer { transfer.observe($0, incoming: true) }
        #expect(transfer.lastReply == "250 OK queued")
        Array("250 caf\u{E9}\u{1B}[31m\r\n".utf8).withUnsafeBufferPointer { transfer.observe($0, incoming: true) }
        #expect(transfer.lastReply.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7F }, "control and non-ASCII bytes never reach a log")
    }

    @Test func aServerThatIsNotThereDefersTheMessage() {
        // A loopback port nobody listens on: bind one, note it, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                _ = bind(fd, $0, length)
                _ = getsockname(fd, $0, &length)
            }
        }
        close(fd)
        let port = UInt16(bigEndian: address.sin_port)
        let client = SMTPClient(endpoint: SMTPEndpoint(url: "smtp://127.0.0.1:\(port)", security: .plain, timeoutMilliseconds: 5000))
        let result = client.send(Array("Subject: x\r\n\r\nbody\r\n".utf8), from: "a@example.com", to: "b@example.com")
        #expect(result.verdict == .deferred)
        #expect(result.answer.lowercased().contains("connect"), "\(result.answer)")
    }
}
