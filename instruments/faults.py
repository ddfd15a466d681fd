"""A fault-injecting transport for reliability tests: seeded timeouts, garbled replies and
disconnects on top of any transport."""

from __future__ import annotations

import numpy as np
from xbarlab.instruments.errors import TransportClosed, TransportTimeout
from xbarlab.instruments.transport import Transport


class FaultyTransport(Transport):
    """Wraps ``inner``; each read times out (its reply is lost), comes back garbled, or the link
    drops, with the given probabilities. Once dropped, every call raises TransportClosed."""

    def __init__(
        self,
        inner: Transport,
        *,
        seed: int = 0,
        p_timeout: float = 0.0,
        p_garble: float = 0.0,
        p_disconnect: float = 0.0,
    ):
        super().__init__(timeout_s=inner.timeout_s)
        self.inner = inner
        self.rng = np.random.default_rng(seed)
        self.p_timeout, self.p_garble, self.p_disconnect = p_timeout, p_garble, p_disconnect
        self.dropped = False
        self.injected: list[str] = []

    def _maybe_drop(self) -> None:
        if self.dropped:
            raise TransportClosed("link dropped (injected)")
        if self.rng.random() < self.p_disconnect:
            self.dropped = True
            self.injected.append("disconnect")
            raise TransportClosed("link dropped (injected)")

    def _write(self, message: str) -> None:
        self._maybe_drop()
        self.inner.write(message)

    def _read(self) -> str:
        self._maybe_drop()
        reply = self.inner.read()
        u = self.rng.random()
        if u < self.p_timeout:
            self.injected.append("timeout")
            raise TransportTimeout("no reply within the timeout (injected)")
        if u < self.p_timeout + self.p_garble:
            self.injected.append("garble")
            chars = list(reply) or ["x"]
            for i in self.rng.integers(0, len(chars), max(1, len(chars) // 4)):
                chars[i] = chr(int(self.rng.integers(33, 127)))
            return "".join(chars) + "#"
        return reply

    def close(self) -> None:
        self.inner.close()
        super().close()
