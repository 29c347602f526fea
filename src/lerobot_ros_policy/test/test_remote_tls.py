"""Mutual TLS between the policy server and its clients, on loopback, with a throwaway CA."""

from __future__ import annotations

import dataclasses
import datetime
import importlib.util
import ipaddress
from pathlib import Path

import numpy as np
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lerobot_ros_policy.remote import RemoteRuntime, RemoteStalledError, TlsConfig, ZenohConfig
from lerobot_ros_policy.runtimes import load_runtime

_spec = importlib.util.spec_from_file_location("remote_support", Path(__file__).with_name("remote_support.py"))
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

CAMERAS = {"front": (48, 64)}


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> tuple[str, str]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".pem")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return str(cert_path), str(key_path)


def make_pki(directory: Path, authority: str = "test CA") -> dict[str, str]:
    """A CA and two leaf certificates it signed (server: localhost/127.0.0.1, client)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name(authority))
        .issuer_name(_name(authority))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": _write(directory / "ca", ca_key, ca)[0]}
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(f"policy {role}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        )
        certificate = builder.sign(ca_key, hashes.SHA256())
        paths[f"{role}_cert"], paths[f"{role}_key"] = _write(directory / role, key, certificate)
    return paths


def test_mutual_tls_serves_signed_clients_and_refuses_others(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    (tmp_path / "other").mkdir()
    intruder = make_pki(tmp_path / "other", "other CA")
    checkpoint = support.make_checkpoint(tmp_path / "model", CAMERAS, seed=9)
    port = support.free_port()
    transport = {
        "listen": [f"tls/localhost:{port}"],
        "tls": {"root_ca": pki["ca"], "certificate": pki["server_cert"], "private_key": pki["server_key"]},
    }
    manifest = support.write_manifest(
        tmp_path / "manifest.yaml", port, [{"name": "act", "path": str(checkpoint)}], transport=transport
    )
    server = support.ServerProcess(manifest)
    server.start()
    local = load_runtime(checkpoint)
    features = {key: list(feature.shape) for key, feature in local.input_features.items()}
    observation = support.observations(1, CAMERAS, seed=4)[0]

    def client(tls: TlsConfig, timeout: float = 60.0) -> RemoteRuntime:
        config = support.client_config(
            port, transport=ZenohConfig(connect=(f"tls/localhost:{port}",), tls=tls), image_encoding="raw"
        )
        return RemoteRuntime(
            "act", dataclasses.replace(config, connect_timeout_s=timeout), features, support.ACTION_NAMES
        )

    try:
        trusted = client(TlsConfig(pki["ca"], pki["client_cert"], pki["client_key"]))
        try:
            np.testing.assert_array_equal(trusted.predict_chunk(observation), local.predict_chunk(observation))
        finally:
            trusted.close()
        # A client whose certificate another CA signed: the server refuses the link, no session opens.
        with pytest.raises(RemoteStalledError, match="no policy server 'default' answered"):
            client(TlsConfig(pki["ca"], intruder["client_cert"], intruder["client_key"]), timeout=5.0)
        assert sum("session open" in line for line in server.output) == 1
    finally:
        server.stop()
