import CArgon2
import Glibc
import Synchronization

/// Argon2's working memory (19 MiB per hash by default), from a small pool of mappings that are reused.
///
/// Left to malloc, a freed buffer of that size stays in whichever thread's arena last used it (glibc raises its
/// mmap threshold after the first one), so a process with many threads kept up to one buffer per arena (the figure
/// is in bench/README.md, *Memory*), and every new buffer paid for its page faults again. libargon2 wipes the memory
/// before handing it back (`clear_internal_memory`), so a pooled buffer holds nothing secret. At most `capacity`
/// buffers are kept (jwt-authd sets it to the number of hashes that may run at once); others are unmapped.
enum Argon2MemoryPool {
    private struct State {
        var free: [(address: UInt, size: Int)] = []
        /// None until the server says how many hashes may run at once: a process that never serves a login (or
        /// only makes the dummy hash at start) keeps no 19 MiB buffer.
        var capacity = 0
    }

    private static let state = Mutex(State())

    static var capacity: Int {
        get { state.withLock { $0.capacity } }
        set {
            let excess: [(address: UInt, size: Int)] = state.withLock { state in
                state.capacity = min(max(newValue, 0), 64)
                let extra = max(0, state.free.count - state.capacity)
                defer { state.free.removeLast(extra) }
                return Array(state.free.suffix(extra))
            }
            for buffer in excess { unmap(buffer) }
        }
    }

    /// Buffers waiting for reuse.
    static var pooled: Int { state.withLock { $0.free.count } }

    private static func unmap(_ buffer: (address: UInt, size: Int)) {
        munmap(UnsafeMutableRawPointer(bitPattern: buffer.address), buffer.size)
    }

    /// libargon2's allocate callback.
    static let allocate: allocate_fptr = { memory, size in
        guard let memory else { return ARGON2_MEMORY_ALLOCATION_ERROR.rawValue }
        let reused: UInt? = state.withLock { state in
            guard let index = state.free.firstIndex(where: { $0.size == size }) else { return nil }
            return state.free.remove(at: index).address
        }
        if let reused {
            memory.pointee = UnsafeMutablePointer(bitPattern: reused)
            return ARGON2_OK.rawValue
        }
        let fresh = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        guard let fresh, fresh != MAP_FAILED else {
            memory.pointee = nil
            return ARGON2_MEMORY_ALLOCATION_ERROR.rawValue
        }
        memory.pointee = fresh.assumingMemoryBound(to: UInt8.self)
        return ARGON2_OK.rawValue
    }

    /// libargon2's free callback (the memory is already wiped).
    static let release: deallocate_fptr = { memory, size in
        guard let memory else { return }
        let buffer = (address: UInt(bitPattern: memory), size: size)
        let kept = state.withLock { state in
            guard state.free.count < state.capacity else { return false }
            state.free.append(buffer)
            return true
        }
        if !kept { unmap(buffer) }
    }
}
