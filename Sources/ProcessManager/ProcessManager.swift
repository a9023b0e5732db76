/// ProcessManager: the process infrastructure, the Swift face of `CProcess` (the Linux calls).
///
/// The ``Supervisor`` (php-fpm style) drives the ``WorkerPool`` state machine through a ``ProcessControl``;
/// ``ProcessSignals``, ``OSThread``, the pool's ``SharedCounters`` and ``SharedPermits`` (shared memory and futexes),
/// privilege drop (``ProcessSetup``), secret files and the terminal. Nothing here knows about FastCGI or auth.
public enum ProcessManagerModule {}
