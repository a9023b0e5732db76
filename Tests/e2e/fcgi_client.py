"""A small FastCGI client for the end-to-end tests.

It speaks FastCGI 1.0 to a responder (the worker) over a unix or TCP
socket, as the web server side, the way nginx does; and it can do what nginx never
does: leave a connection idle, send the body late, hang up half-way, or write
garbage. Addresses are ``unix:/path``, a bare ``/path``, ``HOST:PORT`` or a
``(host, port)`` tuple.

Typical use::

    status, headers, body = fcgi_request(addr, http_params("GET", "/api/auth/health"))

    with FastCGIConnection(addr) as conn:          # several requests, one connection
        for _ in range(3):
            conn.request(http_params("GET", "/api/auth/health"), keep_conn=True)

    with FastCGIConnection(addr) as conn:          # params now, body later
        conn.begin(http_params("POST", "/x", body_length=10))
        time.sleep(1.5)
        conn.send_stdin(b"0123456789")
        conn.end_stdin()
        response = conn.read_response()
"""

import socket
import struct
import time

VERSION = 1
HEADER = struct.Struct(">BBHHBx")  # version, type, request id, content length, padding length, reserved
MAX_CONTENT = 0xFFFF

BEGIN_REQUEST = 1
END_REQUEST = 3
PARAMS = 4
STDIN = 5
STDOUT = 6
STDERR = 7

RESPONDER = 1
KEEP_CONN = 1

REQUEST_COMPLETE = 0


class ProtocolError(Exception):
    """The peer sent something that is not a valid FastCGI reply."""


class Response:
    """A parsed CGI-style response; unpacks as ``status, headers, body``.

    ``headers`` maps lower-case names to the last value seen;
    ``header_list`` keeps every header in order (for repeated ones such as
    Set-Cookie). ``stderr`` is whatever the application wrote to its
    FastCGI error stream.
    """

    def __init__(self, status, headers, header_list, body, stderr):
        self.status = status
        self.headers = headers
        self.header_list = header_list
        self.body = body
        self.stderr = stderr

    def __iter__(self):
        return iter((self.status, self.headers, self.body))

    def __repr__(self):
        return f"Response(status={self.status}, headers={self.headers!r}, body={self.body[:200]!r})"


def http_params(method, uri, body_length=None, content_type=None, headers=None):
    """CGI parameters as nginx's stock ``fastcgi_params`` would send them.

    Like nginx, CONTENT_LENGTH and CONTENT_TYPE are present but empty when
    the request has no body. ``headers`` become ``HTTP_*`` parameters.
    """
    path, _, query = uri.partition("?")
    params = {
        "QUERY_STRING": query,
        "REQUEST_METHOD": method,
        "CONTENT_TYPE": content_type or "",
        "CONTENT_LENGTH": "" if body_length is None else str(body_length),
        "SCRIPT_NAME": path,
        "REQUEST_URI": uri,
        "DOCUMENT_URI": path,
        "DOCUMENT_ROOT": "/nonexistent",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REQUEST_SCHEME": "http",
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "fcgi_client.py",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "54321",
        "SERVER_ADDR": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_NAME": "localhost",
        "HTTP_HOST": "localhost",
    }
    for name, value in (headers or {}).items():
        params["HTTP_" + name.upper().replace("-", "_")] = value
    return params


def encode_record(record_type, request_id, content=b""):
    """One record, padded to a multiple of 8 bytes as the spec recommends."""
    if len(content) > MAX_CONTENT:
        raise ValueError("record content longer than 65535 bytes")
    padding = -len(content) % 8
    return HEADER.pack(VERSION, record_type, request_id, len(content), padding) + content + b"\0" * padding


def _encode_length(n):
    # Lengths below 128 take one byte; longer ones four, with the top bit set.
    return bytes([n]) if n < 0x80 else struct.pack(">I", n | 0x80000000)


def encode_params(params):
    """Name-value pairs in FastCGI encoding (str values are UTF-8 encoded)."""
    out = bytearray()
    for name, value in params.items():
        name = name.encode() if isinstance(name, str) else name
        value = value.encode() if isinstance(value, str) else value
        out += _encode_length(len(name)) + _encode_length(len(value)) + name + value
    return bytes(out)


def _stream_records(record_type, request_id, data):
    return b"".join(
        encode_record(record_type, request_id, data[i:i + MAX_CONTENT]) for i in range(0, len(data), MAX_CONTENT)
    )


def parse_cgi_response(raw, stderr=b""):
    """Split a CGI response (``Status:`` line, headers, blank line, body)."""
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = raw.partition(separator)
        if found:
            break
    else:
        raise ProtocolError(f"no end of CGI headers in {raw[:200]!r}")
    status = 200
    headers = {}
    header_list = []
    for line in head.decode("latin-1").splitlines():
        name, colon, value = line.partition(":")
        if not colon:
            raise ProtocolError(f"malformed CGI header line {line!r}")
        name, value = name.strip().lower(), value.strip()
        if name == "status":
            status = int(value.split()[0])
        header_list.append((name, value))
        headers[name] = value
    return Response(status, headers, header_list, body, stderr)


def connect(address, timeout=10.0):
    """Open a stream socket to ``unix:/path``, ``/path``, ``HOST:PORT`` or ``(host, port)``."""
    if isinstance(address, tuple):
        sock = socket.create_connection(address, timeout=timeout)
    elif address.startswith("unix:") or address.startswith("/"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(address.removeprefix("unix:"))
        except OSError:
            sock.close()
            raise
    else:
        host, _, port = address.rpartition(":")
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    return sock


class FastCGIConnection:
    """One client connection; requests on it run one after another."""

    def __init__(self, address, timeout=10.0, sock=None):
        self.sock = sock if sock is not None else connect(address, timeout)
        self.sock.settimeout(timeout)
        self._buffer = bytearray()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def begin(self, params, keep_conn=False, request_id=1):
        """Send BEGIN_REQUEST (role RESPONDER), the params and the empty PARAMS record."""
        body = struct.pack(">HB5x", RESPONDER, KEEP_CONN if keep_conn else 0)
        self.send_raw(
            encode_record(BEGIN_REQUEST, request_id, body)
            + _stream_records(PARAMS, request_id, encode_params(params))
            + encode_record(PARAMS, request_id)
        )

    def send_stdin(self, data, request_id=1):
        """Send body bytes as STDIN records of at most 65535 bytes each (no end marker)."""
        if data:
            self.send_raw(_stream_records(STDIN, request_id, data))

    def end_stdin(self, request_id=1):
        """Send the empty STDIN record that ends the body."""
        self.send_raw(encode_record(STDIN, request_id))

    def _read_exactly(self, n):
        while len(self._buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buffer)))
            if not chunk:
                raise ConnectionError("connection closed before END_REQUEST")
            self._buffer += chunk
        data = bytes(self._buffer[:n])
        del self._buffer[:n]
        return data

    def read_response(self, request_id=1):
        """Read STDOUT/STDERR records until END_REQUEST and parse the CGI response."""
        stdout, stderr = bytearray(), bytearray()
        while True:
            version, record_type, rid, length, padding = HEADER.unpack(self._read_exactly(HEADER.size))
            if version != VERSION:
                raise ProtocolError(f"unexpected FastCGI version {version}")
            content = self._read_exactly(length + padding)[:length]
            if rid != request_id:
                raise ProtocolError(f"record type {record_type} for request {rid}, expected {request_id}")
            if record_type == STDOUT:
                stdout += content
            elif record_type == STDERR:
                stderr += content
            elif record_type == END_REQUEST:
                app_status, protocol_status = struct.unpack(">IB3x", content)
                if protocol_status != REQUEST_COMPLETE:
                    raise ProtocolError(f"request not complete: protocol status {protocol_status}")
                return parse_cgi_response(bytes(stdout), bytes(stderr))
            else:
                raise ProtocolError(f"unexpected record type {record_type}")

    def request(self, params, stdin=b"", keep_conn=False, body_chunks=None, delay=0.0, request_id=1):
        """Send one whole request and return its :class:`Response`.

        The body is ``stdin``, or ``body_chunks`` sent one by one with
        ``delay`` seconds before each chunk (a slow client).
        """
        self.begin(params, keep_conn=keep_conn, request_id=request_id)
        for chunk in body_chunks if body_chunks is not None else [stdin]:
            if delay:
                time.sleep(delay)
            self.send_stdin(chunk, request_id)
        self.end_stdin(request_id)
        return self.read_response(request_id)


def fcgi_request(address, params, stdin=b"", keep_conn=False, sock=None, body_chunks=None, delay=0.0, timeout=10.0):
    """One request on a new connection (or on ``sock``, left open); returns a :class:`Response`."""
    conn = FastCGIConnection(address, timeout=timeout, sock=sock)
    try:
        return conn.request(params, stdin, keep_conn=keep_conn, body_chunks=body_chunks, delay=delay)
    finally:
        if sock is None:
            conn.close()
