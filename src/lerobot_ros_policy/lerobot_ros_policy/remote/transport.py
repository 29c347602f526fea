"""Zenoh sessions for the policy server and its clients (peer mode on a LAN, router mode for fleets).

The server declares one queryable per server name; a client sends each message as a query with a
timeout and gets one reply. Requests and replies are opaque bytes here (see `protocol`).
Mutual TLS: `tls/` endpoints plus a CA, a certificate and a private key on both sides; with
`mutual: true` each side refuses a peer whose certificate the CA did not sign.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

KEY_PREFIX = "lerobot_ros/policy"
MODES = ("peer", "client", "router")


@dataclass(frozen=True)
class TlsConfig:
    root_ca: str
    """CA certificate (PEM) that signed the other side's certificate."""
    certificate: str
    """This side's certificate chain (PEM)."""
    private_key: str
    """This side's private key (PEM)."""
    mutual: bool = True
    """Require and verify the other side's certificate (mutual TLS)."""
    verify_name: bool = True
    """Client side: the server certificate must name the host of the endpoint."""


@dataclass(frozen=True)
class ZenohConfig:
    """Where a session listens and what it connects to; endpoints like `tcp/192.168.1.20:7447`
    or `tls/gpu-box:7447`."""

    mode: str = "peer"
    listen: tuple[str, ...] = ()
    connect: tuple[str, ...] = ()
    multicast_scouting: bool = False
    """Zenoh's UDP multicast discovery; off by default so only the given endpoints are used."""
    tls: TlsConfig | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Further Zenoh configuration entries, `path: json value` (e.g. `transport/link/tx/lease`)."""

    @classmethod
    def from_mapping(cls, data: dict[str, Any], where: str) -> ZenohConfig:
        unknown = set(data) - {"mode", "listen", "connect", "multicast_scouting", "tls", "extra"}
        if unknown:
            raise ValueError(f"{where}: unknown transport keys {sorted(unknown)}")
        mode = data.get("mode", "peer")
        if mode not in MODES:
            raise ValueError(f"{where}: transport mode '{mode}' is not one of {MODES}")
        tls = data.get("tls")
        return cls(
            mode=mode,
            listen=tuple(data.get("listen", ())),
            connect=tuple(data.get("connect", ())),
            multicast_scouting=bool(data.get("multicast_scouting", False)),
            tls=TlsConfig(**tls) if tls else None,
            extra=dict(data.get("extra", {})),
        )

    def zenoh_config(self) -> Any:
        import zenoh

        config = zenoh.Config()
        config.insert_json5("mode", json.dumps(self.mode))
        config.insert_json5("listen/endpoints", json.dumps(list(self.listen)))
        config.insert_json5("connect/endpoints", json.dumps(list(self.connect)))
        config.insert_json5("scouting/multicast/enabled", json.dumps(self.multicast_scouting))
        if self.tls is not None:
            for name in ("root_ca", "certificate", "private_key"):
                path = getattr(self.tls, name)
                if not Path(path).is_file():
                    raise FileNotFoundError(f"TLS {name.replace('_', ' ')} file {path} does not exist")
            tls = {
                "root_ca_certificate": self.tls.root_ca,
                "listen_certificate": self.tls.certificate,
                "listen_private_key": self.tls.private_key,
                "connect_certificate": self.tls.certificate,
                "connect_private_key": self.tls.private_key,
                "enable_mtls": self.tls.mutual,
                "verify_name_on_connect": self.tls.verify_name,
            }
            config.insert_json5("transport/link/tls", json.dumps(tls))
        for path, value in self.extra.items():
            config.insert_json5(path, json.dumps(value))
        return config

    def open(self) -> Any:
        import zenoh

        return zenoh.open(self.zenoh_config())


def server_key(name: str) -> str:
    return f"{KEY_PREFIX}/{name}"
