"""The robot side of remote inference: a `PolicyRuntime` whose forward pass runs on a policy server.

The policy node uses it like a local runtime: its worker thread calls `predict_chunk` with the
observation, the task and the RTC prefix, one request at a time, and gets a chunk back in LeRobot
units. The action queue, the latency tracker (which then measures the whole round trip) and the
RTC prefix stay in the node's execution layer, on the robot's monotonic clock; only durations
measured on this machine are ever compared, never instants of the server.

The link's failures never raise into the control loop: they turn into the exceptions the
worker reports (the node holds) or into a fallback chunk, along a ladder

    READY → DEGRADED (a request failed or was slow: retried with the same observation)
          → STALLED (`stall_after` attempts failed: fallback hold / repeat_last / zero)
          → RECONNECTING (handshake again, exponential backoff)
          → DEAD (offline longer than `max_offline_s`: no more requests, hold until reset).

Before any chunk is executed the handshake has checked the schema version, the action names and
their order, the cameras and the state sizes on both sides.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml

from lerobot_ros_policy.checkpoint import (
    FeatureMismatchError,
    FeatureType,
    UnsupportedPolicyError,
    check_names,
    parse_policy_config,
    policy_shape,
)
from lerobot_ros_policy.remote import protocol
from lerobot_ros_policy.remote.protocol import ErrorCode, Header, Kind, ProtocolError
from lerobot_ros_policy.remote.transport import ZenohConfig, server_key
from lerobot_ros_policy.runtimes.base import Observation, PolicyRuntime, PrefixGuidance

REMOTE = "remote"
STALL_ACTIONS = ("hold", "repeat_last", "zero")
FLOW_MATCHING = ("smolvla", "pi0", "pi05")
# Diagnostic levels (diagnostic_msgs/DiagnosticStatus), without importing ROS here.
OK, WARN, ERROR = 0, 1, 2


class RemoteError(RuntimeError):
    """A request produced no chunk; the node holds (the message says why)."""


class RemoteRefusedError(RemoteError):
    """The server refused the handshake: this robot cannot run that model. Not retried."""


class RemoteStalledError(RemoteError):
    """The server did not answer in time; the client reconnects with backoff."""


class RemoteDeadError(RemoteError):
    """The server has been offline longer than `max_offline_s`: no more requests until `reset()`."""


class LinkState(StrEnum):
    CONNECTING = "connecting"
    READY = "ready"
    DEGRADED = "degraded"
    STALLED = "stalled"
    RECONNECTING = "reconnecting"
    DEAD = "dead"


@dataclass(frozen=True)
class RemoteClientConfig:
    server: str = "default"
    """Name of the policy server (its Zenoh key `lerobot_ros/policy/<server>`)."""
    transport: ZenohConfig = field(default_factory=lambda: ZenohConfig(connect=("tcp/127.0.0.1:7447",)))
    client_name: str = field(default_factory=socket.gethostname)
    image_encoding: str = "jpeg"
    """jpeg (small, lossy) or raw (exact: the chunks equal local inference)."""
    jpeg_quality: int = 90
    connect_timeout_s: float = 10.0
    """How long the first handshake may take at startup."""
    request_timeout_s: float = 1.0
    """Per attempt; also the server-side deadline of the request's queue wait."""
    max_reply_age_s: float = 0.5
    """Stale-action bound: a reply arriving later than this after its request is never executed."""
    degraded_rtt_s: float = 0.15
    """Round trips slower than this report the link as degraded."""
    stall_after: int = 2
    """Attempts per request before the link counts as stalled."""
    stall_action: str = "hold"
    """While stalled: hold (the node stops where the arm is heading), repeat_last (a chunk repeating
    the action due next, from the RTC prefix) or zero (a chunk of zeros: velocity-controlled robots)."""
    reconnect_backoff_s: tuple[float, float] = (0.1, 2.0)
    """First and longest wait between reconnection attempts (doubling)."""
    max_offline_s: float = 30.0
    expect: dict[str, str] = field(default_factory=dict)
    """Identity the model must have: policy_type, revision, fingerprint (see the server's log)."""
    max_message_bytes: int = protocol.DEFAULT_MAX_MESSAGE_BYTES

    def __post_init__(self) -> None:
        if self.image_encoding not in protocol.IMAGE_ENCODINGS:
            raise ValueError(f"image_encoding '{self.image_encoding}' is not one of {protocol.IMAGE_ENCODINGS}")
        if self.stall_action not in STALL_ACTIONS:
            raise ValueError(f"stall_action '{self.stall_action}' is not one of {STALL_ACTIONS}")
        if self.stall_after < 1:
            raise ValueError(f"stall_after must be at least 1, got {self.stall_after}")

    @classmethod
    def from_yaml(cls, path: str | Path) -> RemoteClientConfig:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown remote client keys {sorted(unknown)} (known: {sorted(known)})")
        if "transport" in data:
            data["transport"] = ZenohConfig.from_mapping(data["transport"], str(path))
        if "reconnect_backoff_s" in data:
            data["reconnect_backoff_s"] = tuple(data["reconnect_backoff_s"])
        return cls(**data)


class Ladder:
    """The link's state machine (pure: times are passed in, seconds of the robot's monotonic clock)."""

    def __init__(self, config: RemoteClientConfig, now: float) -> None:
        self.config = config
        self.state = LinkState.CONNECTING
        self.reason = "connecting"
        self.offline_since: float | None = now
        self.failures = 0
        self.backoff = config.reconnect_backoff_s[0]
        self.next_attempt = now

    def succeeded(self, rtt: float) -> None:
        self.connected()
        slow = rtt > self.config.degraded_rtt_s
        self.state = LinkState.DEGRADED if slow else LinkState.READY
        self.reason = f"slow round trip {rtt * 1e3:.0f} ms" if slow else ""

    def connected(self) -> None:
        """A handshake succeeded."""
        self.failures = 0
        self.offline_since = None
        self.backoff = self.config.reconnect_backoff_s[0]
        self.state, self.reason = LinkState.READY, ""

    def failed(self, now: float, reason: str) -> None:
        """A request attempt failed: degraded, then stalled once `stall_after` in a row failed."""
        self.failures += 1
        self.offline_since = now if self.offline_since is None else self.offline_since
        self.reason = reason
        self.state = LinkState.STALLED if self.failures >= self.config.stall_after else LinkState.DEGRADED
        self._maybe_dead(now)

    def reconnect_failed(self, now: float, reason: str) -> None:
        self.offline_since = now if self.offline_since is None else self.offline_since
        self.state = LinkState.RECONNECTING
        self.reason = reason
        self.next_attempt = now + self.backoff
        self.backoff = min(self.backoff * 2, self.config.reconnect_backoff_s[1])
        self._maybe_dead(now)

    def _maybe_dead(self, now: float) -> None:
        if self.offline_since is not None and now - self.offline_since > self.config.max_offline_s:
            self.state = LinkState.DEAD
            self.reason = (
                f"server offline for {now - self.offline_since:.1f} s (max_offline_s {self.config.max_offline_s:g}): "
                f"stopped requesting; last error: {self.reason}"
            )

    def revive(self, now: float) -> None:
        """After `reset()`: try again from scratch."""
        self.__init__(self.config, now)  # type: ignore[misc]


def contract_features(contract: Any, rename_map: Mapping[str, str]) -> tuple[dict[str, list[int]], list[str]]:
    """What a robot with this feature contract provides, keyed by checkpoint names (policy layout),
    and its action column names in order."""
    features = {}
    for spec in contract.features_spec:
        if spec.key == "action":
            continue
        kind = FeatureType.VISUAL if spec.kind in ("image", "depth") else FeatureType.STATE
        features[rename_map.get(spec.key, spec.key)] = list(policy_shape(kind, spec.lerobot_feature()["shape"]))
    action = contract.action
    return features, list(action.names) if action is not None else []


@dataclass
class _Sent:
    header: Header
    sent: float


class RemoteRuntime(PolicyRuntime):
    """A policy served by `lerobot-ros policy-server`, behind the `PolicyRuntime` interface."""

    policy_type: ClassVar[str] = "*"
    backend: ClassVar[str] = REMOTE

    def __init__(
        self,
        model: str,
        config: RemoteClientConfig,
        features: Mapping[str, Sequence[int]],
        action_names: Sequence[str],
        *,
        rename_map: Mapping[str, str] | None = None,
    ) -> None:
        """Open the Zenoh session and do the handshake (retried up to `connect_timeout_s`);
        `RemoteRefusedError` when the server refuses this robot, `RemoteStalledError` when none answers."""
        self.model = model
        self.remote = config
        self._features = {k: list(v) for k, v in features.items()}
        self._action_names = list(action_names)
        self._rename_map = dict(rename_map or {})
        self._device = torch.device("cpu")
        self._lock = threading.Lock()
        self._ladder = Ladder(config, time.monotonic())
        self._session_id = uuid.uuid4().hex
        self._session_open = False
        self._sequence = 0
        self._episode = 0
        self._rtts: list[float] = []
        self._server_times: tuple[float, float] = (0.0, 0.0)
        self.requests = self.failures = self.fallbacks = 0
        self.last_reply: dict[str, float] = {}
        """Durations of the last chunk: round trip (this clock), server queue wait, decode, inference."""
        self._zenoh = config.transport.open()
        self._key = server_key(config.server)
        deadline = time.monotonic() + config.connect_timeout_s
        while True:
            try:
                self._handshake()
                break
            except RemoteStalledError:
                if time.monotonic() >= deadline:
                    self.close()
                    raise RemoteStalledError(
                        f"no policy server '{config.server}' answered on {list(config.transport.connect)} "
                        f"within {config.connect_timeout_s:g} s"
                    ) from None
                time.sleep(0.2)
            except RemoteError:
                self.close()
                raise

    @classmethod
    def for_contract(
        cls,
        model: str,
        config: RemoteClientConfig | str | Path,
        contract: Any,
        *,
        rename_map: Mapping[str, str] | None = None,
    ) -> RemoteRuntime:
        """The runtime for a robot described by a feature contract (what the policy node has)."""
        if not isinstance(config, RemoteClientConfig):
            config = RemoteClientConfig.from_yaml(config) if str(config) else RemoteClientConfig()
        rename_map = dict(rename_map or {})
        features, action_names = contract_features(contract, rename_map)
        return cls(model, config, features, action_names, rename_map=rename_map)

    @classmethod
    def from_checkpoint(cls, checkpoint: Any, device: str = "cpu", *, rename_map: Any = None) -> PolicyRuntime:
        raise UnsupportedPolicyError(
            "the remote backend loads no checkpoint here: use RemoteRuntime(model, config, ...)"
        )

    @property
    def rename_map(self) -> dict[str, str]:
        return dict(self._rename_map)

    @property
    def state(self) -> LinkState:
        with self._lock:
            return self._ladder.state

    # Transport ----------------------------------------------------------------------------------

    def _exchange(self, kind: Kind, body: dict[str, Any]) -> tuple[Header, dict[str, Any], float]:
        """One query, one reply: (header, body, round trip s); `RemoteStalledError` on silence."""
        self._sequence += 1
        sent = time.monotonic()
        header = Header(kind, self._sequence, self._episode, time.monotonic_ns())
        message = protocol.encode(header, body)
        try:
            replies = self._zenoh.get(self._key, payload=message, timeout=self.remote.request_timeout_s)
            answer = None
            for reply in replies:
                if reply.ok is not None:
                    answer = reply.ok.payload.to_bytes()
                    break
        except Exception as error:  # the transport's own failures are link failures
            raise RemoteStalledError(f"transport error: {type(error).__name__}: {error}") from None
        rtt = time.monotonic() - sent
        if answer is None:
            raise RemoteStalledError(f"no reply after {rtt * 1e3:.0f} ms (timeout {self.remote.request_timeout_s:g} s)")
        try:
            reply_header, reply_body = protocol.decode(answer, self.remote.max_message_bytes)
        except ProtocolError as error:
            raise RemoteError(f"unreadable reply: {error}") from None
        if (reply_header.sequence, reply_header.client_time_ns) != (header.sequence, header.client_time_ns):
            raise RemoteStalledError(f"reply to request {reply_header.sequence}, expected {header.sequence}")
        return reply_header, reply_body, rtt

    def _handshake(self) -> None:
        body = {
            "session": self._session_id,
            "client": self.remote.client_name,
            "model": self.model,
            "action_names": self._action_names,
            "features": self._features,
            "expect": dict(self.remote.expect),
        }
        header, reply, _ = self._exchange(Kind.HELLO, body)
        if header.kind == Kind.ERROR:
            code, message = reply.get("code"), reply.get("message")
            raise RemoteRefusedError(
                f"policy server '{self.remote.server}' refused model '{self.model}': [{code}] {message}"
            )
        if header.kind != Kind.WELCOME:
            raise RemoteError(f"handshake answered with {header.kind.name}")
        config = parse_policy_config(
            protocol.field(reply, "config", dict), f"server '{self.remote.server}' model '{self.model}'"
        )
        self._check_welcome(reply, config)
        self._config = config
        self.supports_prefix_guidance = config.type in FLOW_MATCHING
        self.identity = {k: reply.get(k) for k in ("policy_type", "revision", "fingerprint")}
        self._session_open = True
        with self._lock:
            self._ladder.connected()

    def _check_welcome(self, reply: dict[str, Any], config: Any) -> None:
        """The client's own check of the model it got (the server checked the same on its side)."""
        problems = []
        names = reply.get("action_names")
        if config.action_feature.shape[0] != len(self._action_names):
            problems.append(
                f"model has {config.action_feature.shape[0]} action columns, the robot {len(self._action_names)}"
            )
        elif names is not None:
            try:
                check_names(names, self._action_names, what="action names")
            except FeatureMismatchError as error:
                problems.append(str(error))
        for key, feature in config.input_features.items():
            if list(self._features.get(key, ())) != list(feature.shape):
                problems.append(f"'{key}': model {list(feature.shape)}, robot {self._features.get(key)}")
        if problems:
            raise RemoteRefusedError(f"model '{self.model}' does not fit this robot: " + "; ".join(problems))

    # PolicyRuntime ------------------------------------------------------------------------------

    def reset(self) -> None:
        """New episode (the server resets the session's processor state); revives a dead link."""
        with self._lock:
            self._episode += 1
            if self._ladder.state == LinkState.DEAD:
                self._ladder.revive(time.monotonic())
                self._session_open = False

    def predict_chunk(
        self,
        observation: Observation,
        task: str | None = None,
        guidance: PrefixGuidance | None = None,
        noise: np.ndarray | None = None,
    ) -> np.ndarray:
        """As a local runtime; `noise` (flow-matching runtimes that take it) is sent along, so a
        chunk can be reproduced exactly on both sides."""
        with self._lock:
            state = self._ladder.state
        if state == LinkState.DEAD:
            time.sleep(self.remote.request_timeout_s)  # one refusal per timeout, not per control tick
            raise RemoteDeadError(self._ladder.reason)
        if not self._session_open and not self._reconnect():
            return self._fallback(guidance)
        body = self._request_body(observation, task, guidance)
        if noise is not None:
            body["noise"] = protocol.pack_array(np.asarray(noise, dtype=np.float32))
        for _ in range(self.remote.stall_after):
            self.requests += 1
            try:
                header, reply, rtt = self._exchange(Kind.INFER, body)
                if header.kind == Kind.ERROR and reply.get("code") == ErrorCode.UNKNOWN_SESSION:
                    self._handshake()  # the server restarted: open the session again, then resend
                    header, reply, rtt = self._exchange(Kind.INFER, body)
            except RemoteStalledError as error:
                self._failed(str(error))
                continue
            if header.kind == Kind.ERROR:
                code, message = reply.get("code"), reply.get("message")
                if code == ErrorCode.EXPIRED:  # the server is overloaded: the link is degraded
                    self._failed(f"server busy: {message}")
                    continue
                raise RemoteError(f"policy server '{self.remote.server}': [{code}] {message}")
            if rtt > self.remote.max_reply_age_s:
                self._failed(
                    f"stale reply: {rtt * 1e3:.0f} ms round trip (max_reply_age_s {self.remote.max_reply_age_s:g})"
                )
                continue
            chunk = protocol.unpack_array(reply.get("actions"), "actions").astype(np.float32)
            if chunk.ndim != 2 or chunk.shape[1] != self.action_dim:
                raise RemoteError(
                    f"server sent a chunk of shape {list(chunk.shape)}, expected [steps, {self.action_dim}]"
                )
            with self._lock:
                self._ladder.succeeded(rtt)
                self._rtts = [*self._rtts, rtt][-50:]
                self._server_times = (float(reply.get("queue_wait_s", 0.0)), float(reply.get("inference_s", 0.0)))
                self.last_reply = {"rtt_s": rtt, **{k: v for k, v in reply.items() if k.endswith("_s")}}
            return chunk
        return self._fallback(guidance)

    def _request_body(
        self, observation: Observation, task: str | None, guidance: PrefixGuidance | None
    ) -> dict[str, Any]:
        images = {key for key, feature in self._config.input_features.items() if feature.type == FeatureType.VISUAL}
        packed = {}
        for key, value in observation.items():
            name = self._rename_map.get(key, key)
            array = value.numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
            if name in images:
                packed[name] = protocol.pack_image(array, self.remote.image_encoding, self.remote.jpeg_quality)
            else:
                packed[name] = protocol.pack_array(array)
        body: dict[str, Any] = {
            "session": self._session_id,
            "observation": packed,
            "task": task,
            "deadline_s": self.remote.request_timeout_s,
        }
        if guidance is not None:
            body["guidance"] = {
                "prefix": protocol.pack_array(np.asarray(guidance.prefix, dtype=np.float32)),
                "delay": int(guidance.delay),
                "execution_horizon": int(guidance.execution_horizon),
                "schedule": guidance.schedule,
                "max_guidance_weight": float(guidance.max_guidance_weight),
            }
        return body

    def _failed(self, reason: str) -> None:
        self.failures += 1
        with self._lock:
            self._ladder.failed(time.monotonic(), reason)
            if self._ladder.state != LinkState.DEGRADED:
                self._session_open = False  # stalled: the next request starts with a new handshake

    def _reconnect(self) -> bool:
        """One handshake attempt, after waiting for its backoff slot (at most one request timeout)."""
        with self._lock:
            wait = self._ladder.next_attempt - time.monotonic()
        time.sleep(min(max(wait, 0.0), self.remote.request_timeout_s))
        if wait > self.remote.request_timeout_s:
            return False
        try:
            self._handshake()
        except RemoteRefusedError as error:  # e.g. the server came back with another model
            with self._lock:
                self._ladder.reconnect_failed(time.monotonic(), str(error))
            return False
        except RemoteError as error:
            with self._lock:
                self._ladder.reconnect_failed(time.monotonic(), f"reconnect: {error}")
            return False
        return True

    def _fallback(self, guidance: PrefixGuidance | None) -> np.ndarray:
        """What a stalled link returns instead of a chunk (see `RemoteClientConfig.stall_action`)."""
        self.fallbacks += 1
        with self._lock:
            reason = f"policy server '{self.remote.server}' {self._ladder.state}: {self._ladder.reason}"
            dead = self._ladder.state == LinkState.DEAD
        if dead:
            raise RemoteDeadError(reason)
        action = self.remote.stall_action
        if action == "zero":
            return np.zeros((self.chunk_size, self.action_dim), np.float32)
        if action == "repeat_last" and guidance is not None and len(guidance.prefix):
            return np.repeat(np.asarray(guidance.prefix[:1], np.float32), self.chunk_size, axis=0)
        raise RemoteStalledError(reason)

    # Observability ------------------------------------------------------------------------------

    def link_status(self) -> tuple[int, str, dict[str, object]]:
        """(diagnostic level, message, values) for the node's /diagnostics."""
        with self._lock:
            ladder = self._ladder
            rtts = list(self._rtts)
            queue_wait, inference = self._server_times
            level = {LinkState.READY: OK, LinkState.DEAD: ERROR}.get(ladder.state, WARN)
            values = {
                "state": str(ladder.state),
                "server": self.remote.server,
                "model": self.model,
                "rtt_p50_ms": f"{np.percentile(rtts, 50) * 1e3:.1f}" if rtts else "",
                "rtt_max_ms": f"{max(rtts) * 1e3:.1f}" if rtts else "",
                "server_queue_wait_ms": f"{queue_wait * 1e3:.1f}",
                "server_inference_ms": f"{inference * 1e3:.1f}",
                "requests": self.requests,
                "failed_attempts": self.failures,
                "fallbacks": self.fallbacks,
                "offline_s": "" if ladder.offline_since is None else f"{time.monotonic() - ladder.offline_since:.1f}",
            }
            return level, ladder.reason or str(ladder.state), values

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already closed
            self._zenoh.close()
