"""A tiny FastCGI responder for testing nginx configuration without the service.

It accepts connections on a unix socket, decodes each request (params and
body), records it, and answers with whatever ``handler(request)`` returns.
Kept connections (FCGI_KEEP_CONN) are honoured, one thread per connection.
Standard library only.

    stub = FastCGIStub(path, handler).start()
    ...
    stub.requests      # every StubRequest seen, in order
    stub.stop()
"""

import socket
import struct
import threading
from pathlib import Path

from fcgi_client import BEGIN_REQUEST, END_REQUEST, HEADER, KEEP_CONN, PARAMS, STDIN, STDOUT, encode_record


class StubRequest:
    """One decoded request: ``params`` (dict, first value of a name wins, as in libfcgi), ``param_list``
    (every pair in order, duplicates included) and ``body`` (bytes)."""

    def __init__(self, param_list, body):
        self.param_list = param_list
        self.params = {}
        for name, value in param_list:
            self.params.setdefault(name, value)
        self.body = body

    @property
    def path(self):
        return self.params.get("DOCUMENT_URI") or self.params.get("REQUEST_URI", "").partition("?")[0]

    def header(self, name):
        key = name.upper().replace("-", "_")
        return self.params.get(key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key)

    def __repr__(self):
        return f"StubRequest({self.params.get('REQUEST_METHOD')} {self.path})"


def decode_params(data):
    pairs = []
    i = 0

    def length():
        nonlocal i
        if data[i] < 0x80:
            i += 1
            return data[i - 1]
        value = struct.unpack(">I", data[i:i + 4])[0] & 0x7FFFFFFF
        i += 4
        return value

    while i < len(data):
        name_len = length()
        value_len = length()
        name = data[i:i + name_len].decode("latin-1")
        i += name_len
        value = data[i:i + value_len].decode("latin-1")
        i += value_len
        pairs.append((name, value))
    return pairs


class FastCGIStub:
    """Serves ``handler(StubRequest) -> (status, [(name, value)...], body bytes)`` on ``unix:path``."""

    def __init__(self, path, handler):
        self.path = Path(path)
        self.handler = handler
        self.requests = []
        self._lock = threading.Lock()
        self._sock = None
        self._stopping = False
        self._connections = set()

    @property
    def address(self):
        return f"unix:{self.path}"

    def start(self):
        if self.path.exists():
            self.path.unlink()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(str(self.path))
        self.path.chmod(0o666)
        self._sock.listen(64)
        threading.Thread(target=self._accept_loop, daemon=True).start()
        return self

    def stop(self):
        self._stopping = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def clear(self):
        with self._lock:
            self.requests.clear()

    def _accept_loop(self):
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self._connections.add(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = conn.makefile("rb")
        try:
            while True:
                keep = self._serve_one(conn, reader)
                if not keep:
                    return
        except (OSError, ConnectionError, struct.error):
            return
        finally:
            with self._lock:
                self._connections.discard(conn)
            reader.close()
            conn.close()

    def _read_record(self, reader):
        header = reader.read(HEADER.size)
        if len(header) < HEADER.size:
            raise ConnectionError("closed")
        version, record_type, request_id, length, padding = HEADER.unpack(header)
        content = reader.read(length + padding)[:length]
        return record_type, request_id, content

    def _serve_one(self, conn, reader):
        record_type, request_id, content = self._read_record(reader)
        if record_type != BEGIN_REQUEST:
            raise ConnectionError(f"expected BEGIN_REQUEST, got {record_type}")
        _role, flags = struct.unpack(">HB5x", content)
        params = bytearray()
        body = bytearray()
        params_done = stdin_done = False
        while not (params_done and stdin_done):
            record_type, _, content = self._read_record(reader)
            if record_type == PARAMS:
                if content:
                    params += content
                else:
                    params_done = True
            elif record_type == STDIN:
                if content:
                    body += content
                else:
                    stdin_done = True
        request = StubRequest(decode_params(bytes(params)), bytes(body))
        with self._lock:
            self.requests.append(request)
        try:
            status, headers, payload = self.handler(request)
        except Exception as error:  # a bug in a test's handler: make it visible
            status, headers, payload = 500, [("Content-Type", "text/plain")], repr(error).encode()
        head = f"Status: {status}\r\n" + "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\n"
        out = head.encode("latin-1") + payload
        data = b"".join(encode_record(STDOUT, request_id, out[i:i + 65535]) for i in range(0, len(out), 65535))
        data += encode_record(STDOUT, request_id)
        data += encode_record(END_REQUEST, request_id, struct.pack(">IB3x", 0, 0))
        conn.sendall(data)
        return bool(flags & KEEP_CONN)

