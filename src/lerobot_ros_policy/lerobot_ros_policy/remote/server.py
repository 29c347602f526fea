"""`lerobot-ros policy-server`: checkpoints loaded once, served to many robots over Zenoh (no ROS).

* Models come from a manifest (YAML), loaded and warmed up at startup; a request never loads one.
* Stateless per request: each INFER carries the whole observation, the task and the RTC prefix.
  What a session keeps is only its validated handshake and its own copy of the processor
  pipelines, so a stateful processor step never leaks from one robot to another.
* One inference worker thread owns the device and runs requests in arrival order; a new request
  of a session replaces its older pending one (newest wins, the old one is answered `superseded`),
  and a request that waited past its deadline is answered `expired` instead of computed.
* Every request ends in one audit log line; `/health` and `/metrics` (Prometheus) over HTTP.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import threading
import time
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lerobot_ros_policy.checkpoint import (
    CheckpointError,
    FeatureMismatchError,
    FeatureType,
    ObservationError,
    check_names,
    load_checkpoint,
)
from lerobot_ros_policy.remote import protocol
from lerobot_ros_policy.remote.protocol import ErrorCode, Header, Kind, ProtocolError
from lerobot_ros_policy.remote.transport import ZenohConfig, server_key
from lerobot_ros_policy.runtimes import PolicyRuntime, PrefixGuidance, runtime_class

LOG = logging.getLogger("lerobot_ros.policy_server")
DTYPES = ("float32",)
Reply = Callable[[bytes], None]


@dataclass(frozen=True)
class ModelEntry:
    """One manifest model: a checkpoint loaded at startup under `name`."""

    name: str
    path: str
    revision: str | None = None
    device: str = "cpu"
    dtype: str = "float32"
    warmup: int = 1
    """Forward passes on a zero observation before serving (CUDA kernels, allocator)."""
    backend: str = "native"
    action_names: tuple[str, ...] | None = None
    """The dataset's action column names in order; when given, a robot must send the same."""
    options: dict[str, Any] = field(default_factory=dict)
    """Runtime-specific keyword arguments of `from_checkpoint` (e.g. a VLM backbone folder)."""


@dataclass(frozen=True)
class ServerConfig:
    models: tuple[ModelEntry, ...]
    name: str = "default"
    """Servers answer on key `lerobot_ros/policy/<name>`; several can share a Zenoh network."""
    transport: ZenohConfig = field(default_factory=lambda: ZenohConfig(listen=("tcp/0.0.0.0:7447",)))
    http_host: str = "127.0.0.1"
    http_port: int = 8751
    """Health and metrics endpoint; 0 picks a free port (printed at startup)."""
    max_message_bytes: int = protocol.DEFAULT_MAX_MESSAGE_BYTES
    max_sessions: int = 64
    session_idle_s: float = 600.0
    """Sessions silent for longer are forgotten (their robot says hello again)."""

    @classmethod
    def from_yaml(cls, path: str | Path) -> ServerConfig:
        where = str(path)
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        unknown = set(data) - {
            "models",
            "name",
            "transport",
            "http",
            "max_message_bytes",
            "max_sessions",
            "session_idle_s",
        }
        if unknown:
            raise ValueError(f"{where}: unknown manifest keys {sorted(unknown)}")
        models = []
        for index, item in enumerate(data.get("models") or []):
            raw = dict(item)
            base = Path(path).parent
            if "path" in raw and not Path(raw["path"]).is_absolute() and (base / raw["path"]).exists():
                raw["path"] = str(base / raw["path"])
            if raw.get("action_names") is not None:
                raw["action_names"] = tuple(raw["action_names"])
            try:
                entry = ModelEntry(**raw)
            except TypeError as error:
                raise ValueError(f"{where}: models[{index}]: {error}") from None
            if entry.dtype not in DTYPES:
                raise ValueError(
                    f"{where}: model '{entry.name}': dtype '{entry.dtype}' (this suite's runtimes run {DTYPES})"
                )
            models.append(entry)
        if not models:
            raise ValueError(f"{where}: the manifest lists no models")
        names = [m.name for m in models]
        if len(set(names)) != len(names):
            raise ValueError(f"{where}: duplicate model names in {names}")
        http = data.get("http") or {}
        transport = {"transport": ZenohConfig.from_mapping(data["transport"], where)} if "transport" in data else {}
        return cls(
            models=tuple(models),
            name=data.get("name", "default"),
            **transport,
            http_host=http.get("host", "127.0.0.1"),
            http_port=int(http.get("port", 8751)),
            max_message_bytes=int(data.get("max_message_bytes", protocol.DEFAULT_MAX_MESSAGE_BYTES)),
            max_sessions=int(data.get("max_sessions", 64)),
            session_idle_s=float(data.get("session_idle_s", 600.0)),
        )


def zero_observation(runtime: PolicyRuntime) -> dict[str, np.ndarray]:
    """An observation of the right shapes (images uint8 HWC), for warm-up."""
    observation = {}
    for key, feature in runtime.input_features.items():
        if feature.type == FeatureType.VISUAL:
            channels, height, width = feature.shape
            observation[key] = np.zeros((height, width, channels), np.uint8)
        else:
            observation[key] = np.zeros(feature.shape, np.float32)
    return observation


def fingerprint(root: Path) -> str:
    """Identity of a checkpoint's content: sha256 of config.json and model.safetensors."""
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        with (root / name).open("rb") as file:
            while block := file.read(1 << 22):
                digest.update(block)
    return digest.hexdigest()[:16]


class LoadedModel:
    """A manifest entry's runtime, loaded once; sessions get copies sharing the weights."""

    def __init__(self, entry: ModelEntry) -> None:
        self.entry = entry
        checkpoint = load_checkpoint(entry.path, revision=entry.revision)
        self.fingerprint = fingerprint(checkpoint.root)
        runtime = runtime_class(checkpoint.config.type, entry.backend)
        self.runtime = runtime.from_checkpoint(checkpoint, entry.device, **entry.options)
        started = time.monotonic()
        for _ in range(entry.warmup):
            self.runtime.predict_chunk(zero_observation(self.runtime), "")
        self.warmup_s = time.monotonic() - started

    def session_runtime(self) -> PolicyRuntime:
        """A runtime sharing the model but with its own processor pipelines (and their state)."""
        clone = copy.copy(self.runtime)
        for name in ("preprocessor", "postprocessor", "_validator"):
            if hasattr(clone, name):
                setattr(clone, name, copy.deepcopy(getattr(self.runtime, name)))
        clone.reset()
        return clone

    def describe(self) -> dict[str, Any]:
        config = self.runtime.config
        return {
            "model": self.entry.name,
            "policy_type": config.type,
            "revision": self.entry.revision,
            "fingerprint": self.fingerprint,
            "config": config.raw,
            "action_names": list(self.entry.action_names) if self.entry.action_names else None,
        }


def handshake_problems(model: LoadedModel, body: dict[str, Any]) -> list[str]:
    """Why this robot cannot run this model (empty: it can): action names and order, the features
    it provides (cameras, state sizes), the identity it expects."""
    problems = []
    runtime = model.runtime
    action_names = protocol.string_list(body, "action_names")
    if len(action_names) != runtime.action_dim:
        problems.append(
            f"the robot has {len(action_names)} action columns {action_names}, the model {runtime.action_dim}"
        )
    elif model.entry.action_names is not None:
        try:
            check_names(model.entry.action_names, action_names, what="action names")
        except FeatureMismatchError as error:
            problems.append(str(error))
    provided = protocol.field(body, "features", dict)
    for key, feature in runtime.input_features.items():
        shape = provided.get(key)
        if shape is None:
            kind = "camera" if feature.type == FeatureType.VISUAL else "feature"
            problems.append(f"{kind} '{key}' {list(feature.shape)} is required by the model but the robot has none")
        elif list(shape) != list(feature.shape):
            problems.append(f"'{key}': the model expects {list(feature.shape)}, the robot provides {list(shape)}")
    expect = protocol.field(body, "expect", dict, optional=True) or {}
    identity = {"policy_type": runtime.config.type, "revision": model.entry.revision, "fingerprint": model.fingerprint}
    for key, value in expect.items():
        if key not in identity:
            problems.append(f"unknown expectation '{key}'")
        elif value is not None and value != identity[key]:
            problems.append(f"the robot expects {key} {value!r}, the server has {identity[key]!r}")
    return problems


@dataclass
class Session:
    id: str
    client: str
    model: LoadedModel
    runtime: PolicyRuntime
    episode: int = 0
    last_seen: float = field(default_factory=time.monotonic)


@dataclass
class Pending:
    session: Session
    header: Header
    body: dict[str, Any]
    reply: Reply
    received: float
    size: int


class Metrics:
    """Counters and latency histograms in Prometheus' text format."""

    BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.outcomes: dict[tuple[str, str], int] = {}
        self.histograms: dict[str, list[float]] = {"inference": [], "queue_wait": []}
        self._buckets = {name: [0] * len(self.BUCKETS) for name in self.histograms}
        self._sums = dict.fromkeys(self.histograms, 0.0)
        self._counts = dict.fromkeys(self.histograms, 0)

    def outcome(self, model: str, outcome: str) -> None:
        with self._lock:
            self.outcomes[(model, outcome)] = self.outcomes.get((model, outcome), 0) + 1

    def observe(self, name: str, seconds: float) -> None:
        with self._lock:
            self._sums[name] += seconds
            self._counts[name] += 1
            for i, bound in enumerate(self.BUCKETS):
                if seconds <= bound:
                    self._buckets[name][i] += 1

    def render(self, gauges: dict[str, float]) -> str:
        lines = [
            "# HELP lerobot_policy_requests_total Requests by model and outcome.",
            "# TYPE lerobot_policy_requests_total counter",
        ]
        with self._lock:
            for (model, outcome), count in sorted(self.outcomes.items()):
                lines.append(f'lerobot_policy_requests_total{{model="{model}",outcome="{outcome}"}} {count}')
            for name in self.histograms:
                metric = f"lerobot_policy_{name}_seconds"
                lines += [
                    f"# HELP {metric} Seconds per request ({name.replace('_', ' ')}).",
                    f"# TYPE {metric} histogram",
                ]
                for bound, count in zip(self.BUCKETS, self._buckets[name], strict=True):
                    lines.append(f'{metric}_bucket{{le="{bound}"}} {count}')
                lines += [
                    f'{metric}_bucket{{le="+Inf"}} {self._counts[name]}',
                    f"{metric}_sum {self._sums[name]:.6f}",
                    f"{metric}_count {self._counts[name]}",
                ]
        for name, value in gauges.items():
            lines += [f"# TYPE lerobot_policy_{name} gauge", f"lerobot_policy_{name} {value}"]
        return "\n".join(lines) + "\n"


class PolicyServer:
    """The protocol core: `handle(message, reply)` for each received message; `serve()` adds Zenoh
    and HTTP around it."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self.models: dict[str, LoadedModel] = {}
        for entry in config.models:
            model = LoadedModel(entry)
            self.models[entry.name] = model
            LOG.info(
                "loaded model=%s type=%s path=%s device=%s fingerprint=%s warmup_ms=%.1f",
                entry.name,
                model.runtime.config.type,
                entry.path,
                entry.device,
                model.fingerprint,
                model.warmup_s * 1e3,
            )
        self.metrics = Metrics()
        self.started = time.monotonic()
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Condition()
        self._pending: OrderedDict[str, Pending] = OrderedDict()
        self._closed = False
        self._worker = threading.Thread(target=self._run_worker, name="policy-server-inference", daemon=True)
        self._worker.start()

    # Messages ----------------------------------------------------------------------------------

    def handle(self, message: bytes, reply: Reply) -> None:
        """Answer `message` through `reply` (now, or from the inference worker); never raises."""
        try:
            header = protocol.decode_header(message, self.config.max_message_bytes)
        except ProtocolError as error:
            code = ErrorCode.OVERSIZED if len(message) > self.config.max_message_bytes else ErrorCode.MALFORMED
            self._refuse(Header(Kind.ERROR), code, str(error), reply, session="-", size=len(message))
            return
        try:
            header, body = protocol.decode(message, self.config.max_message_bytes)
            if header.kind == Kind.HELLO:
                self._hello(header, body, reply)
            elif header.kind == Kind.INFER:
                self._infer(header, body, reply, len(message))
            else:
                raise ProtocolError(f"a server does not accept {header.kind.name} messages")
        except ProtocolError as error:
            code = ErrorCode.SCHEMA if header.schema != protocol.SCHEMA_VERSION else ErrorCode.MALFORMED
            self._refuse(header, code, str(error), reply, session="-", size=len(message))
        except Exception as error:  # a bug here must not leave the robot waiting for its timeout
            detail = traceback.format_exception_only(type(error), error)[-1].strip()
            self._refuse(header, ErrorCode.FAILED, detail, reply, session="-", size=len(message))

    def _refuse(self, header: Header, code: str, message: str, reply: Reply, *, session: str, size: int) -> None:
        self.metrics.outcome("-", code)
        LOG.warning(
            "request session=%s seq=%d episode=%d kind=%s bytes=%d outcome=%s detail=%s",
            session,
            header.sequence,
            header.episode,
            header.kind.name,
            size,
            code,
            message,
        )
        reply(protocol.encode(header.reply(Kind.ERROR), protocol.error_body(code, message)))

    def _hello(self, header: Header, body: dict[str, Any], reply: Reply) -> None:
        session_id = protocol.field(body, "session", str)
        client = protocol.field(body, "client", str)
        name = protocol.field(body, "model", str)
        model = self.models.get(name)
        if model is None:
            problems = [f"no model '{name}' on this server (serving {sorted(self.models)})"]
        else:
            problems = handshake_problems(model, body)
        if problems:
            self._refuse(header, ErrorCode.REFUSED, "; ".join(problems), reply, session=session_id, size=0)
            return
        assert model is not None
        with self._lock:
            self._expire_sessions()
            if session_id not in self._sessions and len(self._sessions) >= self.config.max_sessions:
                problem = f"server full: {len(self._sessions)} sessions (max_sessions {self.config.max_sessions})"
                self._refuse(header, ErrorCode.REFUSED, problem, reply, session=session_id, size=0)
                return
            self._sessions[session_id] = Session(session_id, client, model, model.session_runtime(), header.episode)
        LOG.info("session open session=%s client=%s model=%s", session_id, client, name)
        self.metrics.outcome(name, "hello")
        reply(protocol.encode(header.reply(Kind.WELCOME), {**model.describe(), "session": session_id}))

    def _expire_sessions(self) -> None:
        now = time.monotonic()
        for session_id in [s.id for s in self._sessions.values() if now - s.last_seen > self.config.session_idle_s]:
            del self._sessions[session_id]
            LOG.info("session expired session=%s", session_id)

    def _infer(self, header: Header, body: dict[str, Any], reply: Reply, size: int) -> None:
        session_id = protocol.field(body, "session", str)
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                self._refuse(
                    header,
                    ErrorCode.UNKNOWN_SESSION,
                    f"no session '{session_id}': hello first",
                    reply,
                    session=session_id,
                    size=size,
                )
                return
            session.last_seen = time.monotonic()
            pending = Pending(session, header, body, reply, time.monotonic(), size)
            superseded = self._pending.pop(session_id, None)
            self._pending[session_id] = pending
            self._lock.notify()
        if superseded is not None:
            self._finish(superseded, ErrorCode.SUPERSEDED, f"replaced by request {header.sequence}")

    # Inference worker ---------------------------------------------------------------------------

    def _run_worker(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                _, pending = self._pending.popitem(last=False)
            self._compute(pending)

    def _compute(self, pending: Pending) -> None:
        session, body = pending.session, pending.body
        queue_wait = time.monotonic() - pending.received
        self.metrics.observe("queue_wait", queue_wait)
        try:
            deadline = protocol.field(body, "deadline_s", (int, float), optional=True)
            if deadline is not None and queue_wait > deadline:
                detail = f"waited {queue_wait * 1e3:.0f} ms, deadline {deadline * 1e3:.0f} ms"
                self._finish(pending, ErrorCode.EXPIRED, detail, queue_wait=queue_wait)
                return
            decode_started = time.monotonic()
            observation, task, guidance = self._request_inputs(session, body)
            extra = {"noise": protocol.unpack_array(body["noise"], "noise")} if body.get("noise") is not None else {}
            decode = time.monotonic() - decode_started
            if pending.header.episode != session.episode:
                session.runtime.reset()
                session.episode = pending.header.episode
            started = time.monotonic()
            chunk = session.runtime.predict_chunk(observation, task, guidance, **extra)
            chunk = np.asarray(chunk, dtype=np.float32)
        except (ProtocolError, ObservationError, CheckpointError, ValueError) as error:
            self._finish(pending, ErrorCode.BAD_REQUEST, str(error), queue_wait=queue_wait)
            return
        except Exception as error:  # the server lives on; the robot holds
            detail = traceback.format_exception_only(type(error), error)[-1].strip()
            self._finish(pending, ErrorCode.FAILED, detail, queue_wait=queue_wait)
            return
        inference = time.monotonic() - started
        self.metrics.observe("inference", inference)
        reply = {
            "actions": protocol.pack_array(chunk),
            "queue_wait_s": queue_wait,
            "decode_s": decode,
            "inference_s": inference,
        }
        self._finish(pending, "ok", "", queue_wait=queue_wait, inference=inference, body=reply)

    def _request_inputs(
        self, session: Session, body: dict[str, Any]
    ) -> tuple[dict[str, np.ndarray], str | None, PrefixGuidance | None]:
        raw = protocol.field(body, "observation", dict)
        expected = session.runtime.input_features
        unknown = sorted(set(raw) - set(expected))
        if unknown:
            raise ProtocolError(f"observation keys {unknown} are not inputs of model '{session.model.entry.name}'")
        observation = {}
        for key, value in raw.items():
            if expected[key].type == FeatureType.VISUAL:
                observation[key] = protocol.unpack_image(value, key)
            else:
                observation[key] = protocol.unpack_array(value, key)
        task = protocol.field(body, "task", str, optional=True)
        guidance = None
        spec = protocol.field(body, "guidance", dict, optional=True)
        if spec is not None:
            schedule = protocol.field(spec, "schedule", str)
            if schedule not in ("linear", "exp", "ones", "zeros"):
                raise ProtocolError(f"guidance schedule '{schedule}' is not linear, exp, ones or zeros")
            guidance = PrefixGuidance(
                prefix=protocol.unpack_array(spec.get("prefix"), "guidance.prefix"),
                delay=protocol.field(spec, "delay", int),
                execution_horizon=protocol.field(spec, "execution_horizon", int),
                schedule=schedule,
                max_guidance_weight=float(protocol.field(spec, "max_guidance_weight", (int, float))),
            )
        return observation, task, guidance

    def _finish(
        self,
        pending: Pending,
        outcome: str,
        detail: str,
        *,
        queue_wait: float = 0.0,
        inference: float = 0.0,
        body: dict[str, Any] | None = None,
    ) -> None:
        header, session = pending.header, pending.session
        self.metrics.outcome(session.model.entry.name, outcome)
        log = LOG.info if outcome == "ok" else LOG.warning
        log(
            "request session=%s client=%s model=%s seq=%d episode=%d bytes=%d queue_wait_ms=%.2f "
            "inference_ms=%.2f outcome=%s%s",
            session.id,
            session.client,
            session.model.entry.name,
            header.sequence,
            header.episode,
            pending.size,
            queue_wait * 1e3,
            inference * 1e3,
            outcome,
            f" detail={detail}" if detail else "",
        )
        if body is None:
            message = protocol.encode(header.reply(Kind.ERROR), protocol.error_body(outcome, detail))
        else:
            message = protocol.encode(header.reply(Kind.CHUNK), body)
        try:
            pending.reply(message)
        except Exception as error:  # the robot went away meanwhile
            LOG.warning("reply to session=%s seq=%d failed: %s", session.id, header.sequence, error)

    # Health ------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        with self._lock:
            sessions, pending = len(self._sessions), len(self._pending)
        return {
            "status": "ok",
            "server": self.config.name,
            "uptime_s": round(time.monotonic() - self.started, 3),
            "sessions": sessions,
            "pending": pending,
            "models": {
                name: {"policy_type": m.runtime.config.type, "device": m.entry.device, "fingerprint": m.fingerprint}
                for name, m in self.models.items()
            },
        }

    def metrics_text(self) -> str:
        health = self.health()
        return self.metrics.render(
            {
                "sessions": health["sessions"],
                "pending_requests": health["pending"],
                "uptime_seconds": health["uptime_s"],
            }
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
        self._worker.join(5.0)

    # Serving -----------------------------------------------------------------------------------

    def serve(self, stop: threading.Event, on_ready: Callable[[str], None] = print) -> None:
        """Serve on Zenoh and HTTP until `stop` is set."""
        http = start_http(self, self.config.http_host, self.config.http_port)
        session = self.config.transport.open()
        key = server_key(self.config.name)

        def receive(query: Any) -> None:  # on a Zenoh thread; the query is answered later by `reply`
            payload = query.payload
            message = payload.to_bytes() if payload is not None else b""
            self.handle(message, lambda data: _answer(query, data))

        queryable = session.declare_queryable(key, receive)
        on_ready(
            f"policy-server '{self.config.name}' ready: key {key}, listening on {list(self.config.transport.listen)}, "
            f"connected to {list(self.config.transport.connect)}, http http://{http.server_address[0]}:"
            f"{http.server_address[1]} (/health, /metrics), models {sorted(self.models)}"
        )
        try:
            stop.wait()
        finally:
            queryable.undeclare()
            session.close()
            http.shutdown()
            self.close()


def _answer(query: Any, data: bytes) -> None:
    query.reply(query.key_expr, data)
    query.drop()


def start_http(server: PolicyServer, host: str, port: int) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                body, kind = json.dumps(server.health()).encode(), "application/json"
            elif self.path == "/metrics":
                body, kind = server.metrics_text().encode(), "text/plain; version=0.0.4"
            else:
                self.send_error(404, "try /health or /metrics")
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            LOG.debug("http %s", format % args)

    http = ThreadingHTTPServer((host, port), Handler)
    http.daemon_threads = True
    threading.Thread(target=http.serve_forever, name="policy-server-http", daemon=True).start()
    return http
