/// FastCGI: a threaded FastCGI responder over libfcgi (Debian's libfcgi-dev), the Swift face of `CFastCGI`.
///
/// ``Server`` accepts connections on a ``ListenSocket`` (unix, TCP or inherited on fd 0) with one OS thread per
/// connection and no accept mutex, reads each ``Request`` (parameters and a bounded body) and writes the
/// ``Response`` a ``RequestHandler`` returns, keeping connections open for nginx's `fastcgi_keep_conn`. Nothing here
/// knows about authentication.
public enum FastCGIModule {}
