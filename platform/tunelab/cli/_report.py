"""`tunelab report`: explain a trained model with Captum."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import tunelab
from tunelab.cli._common import add_trust_code, integer, shared


def add_commands(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        parents=[shared("--tracking-uri", "--debug")],
        help="explain a trained model with Captum; the report is logged to the model's run",
        description="Explain a trained model: attributions chosen by its family, checked for "
        "faithfulness, written as HTML, JSON and PNG under --out and logged to the model's run.",
    )
    report.add_argument(
        "target",
        metavar="TARGET",
        help="a trial's MLflow run id, a sweep name (its best trial), or models:/NAME@ALIAS",
    )
    report.add_argument(
        "--top", type=integer, help="with a sweep name: explain its K best trials and compare them"
    )
    report.add_argument(
        "--methods",
        help="comma-separated, overriding the family's defaults: integrated_gradients, "
        "saliency, occlusion, grad_cam, feature_ablation",
    )
    report.add_argument(
        "--examples", type=integer, default=256, help="validation examples explained (default 256)"
    )
    report.add_argument(
        "--out", default="tunelab_reports", help="output folder (default ./tunelab_reports)"
    )
    report.add_argument(
        "--device",
        default="auto",
        help="auto (the GPU when there is one), cpu or cuda",
    )
    report.add_argument(
        "--no-log", action="store_true", help="write the report locally, do not log it to MLflow"
    )
    add_trust_code(report, "the sweep's stored spec")
    report.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    methods = [m.strip() for m in args.methods.split(",") if m.strip()] if args.methods else None
    outcome = tunelab.report(
        args.target,
        top=args.top,
        methods=methods,
        examples=args.examples,
        out=args.out,
        tracking_uri=args.tracking_uri,
        trust_code=args.trust_code,
        device=args.device,
        log=not args.no_log,
        progress=lambda line: print(line, file=sys.stderr),
    )
    for written in outcome.reports:
        verdict = "passed" if written.sanity_passed else "FAILED"
        print(
            f"report: {written.folder / 'report.html'} ({written.label}, {written.seconds:.1f} s)"
        )
        print(f"  sanity checks {verdict}")
        for flag in written.flags:
            print(f"  flagged: {flag}")
        if written.logged:
            print(f"  logged to run {written.run_id} under report/")
    if outcome.comparison is not None:
        print(f"comparison: {outcome.comparison / 'comparison.html'}")
    return 0
