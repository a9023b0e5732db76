import FastCGI
import Glibc
import ProcessManager
import Testing

@testable import AuthHTTP

@Suite struct ServiceMetricsTests {
    @Test func countsRenderAsPrometheusText() {
        let metrics = ServiceMetrics(counters: SharedCounters.privateMemory(countersPerSlot: ServiceMetrics.countersPerSlot))
        metrics.record(path: "/api/auth/verify", status: 204, seconds: 0.0004)
        metrics.record(path: "/api/auth/verify", status: 401, seconds: 0.002)
        metrics.record(path: "/api/auth/sessions/0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b", status: 200, seconds: 3)
        metrics.record(path: "/etc/passwd", status: 404, seconds: 0.001)
        metrics.record(.refreshReuse)
        let text = String(decoding: metrics.render(), as: UTF8.self)
        #expect(text.contains("jwt_authd_requests_total{route=\"/api/auth/verify\",status=\"2xx\"} 1\n"))
        #expect(text.contains("jwt_authd_requests_total{route=\"/api/auth/verify\",status=\"4xx\"} 1\n"))
        #expect(text.contains("jwt_authd_requests_total{route=\"/api/auth/sessions/{id}\",status=\"2xx\"} 1\n"))
        #expect(text.contains("jwt_authd_requests_total{route=\"other\",status=\"4xx\"} 1\n"), "no unbounded label values")
        #expect(text.contains("jwt_authd_request_duration_seconds_bucket{le=\"0.0005\"} 1\n"))
        #expect(text.contains("jwt_authd_request_duration_seconds_bucket{le=\"+Inf\"} 4\n"))
        #expect(text.contains("jwt_authd_request_duration_seconds_count 4\n"))
        #expect(text.contains("jwt_authd_refreshes_total{result=\"reuse\"} 1\n"))
        #expect(!text.contains("passwd"))
    }

    @Test func sharedCountersSumTheSlots() throws {
        let (supervisor, fd) = try SharedCounters.create(slots: 2, countersPerSlot: 4)
        let duplicate = dup(fd)
        let worker = try SharedCounters.attach(fd: duplicate, slots: 2, slot: 1, countersPerSlot: 4)
        worker.add(2, 5)
        supervisor.add(2, 1)
        supervisor.addGlobal(0)
        #expect(supervisor.total(2) == 6 && worker.total(2) == 6)
        #expect(worker.global(0) == 1)
        #expect(throws: SystemError.self) { try SharedCounters.attach(fd: fd, slots: 2, slot: 2, countersPerSlot: 4) }
    }
}
