"""``idseg export onnx|torchscript``: SAM2 as two graphs, or a U-Net as one file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from idseg.cli._common import print_json, say, user_errors

app = typer.Typer(
    help="Export SAM2 (image encoder + prompt decoder) or a U-Net to ONNX or TorchScript.",
    no_args_is_help=True,
)

_CHECKPOINT_HELP = "SAM2 checkpoint: path, registry name or https URL (writes a folder)."
_UNET_HELP = (
    "U-Net checkpoint of `idseg train unet`, or doc_localizer / doc_fields (the bundled ones);"
    " writes one file."
)
_CONFIG_HELP = "SAM2 config name or YAML (default: from the checkpoint)."


def _unet_path(value: str) -> Path:
    """A U-Net checkpoint file, or the bundled model of that name when no such file exists."""
    from idseg.documents.pipeline import BUNDLED_FIELDS, BUNDLED_LOCALIZER, bundled_model

    path = Path(value)
    names = {Path(n).stem: n for n in (BUNDLED_LOCALIZER, BUNDLED_FIELDS)}
    bundled = names.get(path.stem)
    if (
        bundled
        and path.name in (path.stem, bundled)
        and path.parent == Path(".")
        and not path.is_file()
    ):
        return bundled_model(bundled)
    return path


def _which(checkpoint: str | None, unet: str | None, model_config: str | None) -> str:
    if (checkpoint is None) == (unet is None):
        raise typer.BadParameter("give exactly one of --checkpoint (SAM2) or --unet")
    if unet is not None and model_config is not None:
        raise typer.BadParameter("--config applies to SAM2 checkpoints, not to --unet")
    return "sam2" if checkpoint is not None else "unet"


def _report(record: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(record)
        return
    for path in record["files"]:
        say(f"wrote {path}")


def _sam2_record(files: Any) -> dict[str, Any]:
    return {
        "kind": "sam2",
        "folder": str(files.folder),
        "files": [str(files.image_encoder), str(files.prompt_decoder), str(files.manifest)],
    }


@app.command("onnx")
def onnx(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder (SAM2) or .onnx file (U-Net) to write."
    ),
    checkpoint: str | None = typer.Option(None, "--checkpoint", "-c", help=_CHECKPOINT_HELP),
    unet: str | None = typer.Option(None, "--unet", help=_UNET_HELP),
    model_config: str | None = typer.Option(None, "--config", "--model-config", help=_CONFIG_HELP),
    opset: int = typer.Option(18, min=18, help="ONNX opset version."),
    mask_threshold: float = typer.Option(0.0, help="SAM2 mask logit threshold for the runtime."),
    offline: bool = typer.Option(False, "--offline", help="Never open a network connection."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export to ONNX, checked with onnxruntime against PyTorch; prompt with `idseg prompt --backend onnx`."""
    kind = _which(checkpoint, unet, model_config)
    with user_errors():
        if kind == "unet" and unet is not None:
            from idseg.onnx.unet import export_unet_onnx

            path = export_unet_onnx(_unet_path(unet), out, opset=opset)
            record: dict[str, Any] = {"kind": "unet", "files": [str(path)]}
        else:
            from idseg.onnx.export import export_sam2_onnx

            files = export_sam2_onnx(
                checkpoint, out, opset, model_config, mask_threshold, offline or None
            )
            record = _sam2_record(files) | {"opset": opset}
    _report(record, as_json)


@app.command("torchscript")
def torchscript(
    out: Path = typer.Option(
        ..., "--out", "-o", help="Folder (SAM2) or .pt file (U-Net) to write."
    ),
    checkpoint: str | None = typer.Option(None, "--checkpoint", "-c", help=_CHECKPOINT_HELP),
    unet: str | None = typer.Option(None, "--unet", help=_UNET_HELP),
    model_config: str | None = typer.Option(None, "--config", "--model-config", help=_CONFIG_HELP),
    mask_threshold: float = typer.Option(0.0, help="SAM2 mask logit threshold for the runtime."),
    offline: bool = typer.Option(False, "--offline", help="Never open a network connection."),
    as_json: bool = typer.Option(False, "--json", help="Print what was written as JSON."),
) -> None:
    """Export to TorchScript by tracing (fixed image size), checked against eager PyTorch."""
    kind = _which(checkpoint, unet, model_config)
    with user_errors():
        if kind == "unet" and unet is not None:
            from idseg.onnx.unet import export_unet_torchscript

            path = export_unet_torchscript(_unet_path(unet), out)
            record: dict[str, Any] = {"kind": "unet", "files": [str(path)]}
        else:
            from idseg.onnx.torchscript import export_sam2_torchscript

            files = export_sam2_torchscript(
                checkpoint, out, model_config, mask_threshold, offline or None
            )
            record = _sam2_record(files)
    _report(record, as_json)
