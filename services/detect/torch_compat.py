"""Make ultralytics importable on CPU-only torch: register a pure-torch ``torchvision::nms``.

The torchvision wheel that ultralytics brings is a CUDA build; with the CPU torch wheel its C++
operators are missing and ``import torchvision`` fails with "operator torchvision::nms does not
exist". Registering the operator in Python before the import makes it work; on a machine where
torchvision's own operator exists, nothing is registered.
"""

from __future__ import annotations

import logging
import threading

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_done = False


def _nms(boxes, scores, iou_threshold: float):  # type: ignore[no-untyped-def]
    import torch

    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.int64, device=boxes.device)
    x1, y1, x2, y2 = boxes.unbind(1)
    areas = (x2 - x1).clamp(min=0) * (y2 - y1).clamp(min=0)
    order = scores.argsort(descending=True)
    keep = []
    while order.numel() > 0:
        i = order[0]
        keep.append(i)
        if order.numel() == 1:
            break
        rest = order[1:]
        xx1 = torch.maximum(x1[rest], x1[i])
        yy1 = torch.maximum(y1[rest], y1[i])
        xx2 = torch.minimum(x2[rest], x2[i])
        yy2 = torch.minimum(y2[rest], y2[i])
        inter = (xx2 - xx1).clamp(min=0) * (yy2 - yy1).clamp(min=0)
        iou = inter / (areas[i] + areas[rest] - inter).clamp(min=1e-9)
        order = rest[iou <= iou_threshold]
    return torch.stack(keep).to(torch.int64)


def ensure_torchvision_nms() -> None:
    """Register ``torchvision::nms`` in pure torch if the installed torchvision lacks it."""
    global _done
    with _lock:
        if _done:
            return
        import torch

        try:
            torch.ops.torchvision.nms  # noqa: B018  (raises when the operator is missing)
            _done = True
            return
        except (AttributeError, RuntimeError):
            pass
        lib = torch.library.Library("torchvision", "DEF")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("nms", _nms, "CPU")
        # torchvision also registers a fake kernel for the quantised variant at import time
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.impl("qnms", _nms, "CPU")
        # keep the library object alive for the life of the process
        globals()["_lib"] = lib
        import torchvision.extension

        # torchvision checks for its compiled library before calling the operator; ours is
        # registered, so let ``torchvision.ops.nms`` through (the other ops stay unavailable)
        torchvision.extension._has_ops = lambda: True
        logger.debug("registered a pure-torch torchvision::nms (CPU torch without torchvision ops)")
        _done = True


class _Opaque(dict):  # type: ignore[type-arg]
    """Stands in for classes of libraries that are not installed (e.g. omegaconf training args)."""

    def __setstate__(self, state: object) -> None:
        if isinstance(state, dict):
            self.__dict__.update(state)


def load_checkpoint_without(missing_prefixes: tuple[str, ...], path: str) -> dict:  # type: ignore[type-arg]
    """``torch.load`` a trusted, shipped checkpoint whose pickle names classes of absent libraries.

    Some shipped YOLO checkpoints pickle their training arguments as omegaconf objects; those
    are metadata only, so they are loaded as opaque dicts instead of requiring the library.
    """
    import pickle
    import types

    import torch

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> object:
            if module.startswith(missing_prefixes):
                return _Opaque
            return super().find_class(module, name)

    shim = types.SimpleNamespace(Unpickler=_Unpickler, load=pickle.load, __name__="pickle")
    result: dict = torch.load(path, map_location="cpu", weights_only=False, pickle_module=shim)  # type: ignore[type-arg]
    return result
