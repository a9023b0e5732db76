"""Network latency between Galera nodes for the cluster tier (#19, test_cluster_latency.py): one network namespace
per node on 10.77.0.0/24 (the root namespace 10.77.0.1, node i 10.77.0.(10+i)), each node's outgoing packets
delayed (``delay`` ms ± ``jitter`` ms), so that node-to-node round trips take about twice the delay while jwt-authd
and nginx stay in the root namespace and reach node i at 10.77.0.(10+i) through the link.

Two ways to delay, chosen by :class:`LatencyLab` (``mode="auto"``):

- ``netem``: a Linux bridge in the root namespace holding 10.77.0.1, a veth pair from each namespace to it, and
  ``tc qdisc add dev <veth in the namespace> root netem delay D J`` (the kernel needs CONFIG_NET_SCH_NETEM).
- ``userspace``, when the kernel has no netem qdisc (``Specified qdisc kind is unknown``): a TUN device in each
  namespace and one in the root namespace, and a switch process (this file run as a program) that reads each IPv4
  packet from the device it left by and writes it to the device of its destination address, a packet that left a
  node after ``delay ± jitter`` (in order: a packet never overtakes an earlier one of the same node), one from the
  root namespace at once: what netem on the node's veth does. The TUN devices disappear with the switch process.

The root namespace's ``lo`` and its qdiscs are never touched; :meth:`LatencyLab.close` (also on a failed setup, and
at exit) kills what still runs in the namespaces, kills the switch and deletes the namespaces, veths and bridge.

Standard library only. As a program: ``python3 cluster_netns.py switch DELAY_MS JITTER_MS ROOT_DEV:ADDR
NODE_DEV:ADDR...`` (used by :class:`LatencyLab`).
"""

import atexit
import fcntl
import heapq
import ipaddress
import os
import random
import re
import secrets
import select
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import time

SUBNET = "10.77.0"
GATEWAY = f"{SUBNET}.1"
PREFIX = 24
TUN_MTU = 9000  # fewer packets for the switch to move (an rsync SST is tens of MB)


def node_address(index):
    """Node ``index`` (1-based): 10.77.0.(10+index)."""
    return f"{SUBNET}.{10 + index}"


def ip(*args, check=True, netns=None):
    command = ["ip", *(("-n", netns) if netns else ()), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def unusable():
    """Why network namespaces cannot be used here (a sentence), or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (this runs as uid %d)" % os.geteuid()
    if shutil.which("ip") is None:
        return "no `ip` program (iproute2)"
    if subprocess.run(["ip", "netns", "list"], capture_output=True, timeout=10).returncode != 0:
        return "`ip netns list` fails"
    name = f"jwtprobe{secrets.token_hex(3)}"
    made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        return f"`ip netns add` fails: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)
    return None


def netem_available(netns, dev):
    """Whether ``tc ... netem`` can be added to ``dev`` in ``netns`` (added and removed again)."""
    if shutil.which("tc") is None:
        return False
    added = subprocess.run(["tc", "-n", netns, "qdisc", "add", "dev", dev, "root", "netem", "delay", "1ms"],
                           capture_output=True, timeout=10)
    if added.returncode != 0:
        return False
    subprocess.run(["tc", "-n", netns, "qdisc", "del", "dev", dev, "root"], capture_output=True, timeout=10)
    return True


class LatencyLab:
    """``size`` namespaces with delayed egress (see the module's docstring); a context manager.

    ``wrapper(i)`` is the command prefix that runs a program in node i's namespace, ``address(i)`` its address,
    ``mode`` ``netem`` or ``userspace`` once set up."""

    def __init__(self, size=3, delay_ms=2.0, jitter_ms=1.0, mode="auto", log_dir=None):
        assert mode in ("auto", "netem", "userspace")
        self.size = size
        self.delay_ms = float(delay_ms)
        self.jitter_ms = float(jitter_ms)
        self.requested = mode
        self.mode = None
        self.tag = secrets.token_hex(2)  # names stay under IFNAMSIZ (15): "jl1a2b" + "br"/"h1"/"v1"/"t1"
        self.namespaces = [f"jl{self.tag}n{index}" for index in range(1, size + 1)]
        self.bridge = f"jl{self.tag}br"
        self.log_dir = log_dir
        self.switch = None
        self.created = []  # namespaces created so far
        self.closed = False

    # -- names ---------------------------------------------------------------------------------------------------

    def namespace(self, index):
        return self.namespaces[index - 1]

    def address(self, index):
        return node_address(index)

    def addresses(self):
        return [node_address(index) for index in range(1, self.size + 1)]

    def wrapper(self, index):
        return ("ip", "netns", "exec", self.namespace(index))

    def wrappers(self):
        return [self.wrapper(index) for index in range(1, self.size + 1)]

    def describe(self):
        how = (f"tc netem delay {self.delay_ms:g}ms {self.jitter_ms:g}ms on each node's veth" if self.mode == "netem"
               else f"user-space TUN switch delaying each node's packets {self.delay_ms:g} ms ± {self.jitter_ms:g} ms "
                    "(this kernel has no netem qdisc)")
        return f"{self.size} network namespaces on {SUBNET}.0/{PREFIX}, {how}"

    # -- set up and tear down ------------------------------------------------------------------------------------

    def __enter__(self):
        return self.open()

    def __exit__(self, *exc):
        self.close()
        return False

    def open(self):
        in_use = ip("-4", "route", "show", "to", "match", f"{SUBNET}.0/{PREFIX}", check=False).stdout
        taken = [line for line in in_use.splitlines() if line.split()[0] != "default"]
        if taken:
            raise RuntimeError(f"{SUBNET}.0/{PREFIX} is in use here (another latency lab?): {taken}")
        atexit.register(self.close)
        try:
            for name in self.namespaces:
                ip("netns", "add", name)
                self.created.append(name)
                ip("link", "set", "lo", "up", netns=name)  # the namespace's own loopback, not the root's
            mode = self.requested
            if mode in ("auto", "netem"):
                self._bridge()
                if netem_available(self.namespace(1), self._veth_inside(1)):
                    mode = "netem"
                elif mode == "netem":
                    raise RuntimeError("tc netem is not available (CONFIG_NET_SCH_NETEM)")
                else:
                    self._unbridge()
                    mode = "userspace"
            if mode == "netem":
                for index in range(1, self.size + 1):
                    subprocess.run(["tc", "-n", self.namespace(index), "qdisc", "add", "dev", self._veth_inside(index),
                                    "root", "netem", "delay", f"{self.delay_ms:g}ms", f"{self.jitter_ms:g}ms"],
                                   check=True, capture_output=True, timeout=10)
            else:
                self._tun_switch()
            self.mode = mode
        except BaseException:
            self.close()
            raise
        return self

    def _veth_outside(self, index):
        return f"jl{self.tag}h{index}"

    def _veth_inside(self, index):
        return f"jl{self.tag}v{index}"

    def _bridge(self):
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{GATEWAY}/{PREFIX}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for index in range(1, self.size + 1):
            outside, inside, netns = self._veth_outside(index), self._veth_inside(index), self.namespace(index)
            ip("link", "add", outside, "type", "veth", "peer", "name", inside)
            ip("link", "set", inside, "netns", netns)
            ip("link", "set", outside, "master", self.bridge)
            ip("link", "set", outside, "up")
            ip("addr", "add", f"{node_address(index)}/{PREFIX}", "dev", inside, netns=netns)
            ip("link", "set", inside, "up", netns=netns)

    def _unbridge(self):
        for index in range(1, self.size + 1):
            ip("link", "del", self._veth_outside(index), check=False)
        ip("link", "del", self.bridge, check=False)

    def _tun_switch(self):
        root_dev = f"jl{self.tag}t0"
        devices = [(root_dev, GATEWAY)] + [(f"jl{self.tag}t{index}", node_address(index))
                                           for index in range(1, self.size + 1)]
        log = open(os.path.join(self.log_dir, f"switch-{self.tag}.log") if self.log_dir else os.devnull, "ab")
        self.switch = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "switch", str(self.delay_ms), str(self.jitter_ms),
             *(f"{dev}:{address}" for dev, address in devices)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log, start_new_session=True)
        log.close()
        line = self.switch.stdout.readline().decode().strip()
        if line != "ready":
            self.switch.wait(5)
            raise RuntimeError(f"the TUN switch did not start ({self.switch.returncode}): {line}")
        ip("addr", "add", f"{GATEWAY}/{PREFIX}", "dev", root_dev)
        ip("link", "set", root_dev, "up")
        for index, (dev, address) in enumerate(devices[1:], start=1):
            netns = self.namespace(index)
            ip("link", "set", dev, "netns", netns)
            ip("link", "set", dev, "mtu", str(TUN_MTU), netns=netns)
            ip("addr", "add", f"{address}/{PREFIX}", "dev", dev, netns=netns)
            ip("link", "set", dev, "up", netns=netns)
        ip("link", "set", root_dev, "mtu", str(TUN_MTU))

    def close(self):
        """Idempotent: processes still in the namespaces (those the tests started there) are killed, then the
        switch, the namespaces (with their veths) and the bridge go."""
        if self.closed:
            return
        self.closed = True
        for name in self.created:
            pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True, timeout=10).stdout
            for pid in pids.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
        if self.switch is not None and self.switch.poll() is None:
            self.switch.terminate()
            try:
                self.switch.wait(5)
            except subprocess.TimeoutExpired:
                self.switch.kill()
                self.switch.wait()
        for name in self.created:
            ip("netns", "del", name, check=False)
        if ip("link", "show", self.bridge, check=False).returncode == 0:
            self._unbridge()
        # Deleting a namespace destroys its veths (and so their root-side peers) asynchronously: wait a little.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.leftovers():
            time.sleep(0.1)
        atexit.unregister(self.close)

    def leftovers(self):
        """Links and namespaces of this lab still present (empty once closed)."""
        links = [line for line in ip("-o", "link", "show", check=False).stdout.splitlines()
                 if f"jl{self.tag}" in line]
        namespaces = [line for line in ip("netns", "list", check=False).stdout.splitlines()
                      if f"jl{self.tag}" in line]
        return links + namespaces

    # -- measuring -----------------------------------------------------------------------------------------------

    def rtt(self, source=1, target=2, count=10):
        """Round trips from node ``source``'s namespace to node ``target``'s address, in ms: ``(method, [ms])``,
        with ``ping`` when installed, otherwise TCP handshakes (connect() to a listener started in the target's
        namespace: SYN out, SYN-ACK back)."""
        address = node_address(target)
        if shutil.which("ping"):
            out = subprocess.run([*self.wrapper(source), "ping", "-n", "-c", str(count), "-i", "0.2", address],
                                 capture_output=True, text=True, timeout=30).stdout
            return "ping", [float(value) for value in re.findall(r"time=([\d.]+) ms", out)]
        port = 40000 + random.randrange(20000)
        listener = subprocess.Popen([*self.wrapper(target), sys.executable, "-c", (
            "import socket, sys, time\n"
            f"s = socket.create_server(({address!r}, {port}), backlog=64)\n"
            "print('listening', flush=True)\n"
            "s.settimeout(15)\n"
            f"for _ in range({count + 1}):\n"
            "    s.accept()[0].close()\n")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            listener.stdout.readline()
            out = subprocess.run([*self.wrapper(source), sys.executable, "-c", (
                "import socket, time\n"
                "times = []\n"
                f"for _ in range({count + 1}):\n"
                "    started = time.perf_counter()\n"
                f"    c = socket.create_connection(({address!r}, {port}), timeout=5)\n"
                "    times.append((time.perf_counter() - started) * 1000)\n"
                "    c.close()\n"
                "    time.sleep(0.05)\n"
                "print(' '.join(f'{t:.3f}' for t in times[1:]))\n")],
                capture_output=True, text=True, timeout=30).stdout
        finally:
            listener.kill()
            listener.wait()
        return "tcp handshake", [float(value) for value in out.split()]

    def rtt_line(self, source=1, target=2, count=10):
        method, times = self.rtt(source, target, count)
        if not times:
            return f"node{source} -> node{target} RTT: no answer ({method})"
        return (f"node{source} -> node{target} RTT ({method}, {len(times)}): min {min(times):.2f} ms, median "
                f"{statistics.median(times):.2f} ms, max {max(times):.2f} ms")


# --- the switch (userspace mode) -------------------------------------------------------------------------------

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def switch(delay_ms, jitter_ms, root, nodes):
    """Moves IPv4 packets between the TUN devices by destination address: a packet read from a node's device is
    written ``delay ± jitter`` later (never before the node's previous one), one from the root's at once."""
    delay, jitter = delay_ms / 1000, jitter_ms / 1000
    devices = [root, *nodes]
    fds = {}
    by_address = {}
    for dev, address in devices:
        fd = open_tun(dev)
        fds[fd] = dev
        by_address[ipaddress.IPv4Address(address).packed] = fd
    root_fd = by_address[ipaddress.IPv4Address(root[1]).packed]
    print("ready", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    queue = []  # (due, sequence, fd, packet)
    last_due = {fd: 0.0 for fd in fds}
    sequence = 0
    moved = dropped = 0
    readable = list(fds)
    while not stopping:
        now = time.monotonic()
        timeout = max(0.0, queue[0][0] - now) if queue else 1.0
        try:
            # select(): its timeout has microseconds (epoll's and poll's round up to a millisecond).
            ready, _, _ = select.select(readable, [], [], timeout)
        except InterruptedError:
            continue
        for fd in ready:
            for _ in range(64):
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    break
                if len(packet) < 20 or packet[0] >> 4 != 4:
                    continue  # IPv4 only (IPv6 router solicitations and the like are dropped)
                target = by_address.get(packet[16:20])
                if target is None or target == fd:
                    dropped += 1
                    continue
                if fd == root_fd:
                    try:
                        os.write(target, packet)
                        moved += 1
                    except OSError:
                        dropped += 1
                    continue
                due = max(time.monotonic() + delay + random.uniform(-jitter, jitter), last_due[fd])
                last_due[fd] = due
                sequence += 1
                heapq.heappush(queue, (due, sequence, target, packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, target, packet = heapq.heappop(queue)
            try:
                os.write(target, packet)
                moved += 1
            except OSError:
                dropped += 1
    print(f"moved {moved}, dropped {dropped}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 5 and sys.argv[1] == "switch":
        pairs = [tuple(arg.split(":", 1)) for arg in sys.argv[4:]]
        switch(float(sys.argv[2]), float(sys.argv[3]), pairs[0], pairs[1:])
    else:
        sys.exit(__doc__)
