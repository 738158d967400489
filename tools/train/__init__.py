"""`alpr train ocr|detector`: train the reader's models (needs the `train` extra: TensorFlow)."""

from __future__ import annotations

import argparse
import importlib


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "train",
        help="train a reader model (ocr, detector, state: numpy only) or cross-validate the OCR (cv)",
        add_help=False,
        description="Options after the model name go to its trainer; see `alpr train ocr --help`.",
    )
    p.add_argument("model", choices=["ocr", "detector", "state", "cv"])
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        module = importlib.import_module(f"tools.train.{args.model}")
    except ImportError as exc:
        raise SystemExit(
            f"training needs the train extra (pip install -e .[train]): {exc}"
        ) from None
    result: int = module.main(args.rest)
    return result
