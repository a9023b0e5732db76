import Foundation
import ProcessManager
import Synchronization
import Testing

/// The lane that runs password hashes (#15 item 4): admission, a bounded wait, low priority.
@Suite struct WorkLaneTests {
    @Test func admissionStopsAtTheCapacityAndPlacesComeBack() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let lane = try WorkLane(name: "t-lane", threads: 1, capacity: 2, wait: .seconds(1), nice: 10, permits: memory.permits(limit: 1))
        #expect(lane.enter() && lane.enter())
        #expect(!lane.enter(), "a third caller is refused at once")
        #expect(lane.occupied == 2)
        lane.leave()
        #expect(lane.enter())
        lane.leave()
        lane.leave()
        #expect(lane.occupied == 0)
    }

    @Test func workThatGetsNoPermitWithinTheWaitNeverRuns() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let permits = memory.permits(limit: 1)
        let lane = try WorkLane(name: "t-lane", threads: 1, capacity: 4, wait: .milliseconds(150), nice: 10, permits: permits)
        let ran = Atomic<Int>(0)
        let held = try #require(permits.tryAcquire(), "another process's hash holds the only permit")
        let started = ContinuousClock.now
        #expect(!lane.run { ran.add(1, ordering: .relaxed) })
        let waited = ContinuousClock.now - started
        #expect(waited >= .milliseconds(140) && waited < .seconds(2), "\(waited)")
        permits.release(held)
        #expect(lane.run { ran.add(1, ordering: .relaxed) })
        #expect(ran.load(ordering: .relaxed) == 1, "only the second piece of work ran")
        #expect(permits.held == 0)
    }

    @Test func workQueuedBehindABusyThreadIsAbandonedAfterTheWait() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let lane = try WorkLane(name: "t-lane", threads: 1, capacity: 4, wait: .milliseconds(100), nice: 10, permits: memory.permits(limit: 1))
        let ran = Atomic<Int>(0)
        let slow = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            _ = lane.run { usleep(400_000) }
            slow.signal()
        }
        usleep(50_000)
        #expect(!lane.run { ran.add(1, ordering: .relaxed) }, "the only thread is busy past the wait")
        #expect(slow.wait(timeout: .now() + 5) == .success)
        usleep(50_000)
        #expect(ran.load(ordering: .relaxed) == 0, "abandoned work is never run later")
    }

    @Test func theLaneRunsAtALowerPriority() throws {
        let memory = SharedCounters.privateMemory(countersPerSlot: 1)
        let lane = try WorkLane(name: "t-lane", threads: 1, capacity: 1, wait: .seconds(5), nice: 10, permits: memory.permits(limit: 1))
        let seen = Mutex<(nice: Int32, policy: Int32)>((0, 0))
        #expect(
            lane.run {
                errno = 0
                let nice = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
                let policy = sched_getscheduler(0)
                seen.withLock { $0 = (nice, policy) }
            })
        let (nice, policy) = seen.withLock { $0 }
        // 3: SCHED_BATCH.
        #expect(nice == 10 && policy == 3, "nice \(nice), policy \(policy)")
    }
}
