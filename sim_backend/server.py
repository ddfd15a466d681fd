"""Serve a simulated instrument over TCP so any VISA client can drive it
(``TCPIP::127.0.0.1::PORT::SOCKET``): newline-terminated messages in, replies out.

Each client gets its own thread and messages are executed one at a time under a lock, so an
idle client cannot block the next, and a busy one holds up others' commands as the instrument
would, except ``*IDN?``, answered at once (the identity never changes). The instrument keeps
its state across connections, and the wall-clock time between commands passes on the
instrument too (its output stays on). A malformed message queues an instrument error; a client
that sends garbage bytes or drops the connection ends only its own session.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
import time

from xbarlab.instruments.transport import MessageDevice

MAX_LINE = 1 << 20  # a list sweep of 100,000 points fits; longer lines end the session
_QUICKACK = getattr(socket, "TCP_QUICKACK", None)


class _Handler(socketserver.StreamRequestHandler):
    server: InstrumentServer

    def handle(self) -> None:
        sock = self.request
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        srv = self.server
        while True:
            # Acknowledge at once: a client with Nagle's algorithm on (pyvisa-py's sockets) holds
            # a second small write until the first is acknowledged, and a delayed ACK would cost
            # ~40 ms per command that has no reply. Linux resets the flag, so set it each time.
            if _QUICKACK is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
            try:
                line = self.rfile.readline(MAX_LINE)
            except OSError:
                return
            if not line:
                return
            if not line.endswith(b"\n"):
                return  # over-long or cut-off line: drop this client, keep serving
            text = line.decode("utf-8", errors="replace").rstrip("\r\n")
            if srv.latency_s:
                time.sleep(srv.latency_s)
            if text.strip().upper() == "*IDN?" and hasattr(srv.device, "idn"):
                reply = srv.device.idn  # immutable: answered even while another client's
                # long operation holds the instrument (a fresh connection can always identify)
            else:
                with srv.lock:
                    srv.elapse()
                    reply = srv.device.handle(text)
            if reply is not None:
                data = reply if isinstance(reply, bytes) else reply.encode("ascii", "replace")
                try:
                    self.wfile.write(data + b"\n")
                    self.wfile.flush()
                except OSError:
                    return


class InstrumentServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, device: MessageDevice, host: str = "127.0.0.1", port: int = 0,
                 latency_s: float = 0.0, lock: threading.Lock | None = None):
        self.device = device
        self.latency_s = latency_s
        # instruments wired to one bench share a lock: a pulse one fires is captured by another
        self.lock = lock or threading.Lock()
        self._last = time.monotonic()
        super().__init__((host, port), _Handler)

    def elapse(self) -> None:
        """Hand the instrument the wall-clock time since its last command: its output stayed
        at its level all along, and the device under test saw that (call under the lock)."""
        now = time.monotonic()
        elapse = getattr(self.device, "elapse", None)
        if elapse is not None:
            elapse(now - self._last)
        self._last = now

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def resource(self) -> str:
        return f"TCPIP::{self.server_address[0]}::{self.port}::SOCKET"

    def handle_error(self, request, client_address) -> None:
        pass  # a misbehaving client must not print tracebacks or stop the server

    def start_background(self) -> threading.Thread:
        t = threading.Thread(target=self.serve_forever, daemon=True, name="xbarlab-sim-serve")
        t.start()
        return t


SMUS = ("keithley2450", "keithley2600", "b2900", "b2902a", "b2962a")
# the pulse-bench instruments share one simulated cell
BENCH_INSTRUMENTS = ("33500b", "33600a", "b1500", "infiniivision", "mso", "11713c", "707b")
INSTRUMENTS = SMUS + BENCH_INSTRUMENTS


def default_pins(devices: int) -> list[tuple[int, int]]:
    """The simulated matrix's wiring unless told otherwise: device k's top terminal on column
    2k+1, its bottom on column 2k+2."""
    return [(2 * k + 1, 2 * k + 2) for k in range(devices)]


def make_bench(device: str = "pcm", seed: int = 0, state: float = 1.0, devices: int = 1,
               spread: float = 0.05):
    """The pulse bench the BENCH_INSTRUMENTS share, with ``devices`` ``pcm`` or ``rram``
    cells (several differ by ``spread``, see pulse_bench.device_models)."""
    from xbarlab.sim_backend.pulse_bench import PulseBench
    from xbarlab.sim_backend.pulsed_cell import PulsedPCM, PulsedRRAM

    kind = device.strip().lower()
    if kind not in ("pcm", "rram"):
        raise ValueError(f"device {device!r}: a pulse bench holds a pcm or rram cell")
    return PulseBench(PulsedPCM() if kind == "pcm" else PulsedRRAM(), state=state, seed=seed,
                      devices=devices, spread=spread)


def make_instrument(name: str, dut=None, *, bench=None):
    """A simulated instrument: an SMU on ``dut``, or a pulse-bench instrument on ``bench``."""
    if name in BENCH_INSTRUMENTS and bench is None:
        raise ValueError(f"instrument {name!r} needs a pulse bench (make_bench)")
    if name == "keithley2450":
        from xbarlab.sim_backend.sim_keithley2450 import SimKeithley2450

        return SimKeithley2450(dut)
    if name == "keithley2600":
        from xbarlab.sim_backend.sim_keithley2600 import SimKeithley2600

        return SimKeithley2600(dut)
    if name in ("b2900", "b2902a", "b2962a"):
        from xbarlab.sim_backend.sim_keysight_b2900 import SimKeysightB2900

        return SimKeysightB2900(dut, model="B2901A" if name == "b2900" else name.upper())
    if name in ("33500b", "33600a"):
        from xbarlab.sim_backend.sim_keysight_33500b import SimKeysight33500B

        return SimKeysight33500B(bench, model="33511B" if name == "33500b" else "33611A")
    if name == "infiniivision":
        from xbarlab.sim_backend.sim_infiniivision import SimInfiniiVision

        return SimInfiniiVision(bench)
    if name == "mso":
        from xbarlab.sim_backend.sim_tektronix_mso import SimTektronixMSO

        return SimTektronixMSO(bench)
    if name == "b1500":
        from xbarlab.sim_backend.sim_keysight_b1500 import SimKeysightB1500

        return SimKeysightB1500(bench)
    if name == "11713c":
        from xbarlab.sim_backend.sim_keysight_11713c import SimKeysight11713C

        return SimKeysight11713C(bench)
    if name == "707b":
        from xbarlab.sim_backend.sim_keithley707b import SimKeithley707B

        return SimKeithley707B(slots=2)
    raise ValueError(f"instrument {name!r}: use one of {', '.join(INSTRUMENTS)}")


def serve_group(names: list[str], device: str, seed: int, host: str = "127.0.0.1",
                port: int = 0, latency_s: float = 0.0, *, devices: int = 1,
                pins: list[tuple[int, int]] | None = None, spread: float = 0.05,
                state: float = 1.0) -> list[InstrumentServer]:
    """One server per instrument (ports from ``port`` up, or any free ones when 0). Pulse-bench
    instruments share one bench and one lock; an SMU served with them reads the bench's cell.
    Without a path switch (11713c, or the b1500's selector) among them the cell stays on the
    pulse path. With a 707b the bench's ``devices`` sit behind it at ``pins`` (default:
    :func:`default_pins`); more than one device needs it. ``state``: every device's start
    (crystalline fraction or filament, 0..1)."""
    from xbarlab.sim_backend.dut import make_dut

    for name in names:
        if name not in INSTRUMENTS:
            raise ValueError(f"instrument {name!r}: use one of {', '.join(INSTRUMENTS)}")
    routed = "707b" in names
    if devices > 1 and not routed:
        raise ValueError(f"devices {devices}: several devices need a switch matrix to route "
                         "them (serve the 707b too)")
    if pins is not None and len(pins) != devices:
        raise ValueError(f"pins: {len(pins)} pairs for {devices} devices")
    bench = lock = None
    if any(n in BENCH_INSTRUMENTS for n in names):
        from xbarlab.sim_backend.pulse_bench import SmuPort

        bench = make_bench(device, seed, state, devices=devices, spread=spread)
        lock = threading.Lock()
        bench.path = "pulse"
    servers: list[InstrumentServer] = []
    try:
        for k, name in enumerate(names):
            if name in BENCH_INSTRUMENTS:
                sim = make_instrument(name, bench=bench)
                if name == "707b":
                    bench.wire_matrix(sim, pins or default_pins(devices))
            else:
                sim = make_instrument(name, SmuPort(bench) if bench else make_dut(device, seed))
            servers.append(InstrumentServer(sim, host, port + k if port else 0, latency_s,
                                            lock=lock if bench else None))
    except BaseException:
        for server in servers:
            server.server_close()
        raise
    return servers
