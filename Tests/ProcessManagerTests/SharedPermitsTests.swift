import CProcess
import Foundation
import Glibc
import Testing

@testable import ProcessManager

/// The pool's permits: at most `limit` holders among every mapping of the memory, holders that die do not leak.
@Suite struct SharedPermitsTests {
    /// Two mappings of one memfd, as a supervisor's workers have: the limit holds across both, and a waiter on one
    /// mapping is woken by a release on the other (a futex on shared memory, not a process-private one).
    @Test(arguments: [1, 2, 3])
    func theLimitHoldsAcrossMappings(limit: Int) throws {
        let (supervisor, fd) = try SharedCounters.create(slots: 2, countersPerSlot: 1)
        let second = try SharedCounters.attach(fd: dup(fd), slots: 2, slot: 1, countersPerSlot: 1)
        close(fd)
        let mappings = [supervisor.permits(limit: limit), second.permits(limit: limit)]
        let inside = Tally(0)
        let maximum = Tally(0)
        let done = DispatchGroup()
        for index in 0..<12 {
            done.enter()
            Thread.detachNewThread {
                let permits = mappings[index % 2]
                for _ in 0..<5 {
                    let permit = permits.acquire()
                    let now = inside.add(1)
                    maximum.max(now)
                    usleep(2_000)
                    inside.add(-1)
                    permits.release(permit)
                }
                done.leave()
            }
        }
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(maximum.value == limit, "12 threads on two mappings, limit \(limit)")
        #expect(mappings[0].held == 0 && mappings[1].held == 0)
    }

    @Test func tryAcquireTakesFreePermitsOnlyAndReleaseGivesThemBack() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let permits = memory.permits(limit: 2)
        let first = try #require(permits.tryAcquire())
        let second = try #require(permits.tryAcquire())
        #expect(first != second)
        #expect(permits.tryAcquire() == nil)
        #expect(permits.held == 2)
        permits.release(first)
        #expect(permits.tryAcquire() == first)
        // A process with a smaller limit uses the first cells only: both taken, it must wait.
        #expect(memory.permits(limit: 1).tryAcquire() == nil)
        // A larger limit (a new worker after a reload raised it) finds the cells beyond.
        #expect(memory.permits(limit: 3).tryAcquire() == 2)
    }

    /// A worker killed while hashing: the supervisor frees its permits when it reaps it, and a waiter gets one.
    @Test func theSupervisorFreesTheCellsOfAReapedWorker() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let pid = try exitedProcess()
        memory.permitRegion[Int(CProcess_permit_header_words)] = UInt32(pid)  // its permit 0, never released
        let permits = memory.permits(limit: 1)
        #expect(permits.tryAcquire() == nil)
        #expect(memory.reclaimPermits(heldBy: pid + 100_000) == 0, "another pid's cells stay")
        #expect(memory.reclaimPermits(heldBy: pid) == 1)
        #expect(permits.tryAcquire() == 0)
    }

    /// Without the supervisor (it died too, or the worker is alone), a waiter finds a dead holder by itself.
    @Test func aWaiterFreesTheCellsOfHoldersThatNoLongerExist() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let pid = try exitedProcess()
        memory.permitRegion[Int(CProcess_permit_header_words)] = UInt32(pid)
        let permits = memory.permits(limit: 1)
        let started = ContinuousClock.now
        let permit = permits.acquire()
        #expect(permit == 0)
        #expect(ContinuousClock.now - started < .seconds(5))
        // A living holder (this process) is not taken for dead: the next acquire has to wait for the release.
        let acquired = Tally(false)
        Thread.detachNewThread {
            let again = permits.acquire()
            acquired.store(true)
            permits.release(again)
        }
        usleep(500_000)  // more than two reclaim intervals
        #expect(!acquired.value)
        permits.release(permit)
        for _ in 0..<200 where !acquired.value { usleep(10_000) }
        #expect(acquired.value)
    }

    /// The pid of a process that has exited and been reaped (no process has it now).
    private func exitedProcess() throws -> pid_t {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try process.run()
        process.waitUntilExit()
        let pid = process.processIdentifier
        #expect(kill(pid, 0) == -1 && errno == ESRCH)
        return pid
    }
}

/// A small lock-protected integer for the tests' bookkeeping.
private final class Tally<Value: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only read and written under `lock`.
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.withLock { stored } }
    func store(_ value: Value) { lock.withLock { stored = value } }
}

extension Tally where Value == Int {
    func max(_ value: Int) { lock.withLock { stored = Swift.max(stored, value) } }

    @discardableResult
    func add(_ delta: Int) -> Int {
        lock.withLock {
            stored += delta
            return stored
        }
    }
}
