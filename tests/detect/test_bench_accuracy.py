"""Accuracy bench: label parsing, region per folder, and a real smoke subset of the shared set."""

from __future__ import annotations

from pathlib import Path

import pytest

from platestream.errors import BadInputError
from services.detect import bench_accuracy as ba


def test_parse_label_file_several_lines_and_errors(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text("a.jpg\t10\t20\t100\t30\tab-12 cd\na.jpg 5 6 7 8 XY99\n", encoding="utf-8")
    labels = ba.parse_label_file(f)
    assert [lb.plate for lb in labels] == ["AB12CD", "XY99"]
    assert (labels[0].box.x, labels[0].box.w) == (10, 100)
    f.write_text("a.jpg\t10\tx\n", encoding="utf-8")
    with pytest.raises(BadInputError):
        ba.parse_label_file(f)


def test_region_of_folder_names() -> None:
    assert ba.region_of("openalpr-br") == "BR"
    assert ba.region_of("eu") == "EU"
    assert ba.region_of("benchmarks/endtoend/us") == "US"
    assert ba.region_of("misc") is None


def test_loose_equality_folds_o_and_i() -> None:
    case = ba.Case("x", "g", "AB0I12", "ABO112", 0.9, 0.9)
    assert not case.exact
    assert case.exact_loose


def test_smoke_subset_reads_real_plates(pipeline, br_dataset: Path) -> None:
    """Eight real images of the shared set: all found, at least seven read exactly."""
    samples = ba.load_dataset(br_dataset)[:8]
    report = ba.evaluate(pipeline, samples, ba.formats_by_group(samples, ("auto",)))
    overall = report["overall"]
    assert overall["plates"] == 8
    assert overall["detection_recall"] == 1.0
    assert overall["exact_accuracy"] >= 7 / 8, ba.render(report)
    # every plate not read exactly is listed by image, label and read, as many as failed
    assert len(report["failed"]) == report["failures"]
    assert all(label != read for _, label, read in report["failed"])
