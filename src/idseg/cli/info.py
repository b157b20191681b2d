"""``idseg info``: versions, devices and a CPU vs GPU timing (an environment check)."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import time
from typing import Any

import typer

from idseg.cli._common import print_json

PACKAGES = (
    "idseg",
    "torch",
    "torchvision",
    "rf-sam-2",
    "numpy",
    "opencv-python-headless",
    "pillow",
    "pycocotools",
    "typer",
    "hydra-core",
    "onnxruntime",
    "fastapi",
)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def _devices() -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if cuda
        else [],
        "mps": mps,
    }


def _time_embedding(device: str, repeats: int = 3) -> float:
    """Median seconds to embed a 1024x1024 image with a random-weight sam2.1 hiera-tiny."""
    import numpy as np
    import torch

    from idseg.models.sam2 import build_model
    from idseg.sam.predictor import SAM2Predictor

    torch.manual_seed(0)
    predictor = SAM2Predictor(build_model("sam2.1_hiera_t", device=device))
    image = np.random.default_rng(0).integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    predictor.embed(image)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        predictor.embed(image)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        elif device == "mps":
            torch.mps.synchronize()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def info(
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output on stdout."),
    timing: bool | None = typer.Option(
        None,
        "--timing/--no-timing",
        help="Time an image embedding on CPU and GPU/MPS (default: only when one exists).",
    ),
) -> None:
    """Versions, devices, and a CPU vs GPU timing when a GPU exists."""
    report: dict[str, Any] = {
        "versions": _versions(),
        "platform": platform.platform(),
        "devices": _devices(),
    }
    accelerators = [name for name in ("cuda", "mps") if report["devices"][name]]
    if timing is None:
        timing = bool(accelerators)
    if timing:
        seconds: dict[str, float] = {"cpu": _time_embedding("cpu")}
        for name in accelerators:
            seconds[name] = _time_embedding(name)
            seconds[f"{name}_speedup"] = seconds["cpu"] / seconds[name]
        report["embedding_seconds_sam2.1_hiera_t_1024"] = seconds
    if as_json:
        print_json(report)
        return
    for section, values in report.items():
        if isinstance(values, dict):
            typer.echo(f"{section}:")
            for key, value in values.items():
                typer.echo(f"  {key}: {value}")
        else:
            typer.echo(f"{section}: {values}")
