import CProcess
import Glibc

/// Counters shared by all worker processes of one supervisor, so that a metrics request answered by any worker
/// reports the whole pool.
///
/// The supervisor creates the memory (a memfd) with one slot per worker and passes it to each worker on a file
/// descriptor; a worker adds to its own slot only (atomically: during a reload the old and the new worker of a slot
/// share it), and a reader sums the slots. Slots survive their workers, so totals never go back when a worker is
/// replaced. A process without a supervisor uses private memory with one slot.
///
/// After the counters, the same memory holds the pool's permit cells (`SharedPermits`).
public final class SharedCounters: @unchecked Sendable {
    // @unchecked Sendable: the memory is only touched through atomic C operations, and the mapping lives as long as
    // the object.
    private let base: UnsafeMutablePointer<UInt64>
    private let byteCount: Int
    /// Counters in each slot.
    public let countersPerSlot: Int
    /// Slots (workers).
    public let slots: Int
    /// The slot this process writes.
    public let slot: Int
    /// Global counters before the slots (the supervisor's own, e.g. worker crashes).
    public static let globalCounters = 8

    private init(base: UnsafeMutablePointer<UInt64>, byteCount: Int, countersPerSlot: Int, slots: Int, slot: Int) {
        self.base = base
        self.byteCount = byteCount
        self.countersPerSlot = countersPerSlot
        self.slots = slots
        self.slot = slot
    }

    deinit { munmap(base, byteCount) }

    private static func counterBytes(slots: Int, countersPerSlot: Int) -> Int {
        (globalCounters + slots * countersPerSlot) * MemoryLayout<UInt64>.size
    }

    private static func size(slots: Int, countersPerSlot: Int) -> Int {
        counterBytes(slots: slots, countersPerSlot: countersPerSlot)
            + (Int(CProcess_permit_header_words) + SharedPermits.maxLimit) * MemoryLayout<UInt32>.size
    }

    /// The permit region (after the counters).
    var permitRegion: UnsafeMutablePointer<UInt32> {
        UnsafeMutableRawPointer(base).advanced(by: Self.counterBytes(slots: slots, countersPerSlot: countersPerSlot))
            .assumingMemoryBound(to: UInt32.self)
    }

    /// This memory's permits: at most `limit` holders at once among all processes that map it.
    public func permits(limit: Int) -> SharedPermits { SharedPermits(memory: self, limit: limit) }

    /// The supervisor's side: frees every permit a reaped worker still held (it died holding them). Returns how many.
    @discardableResult
    public func reclaimPermits(heldBy pid: Int32) -> Int {
        Int(CProcess_permit_reclaim(permitRegion, Int32(SharedPermits.maxLimit), UInt32(pid), 0))
    }

    private static func map(fd: Int32, byteCount: Int) throws(SystemError) -> UnsafeMutablePointer<UInt64> {
        let address = mmap(nil, byteCount, PROT_READ | PROT_WRITE, fd < 0 ? MAP_SHARED | MAP_ANONYMOUS : MAP_SHARED, fd, 0)
        guard let address, address != MAP_FAILED else { throw SystemError(call: "mmap", errno: errno) }
        return address.bindMemory(to: UInt64.self, capacity: byteCount / 8)
    }

    /// The supervisor's side: new zeroed shared memory and its file descriptor (close-on-exec; hand it to workers
    /// with dup2).
    public static func create(slots: Int, countersPerSlot: Int) throws(SystemError) -> (SharedCounters, Int32) {
        let byteCount = size(slots: slots, countersPerSlot: countersPerSlot)
        let fd = CProcess_memfd("jwt-authd-counters")
        guard fd >= 0 else { throw SystemError(call: "memfd_create", errno: errno) }
        guard ftruncate(fd, off_t(byteCount)) == 0 else {
            let code = errno
            close(fd)
            throw SystemError(call: "ftruncate", errno: code)
        }
        let base = try map(fd: fd, byteCount: byteCount)
        return (SharedCounters(base: base, byteCount: byteCount, countersPerSlot: countersPerSlot, slots: slots, slot: 0), fd)
    }

    /// A worker's side: the supervisor's memory on `fd`, writing `slot`.
    public static func attach(fd: Int32, slots: Int, slot: Int, countersPerSlot: Int) throws(SystemError) -> SharedCounters {
        guard slot >= 0, slot < slots else { throw SystemError(call: "attach", errno: EINVAL, context: "slot \(slot) of \(slots)") }
        let byteCount = size(slots: slots, countersPerSlot: countersPerSlot)
        var info = stat()
        guard fstat(fd, &info) == 0, Int(info.st_size) >= byteCount else {
            throw SystemError(call: "fstat", errno: EINVAL, context: "shared counters on fd \(fd)")
        }
        let base = try map(fd: fd, byteCount: byteCount)
        close(fd)
        return SharedCounters(base: base, byteCount: byteCount, countersPerSlot: countersPerSlot, slots: slots, slot: slot)
    }

    /// Counters of this process alone (no supervisor).
    public static func privateMemory(countersPerSlot: Int) -> SharedCounters {
        let byteCount = size(slots: 1, countersPerSlot: countersPerSlot)
        // An anonymous mapping of a few kilobytes fails only when memory is exhausted.
        guard let base = try? map(fd: -1, byteCount: byteCount) else { fatalError("cannot map the counters: out of memory") }
        return SharedCounters(base: base, byteCount: byteCount, countersPerSlot: countersPerSlot, slots: 1, slot: 0)
    }

    /// Adds to counter `index` of this process's slot.
    public func add(_ index: Int, _ value: UInt64 = 1) {
        precondition(index >= 0 && index < countersPerSlot)
        CProcess_counter_add(base + Self.globalCounters + slot * countersPerSlot + index, value)
    }

    /// The sum of counter `index` over all slots.
    public func total(_ index: Int) -> UInt64 {
        (0..<slots).reduce(0) { $0 &+ CProcess_counter_load(base + Self.globalCounters + $1 * countersPerSlot + index) }
    }

    /// Adds to a global counter (the supervisor's).
    public func addGlobal(_ index: Int, _ value: UInt64 = 1) {
        precondition(index >= 0 && index < Self.globalCounters)
        CProcess_counter_add(base + index, value)
    }

    /// A global counter.
    public func global(_ index: Int) -> UInt64 { CProcess_counter_load(base + index) }
}
