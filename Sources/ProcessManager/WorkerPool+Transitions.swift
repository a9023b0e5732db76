extension WorkerPool {
    /// A stop request: every worker drains (a second request kills them all at once).
    mutating func stop() -> [PoolAction] {
        stopRequests += 1
        if stopRequests > 1 {
            return [.log(.notice, "second stop request: killing workers")] + livePIDs.map { .kill(pid: $0) }
        }
        move(to: .stopping)
        let deadline = clock.now.advanced(by: configuration.drainTimeout)
        reloadQueue = []
        poolBackoffUntil = nil
        var actions: [PoolAction] = [
            .log(.info, "stopping: workers finish their requests (at most \(describe(configuration.drainTimeout)))")
        ]
        for index in slots.indices {
            slots[index].respawnAt = nil
            slots[index].readyDeadline = nil
            for (pid, retirement) in slots[index].retiring where retirement == .awaitingReplacement {
                slots[index].retiring[pid] = .draining(until: deadline)
            }
            if let pid = slots[index].pid {
                slots[index].retiring[pid] = .draining(until: deadline)
                slots[index].pid = nil
            }
            actions += slots[index].retiring.keys.sorted().map { PoolAction.stop(pid: $0) }
        }
        if livePIDs.isEmpty {
            move(to: .stopped)
            actions.append(.exit(0))
        }
        return actions
    }

    /// A worker of `index` that was not asked to stop has ended: replace it (at once, later, or after the pool's
    /// emergency back-off).
    mutating func replace(_ index: Int, pid: Int32, status: ProcessExit) -> [PoolAction] {
        let now = clock.now
        if status == .exited(0) {
            // A worker leaves with 0 only when recycled after --max-requests: replace it at once.
            slots[index].crashes = 0
            return [.log(.info, "worker \(pid) recycled after serving its requests")] + spawnOrWait(index)
        }
        crashes += 1
        let ranFor = slots[index].startedAt.duration(to: now)
        let delay = backoff(for: index, ranFor: ranFor)
        var actions: [PoolAction] = [
            .log(
                .error,
                "worker \(pid) died with \(status) after \(describe(ranFor)); restarting"
                    + (delay > .zero ? " in \(describe(delay)) (crash \(slots[index].crashes) in a row)" : ""))
        ]
        actions += noteCrashForEmergency(at: now)
        if delay == .zero {
            actions += spawnOrWait(index)
        } else {
            slots[index].respawnAt = max(now.advanced(by: delay), poolBackoffUntil ?? now)
        }
        return actions
    }

    /// Spawns a worker for `index` now, or when the pool's emergency back-off ends.
    private mutating func spawnOrWait(_ index: Int) -> [PoolAction] {
        if let until = poolBackoffUntil {
            slots[index].respawnAt = until
            return []
        }
        return [.spawn(slot: index)]
    }

    /// php-fpm's emergency restart rule: N crashes within T back the whole pool off, said loudly, once per episode.
    private mutating func noteCrashForEmergency(at now: Instant) -> [PoolAction] {
        guard configuration.emergencyThreshold > 0, poolBackoffUntil == nil else { return [] }
        recentCrashes = recentCrashes.filter { $0.duration(to: now) < configuration.emergencyInterval } + [now]
        guard recentCrashes.count >= configuration.emergencyThreshold else { return [] }
        recentCrashes = []
        emergencies += 1
        let until = now.advanced(by: configuration.emergencyBackoff)
        poolBackoffUntil = until
        for index in slots.indices where slots[index].pid == nil {
            slots[index].respawnAt = max(slots[index].respawnAt ?? until, until)
        }
        return [
            .log(
                .error,
                "EMERGENCY: \(configuration.emergencyThreshold) workers crashed within "
                    + "\(describe(configuration.emergencyInterval)); no worker starts for \(describe(configuration.emergencyBackoff)) "
                    + "(check the log above for the cause: the database, the keys, the host's memory)")
        ]
    }

    /// During a reload: the old worker of `slot` that waited for its replacement now drains.
    mutating func drainAwaitingWorker(of slot: Int) -> [PoolAction] {
        slots[slot].readyDeadline = nil
        guard let old = slots[slot].retiring.first(where: { $0.value == .awaitingReplacement })?.key else { return [] }
        slots[slot].retiring[old] = .draining(until: clock.now.advanced(by: configuration.drainTimeout))
        return [.stop(pid: old)]
    }

    /// The next step of a reload: one slot at a time, once no slot has a worker still retiring.
    mutating func advanceReload() -> [PoolAction] {
        guard slots.allSatisfy({ $0.retiring.isEmpty }) else { return [] }
        while let next = reloadQueue.first {
            reloadQueue.removeFirst()
            guard let old = slots[next].pid else { continue }
            // Start the replacement first; the old worker is stopped once the new one reports ready.
            slots[next].retiring[old] = .awaitingReplacement
            slots[next].pid = nil
            return [.spawn(slot: next)]
        }
        move(to: .running)
        return [.log(.info, "reload complete")]
    }

    /// The delay before slot `index` restarts after a crash: none for the first crash after a healthy run, then
    /// doubling from ``Configuration/initialBackoff`` up to ``Configuration/maxBackoff``.
    mutating func backoff(for index: Int, ranFor: Duration) -> Duration {
        if ranFor >= configuration.healthyAfter { slots[index].crashes = 0 }
        slots[index].crashes += 1
        if slots[index].crashes == 1 { return .zero }
        return min(configuration.maxBackoff, configuration.initialBackoff * (1 << min(slots[index].crashes - 2, 20)))
    }
}
