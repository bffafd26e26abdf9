"""The generated protobuf code in router_ext/v1 matches proto/ (run `make proto` when not)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

PROTO_DIR = ROOT / "proto"
GENERATED = ROOT / "router_ext" / "v1"


def generate(out: Path) -> None:
    """Run the same protoc command as `make proto`, into `out`."""
    protos = sorted(str(p.relative_to(PROTO_DIR)) for p in PROTO_DIR.rglob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", "-I", str(PROTO_DIR),
         f"--python_out={out}", f"--grpc_python_out={out}", f"--pyi_out={out}", *protos],
        check=True, capture_output=True, text=True, timeout=60,
    )


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh = {p.relative_to(tmp_path / "router_ext" / "v1"): p.read_text()
             for p in (tmp_path / "router_ext" / "v1").iterdir() if p.is_file()}
    committed = {p.relative_to(GENERATED): p.read_text()
                 for p in GENERATED.iterdir() if p.is_file() and p.name != "__init__.py"}
    assert fresh, "protoc produced nothing"
    stale = sorted(str(name) for name, text in fresh.items() if committed.get(name) != text)
    extra = sorted(str(name) for name in committed.keys() - fresh.keys())
    assert not stale and not extra, f"run `make proto`: stale {stale}, unexpected {extra}"


def test_every_proto_has_generated_modules() -> None:
    for proto in PROTO_DIR.rglob("*.proto"):
        stem = proto.stem
        for suffix in ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"):
            assert (GENERATED / f"{stem}{suffix}").exists(), f"{stem}{suffix} missing"
