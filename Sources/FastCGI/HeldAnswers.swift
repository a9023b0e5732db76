import CFastCGI
import Glibc
import ProcessManager
import Synchronization

/// Answers that are sent later without holding a request thread: a refusal that tells the client to come back later
/// (`Retry-After`) is held until then (``Response/holdMilliseconds``), so a flood of such requests is paced by its
/// own connections instead of by this process's CPU.
///
/// The request thread writes nothing: it hands the connection and the complete FastCGI records of the answer here and
/// goes back to accepting. One thread per process sends each answer when it is due and closes the connection. At
/// most `capacity` answers are held (each holds a descriptor); beyond that, answers go out at once.
final class HeldAnswers: Sendable {
    private struct Held {
        let connection: Int32
        let records: [UInt8]
        let due: Int
    }

    private let capacity: Int
    private let pending = Mutex<[Held]>([])

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Starts the sending thread.
    func start() throws(SystemError) {
        _ = try OSThread(name: "fcgi-held") { [self] in sendWhenDue() }
    }

    /// Takes `connection` with the answer `records` to send in `milliseconds`; `false` when full (answer now).
    func hold(connection: Int32, records: [UInt8], milliseconds: Int) -> Bool {
        let due = Server.monotonicMilliseconds() + milliseconds
        return pending.withLock { held in
            guard held.count < capacity else { return false }
            // Every hold of a process is the same length in practice, so appending keeps the list in due order;
            // an earlier one is put in its place.
            let index = held.lastIndex(where: { $0.due <= due }).map { $0 + 1 } ?? 0
            held.insert(Held(connection: connection, records: records, due: due), at: index)
            return true
        }
    }

    /// Sends every held answer now (the server is stopping: its process is about to end).
    func sendAll() {
        for answer in pending.withLock({ held in
            defer { held.removeAll() }
            return held
        }) { send(answer) }
    }

    private func send(_ answer: Held) {
        answer.records.withUnsafeBytes { bytes in
            _ = Glibc.send(answer.connection, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
        shutdown(answer.connection, Int32(SHUT_RDWR))
        close(answer.connection)
    }

    private func sendWhenDue() {
        while true {
            let now = Server.monotonicMilliseconds()
            let (due, next) = pending.withLock { held -> ([Held], Int?) in
                let split = held.firstIndex(where: { $0.due > now }) ?? held.count
                let due = Array(held[..<split])
                held.removeFirst(split)
                return (due, held.first?.due)
            }
            for answer in due { send(answer) }
            let wait = next.map { max(1, min($0 - Server.monotonicMilliseconds(), 20)) } ?? 20
            usleep(UInt32(wait) * 1000)
        }
    }

    /// The FastCGI records of a complete answer to request `requestID`: the CGI response on FCGI_STDOUT (in records
    /// of at most 65,535 bytes), the empty record that ends the stream, and FCGI_END_REQUEST (complete, status 0).
    static func records(requestID: UInt16, response: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(response.count + 40)
        func header(_ type: UInt8, _ length: Int) {
            out += [1, type, UInt8(requestID >> 8), UInt8(requestID & 0xFF), UInt8(length >> 8), UInt8(length & 0xFF), 0, 0]
        }
        var offset = 0
        while offset < response.count {
            let length = min(65_535, response.count - offset)
            header(6, length)
            out += response[offset..<(offset + length)]
            offset += length
        }
        header(6, 0)
        header(3, 8)
        out += [0, 0, 0, 0, 0, 0, 0, 0]
        return out
    }
}
