/// AuthHTTP: the auth API over FastCGI requests — routing, input parsing, cookies, the cross-site check, the
/// client address behind proxies, the error mapping to HTTP and the service's metrics.
///
/// Handlers depend on AuthCore's service protocols (``AccountOperations``, ``SessionOperations``, …), never on the
/// database: this target does not import `MariaDB`, and its handlers are unit-tested with fakes.
public enum AuthHTTPModule {}
