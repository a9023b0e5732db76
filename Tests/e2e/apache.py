"""A private Apache httpd with mod_fcgid running jwt-authd, for ``test_apache.py``.

:class:`Apache` starts Debian's ``apache2`` in the foreground as a child of
the test run, with its own configuration, pid file, logs and mod_fcgid state
under one directory, listening on loopback ports. Two virtual hosts run the
shipped examples:

- the *vhost* port includes ``deploy/apache/jwt-authd-fcgid.conf``
  (``FcgidWrapper … virtual`` on ``/api/auth/``),
- the *htaccess* port serves a document root holding
  ``deploy/apache/htaccess`` as ``.htaccess`` and the wrapper script
  ``deploy/apache/jwt-authd.fcgi`` (the shared-hosting layout).

Only the example paths are replaced (``/usr/local/bin/jwt-authd``,
``/etc/jwt-authd/apache.toml``, ``/home/alice/jwt-authd``), so the tests
exercise the files operators copy.

Apache refuses to serve as root: started by root, it switches to ``www-data``
(``User``/``Group``), and so do the jwt-authd processes mod_fcgid starts. They
must reach the binary, their configuration and the MariaDB socket; pytest's
temporary folders are mode 0700, so :func:`grant_search` adds the search bit
(``o+x``: traverse, not list) to the folders on those paths that lack it, and
:meth:`Apache.stop` puts the modes back.

Standard library only.
"""

import os
import pwd
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import harness

MODULES = Path("/usr/lib/apache2/modules")
# mpm_event: Debian's default MPM; authz_core: Require; rewrite: the .htaccess variant; fcgid.
LOAD_MODULES = ("mpm_event", "authz_core", "rewrite", "fcgid")
EXAMPLES = harness.REPO / "deploy" / "apache"


def apache_binary():
    """Debian's ``apache2`` (in /usr/sbin, which is not on every user's PATH), or None."""
    found = shutil.which("apache2") or "/usr/sbin/apache2"
    return found if os.access(found, os.X_OK) else None


def missing_modules():
    return [name for name in LOAD_MODULES if not (MODULES / f"mod_{name}.so").exists()]


def grant_search(path, granted):
    """Make ``path`` reachable by other users: add ``o+x`` to each folder above it that lacks it.

    Appends ``(folder, old_mode)`` to ``granted`` for :func:`restore_modes`.
    """
    for folder in reversed(Path(path).resolve().parents):
        mode = folder.stat().st_mode & 0o7777
        if not mode & 0o001:
            os.chmod(folder, mode | 0o001)
            granted.append((folder, mode))


def restore_modes(granted):
    for folder, mode in reversed(granted):
        try:
            os.chmod(folder, mode)
        except FileNotFoundError:
            pass
    granted.clear()


def processes_mentioning(text):
    """PIDs of live processes whose command line contains ``text`` (not zombies)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and not harness.process_gone(int(entry.name)):
            pids.append(int(entry.name))
    return pids


class Apache:
    """Apache + mod_fcgid + jwt-authd under ``root`` (a folder of its own).

    ``service_toml`` is the text of the jwt-authd configuration file both
    virtual hosts use (it must not set ``listen``); ``secret_files`` maps
    file names to contents written next to it (mode 0600); ``vhost_env``
    becomes ``FcgidInitialEnv`` lines of the vhost variant.
    """

    def __init__(self, binary, authd_bin, root, service_toml, secret_files, vhost_env=None):
        self.binary = binary
        self.authd_bin = Path(authd_bin).resolve()
        self.root = Path(root)
        self.app = self.root / "app"          # the ~/jwt-authd of the examples: binary path, config, secrets
        self.htdocs = self.root / "htdocs"    # document root of the .htaccess variant
        self.empty = self.root / "empty"      # document root of the vhost variant
        self.conf = self.root / "httpd.conf"
        self.error_log = self.root / "apache-error.log"
        self.access_log = self.root / "apache-access.log"
        self.config_path = self.app / "jwt-authd.toml"
        self.service_toml = service_toml
        self.secret_files = secret_files
        self.vhost_env = vhost_env or {}
        self.vhost_port = harness.free_port()
        self.htaccess_port = harness.free_port()
        self.as_root = os.geteuid() == 0
        self.run_as = pwd.getpwnam("www-data") if self.as_root else pwd.getpwuid(os.geteuid())
        self.granted = []
        self.proc = None

    # Files

    def _write(self, path, text, mode):
        path.write_text(text)
        os.chmod(path, mode)
        os.chown(path, self.run_as.pw_uid, self.run_as.pw_gid)

    def render(self):
        for folder in (self.root, self.htdocs, self.empty, self.app / "bin"):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, 0o755)
        # The service's folder: only the user the FastCGI processes run as may enter it.
        for folder in (self.app, self.app / "bin"):
            os.chown(folder, self.run_as.pw_uid, self.run_as.pw_gid)
        os.chmod(self.app, 0o700)
        link = self.app / "bin" / "jwt-authd"
        if not link.exists():
            link.symlink_to(self.authd_bin)
        self._write(self.config_path, self.service_toml, 0o600)
        for name, content in self.secret_files.items():
            self._write(self.app / name, content, 0o600)

        # The shipped examples, with the example paths replaced by ours.
        snippet = (EXAMPLES / "jwt-authd-fcgid.conf").read_text()
        wrapper = (EXAMPLES / "jwt-authd.fcgi").read_text()
        htaccess = (EXAMPLES / "htaccess").read_text()
        for text, needle in ((snippet, "/usr/local/bin/jwt-authd serve --config /etc/jwt-authd/apache.toml"),
                             (wrapper, "APP=/home/alice/jwt-authd")):
            assert needle in text, f"the example no longer contains {needle!r}: update apache.py"
        snippet = snippet.replace("/usr/local/bin/jwt-authd", str(self.app / "bin" / "jwt-authd"))
        snippet = snippet.replace("/etc/jwt-authd/apache.toml", str(self.config_path))
        (self.root / "jwt-authd-fcgid.conf").write_text(snippet)
        wrapper_path = self.htdocs / "jwt-authd.fcgi"
        wrapper_path.write_text(wrapper.replace("APP=/home/alice/jwt-authd", f"APP={self.app}"))
        os.chmod(wrapper_path, 0o755)
        (self.htdocs / ".htaccess").write_text(htaccess)
        (self.htdocs / "index.html").write_text("static\n")

        lines = [
            f'ServerRoot "{self.root}"',
            "ServerName 127.0.0.1",
            f'PidFile "{self.root}/httpd.pid"',
            f'DefaultRuntimeDir "{self.root}"',
            f'ErrorLog "{self.error_log}"',
            "LogLevel warn fcgid:info",
            f'CustomLog "{self.access_log}" "%h \\"%r\\" %>s %D"',
            f"Listen 127.0.0.1:{self.vhost_port}",
            f"Listen 127.0.0.1:{self.htaccess_port}",
            *(f"LoadModule {name}_module {MODULES}/mod_{name}.so" for name in LOAD_MODULES),
            "StartServers 1",
            "ServerLimit 1",
            "ThreadsPerChild 16",
            "MaxRequestWorkers 16",
            "MinSpareThreads 1",
            "MaxSpareThreads 32",
            f'FcgidIPCDir "{self.root}/fcgid"',
            f'FcgidProcessTableFile "{self.root}/fcgid.shm"',
        ]
        if self.as_root:
            lines += [f"User {self.run_as.pw_name}", f"Group {self.run_as.pw_name}"]
        lines += [
            "<Directory />",
            "    AllowOverride None",
            "    Options None",
            "    Require all denied",
            "</Directory>",
            f'<Directory "{self.empty}">',
            "    Require all granted",
            "</Directory>",
            f'<Directory "{self.htdocs}">',
            "    AllowOverride All",
            "    Options FollowSymLinks",
            "    Require all granted",
            "</Directory>",
            f"<VirtualHost 127.0.0.1:{self.vhost_port}>",
            f'    DocumentRoot "{self.empty}"',
            *(f"    FcgidInitialEnv {key} {value}" for key, value in self.vhost_env.items()),
            f'    Include "{self.root}/jwt-authd-fcgid.conf"',
            "</VirtualHost>",
            f"<VirtualHost 127.0.0.1:{self.htaccess_port}>",
            f'    DocumentRoot "{self.htdocs}"',
            "</VirtualHost>",
        ]
        self.conf.write_text("\n".join(lines) + "\n")

    # Process

    def start(self, mariadb_socket, timeout=15.0):
        self.render()
        if self.as_root:
            for path in (self.root, self.authd_bin, mariadb_socket):
                grant_search(path, self.granted)
        check = subprocess.run([self.binary, "-t", "-f", str(self.conf)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"apache2 -t refused {self.conf}:\n{check.stderr}")
        with open(self.root / "apache.out", "ab") as out:
            self.proc = subprocess.Popen([self.binary, "-f", str(self.conf), "-DFOREGROUND"],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

        def listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"apache2 exited with {self.proc.returncode}:\n{harness.tail(self.error_log)}")
            try:
                for port in (self.vhost_port, self.htaccess_port):
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False

        try:
            harness.wait_until(listening, timeout, f"apache2 on ports {self.vhost_port}, {self.htaccess_port}")
        except BaseException:
            self.stop()
            raise
        return self

    def service_pids(self):
        """The jwt-authd processes mod_fcgid started for us (their command lines name our folder)."""
        return [pid for pid in processes_mentioning(str(self.config_path)) if self.proc is None or pid != self.proc.pid]

    def stop(self, timeout=15.0):
        """SIGTERM (Apache stops its children; mod_fcgid sends SIGTERM to the FastCGI processes), then
        SIGKILL to the process group. Returns the PIDs of jwt-authd processes still alive after ``timeout``
        (killed before returning): empty when Apache stopped everything it started."""
        leftovers = []
        if self.proc is not None:
            harness.stop_process(self.proc, (signal.SIGTERM,), timeout)
            self.proc = None
            try:
                harness.wait_until(lambda: not self.service_pids(), timeout, "the FastCGI processes to exit")
            except TimeoutError:
                leftovers = self.service_pids()
                for pid in leftovers:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        restore_modes(self.granted)
        return leftovers

    def url(self, variant, path):
        port = self.vhost_port if variant == "vhost" else self.htaccess_port
        return f"http://127.0.0.1:{port}{path}"
