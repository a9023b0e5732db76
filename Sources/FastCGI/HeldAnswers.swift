import CFastCGI
import Glibc
import ProcessManager
import Synchronization

/// Answers that are sent later without holding a request thread: a refusal that tells the client to come back later
/// (`Retry-After`) is held until then (``Response/holdMilliseconds``), so a flood of such requests is paced by its
/// own connections instead of by this process's CPU.
///
/// The request thread writes nothing: it hands the connection and the complete FastCGI records of the answer here and
/// goes back to accepting. One thread per process sends each answer when it is due, then hands the connection back
/// to the server's threads as an idle kept connection (nginx asked to keep it: closing it would race nginx's next
/// request on it, which fails as a 502 for a POST). At most `capacity` answers are held (each holds a descriptor);
/// beyond that, answers go out at once. Once the server stops, connections are closed after their answer instead.
final class HeldAnswers: Sendable {
    private struct Held {
        let connection: Int32
        let records: [UInt8]
        let due: Int
    }

    private let capacity: Int
    private let pending = Mutex<[Held]>([])
    /// Connections whose answer went out, for a server thread to wait on (``takeReturned()``).
    private let returned = Mutex<[Int32]>([])
    private let returning = Atomic<Bool>(true)
    /// A byte per returned connection (level-triggered, registered with EPOLLEXCLUSIVE in every thread's waiter).
    let returnRead: Int32
    private let returnWrite: Int32

    init(capacity: Int) {
        self.capacity = capacity
        var fds: [Int32] = [-1, -1]
        _ = CFastCGI_pipe2(&fds, O_CLOEXEC | O_NONBLOCK)
        returnRead = fds[0]
        returnWrite = fds[1]
    }

    deinit {
        for connection in returned.withLock({ $0 }) { close(connection) }
        if returnRead >= 0 { close(returnRead) }
        if returnWrite >= 0 { close(returnWrite) }
    }

    /// A connection handed back after its held answer, or `nil` when another thread took it first. Another waiter is
    /// woken when more are left.
    func takeReturned() -> Int32? {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { bytes in
            while read(returnRead, bytes.baseAddress, bytes.count) > 0 {}
        }
        return returned.withLock { queue in
            guard !queue.isEmpty else { return nil }
            let connection = queue.removeFirst()
            if !queue.isEmpty { signalReturned() }
            return connection
        }
    }

    /// Wakes one waiter for a returned connection (also one that was woken with another event and left it).
    func signalReturned() {
        var byte: UInt8 = 1
        _ = write(returnWrite, &byte, 1)
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
            // Kept in due order: most holds are appended (a busy refusal's second, the mail routes' floor); a
            // sooner one is put in its place.
            let index = held.lastIndex(where: { $0.due <= due }).map { $0 + 1 } ?? 0
            held.insert(Held(connection: connection, records: records, due: due), at: index)
            return true
        }
    }

    /// Sends every held answer now and closes every connection, held or returned (the server is stopping: its
    /// process is about to end).
    func sendAll() {
        returning.store(false, ordering: .releasing)
        for answer in pending.withLock({ held in
            defer { held.removeAll() }
            return held
        }) { send(answer) }
        for connection in returned.withLock({ queue in
            defer { queue.removeAll() }
            return queue
        }) {
            shutdown(connection, Int32(SHUT_RDWR))
            close(connection)
        }
    }

    private func send(_ answer: Held) {
        let sent = answer.records.withUnsafeBytes { bytes in
            Glibc.send(answer.connection, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT | MSG_NOSIGNAL))
        }
        // Handed back whole or not at all: a part-sent answer (the peer's buffer full) leaves the stream cut.
        if sent == answer.records.count && returning.load(ordering: .acquiring) && returnWrite >= 0 {
            returned.withLock { $0.append(answer.connection) }
            signalReturned()
            return
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
