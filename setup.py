"""Build hook: ship the top-level ``schemas/`` inside the wheel as ``platestream/schemas/``.

The event contracts live at the top of the repository (``schemas/``), which is no package, so
package-data cannot reach them. A regular build copies them into the built ``platestream``
package, where ``platestream.serde`` looks first; an editable install keeps reading
``schemas/`` of the checkout. Everything else is configured in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SCHEMAS = Path(__file__).resolve().parent / "schemas"


class BuildPyWithSchemas(build_py):
    def _schema_targets(self) -> list[tuple[Path, Path]]:
        target = Path(self.build_lib, "platestream", "schemas")
        return [(src, target / src.relative_to(SCHEMAS)) for src in sorted(SCHEMAS.rglob("*.avsc"))]

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        # A fresh copy each build: a schema removed from schemas/ must not linger in build/.
        shutil.rmtree(Path(self.build_lib, "platestream", "schemas"), ignore_errors=True)
        for src, dst in self._schema_targets():
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return [*outputs, *(str(dst) for _, dst in self._schema_targets())]


setup(cmdclass={"build_py": BuildPyWithSchemas})
