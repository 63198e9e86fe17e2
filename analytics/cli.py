"""Command line: ``python -m analytics validate|summary FILE``.

Machine contract: command and option names, the JSON keys of ``summary
--format json`` and the exit codes are stable.  Exit codes: 0 usable,
1 bad input (the validation report is printed), 2 bad options,
3 internal error (reported without a traceback; set ANALYTICS_DEBUG=1 to see it).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

from .definitions import ANALYSIS_MODES, OutcomeDefinitions
from .errors import AnalyticsError, DefinitionError, UnreadableFileError
from .summary import clinic_summary
from .validation import validate_questionnaires

__all__ = ["main", "build_parser"]

EXIT_OK, EXIT_BAD_INPUT, EXIT_BAD_OPTIONS, EXIT_INTERNAL = 0, 1, 2, 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analytics",
        description="Outcome analytics for ketamine and interventional-psychiatry clinics (de-identified PHQ-9 data).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    v = sub.add_parser("validate", help="check a questionnaire file and print the validation report")
    v.add_argument("file", help="questionnaire file (.csv, .xlsx or .parquet)")
    v.add_argument("--format", choices=("text", "json"), default="text")

    s = sub.add_parser("summary", help="response, remission and SI-resolution rates with benchmarks")
    s.add_argument("file", help="questionnaire file (.csv, .xlsx or .parquet)")
    s.add_argument("--week", type=int, default=6, help="endpoint week W (target day 7*W; default 6)")
    s.add_argument("--window-days", type=int, default=7, help="endpoint window +/- days (default 7)")
    s.add_argument("--min-baseline", type=int, default=10, help="minimum baseline PHQ-9 total (default 10)")
    s.add_argument("--analysis", choices=ANALYSIS_MODES, default="completer",
                   help="completer, itt (intention to treat) or locf (last observation carried forward)")
    s.add_argument("--format", choices=("text", "json"), default="text")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "validate":
            return _validate(args)
        return _summary(args)
    except DefinitionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_OPTIONS
    except UnreadableFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except AnalyticsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception:  # never a traceback for the user
        if os.environ.get("ANALYTICS_DEBUG"):
            traceback.print_exc()
        print("internal error: the analysis failed unexpectedly. Please report it with the command you ran "
              "(set ANALYTICS_DEBUG=1 to see the details).", file=sys.stderr)
        return EXIT_INTERNAL


def _validate(args) -> int:
    report = validate_questionnaires(args.file)
    if args.format == "json":
        print(json.dumps({
            "source": report.source, "sha256": report.sha256, "ok": report.ok, "counts": report.counts,
            "errors": _records(report.errors), "warnings": _records(report.warnings),
        }, indent=2))
    else:
        print(report.to_text())
    return EXIT_OK if report.ok else EXIT_BAD_INPUT


def _summary(args) -> int:
    definitions = OutcomeDefinitions(week=args.week, window_days=args.window_days,
                                     min_baseline=args.min_baseline, analysis=args.analysis)
    report = validate_questionnaires(args.file)
    if not report.ok:
        print(report.to_text(), file=sys.stderr)
        return EXIT_BAD_INPUT
    summary = clinic_summary(report.frame, definitions=definitions, source=report.source,
                             sha256=report.sha256, validation=report.counts)
    if args.format == "json":
        print(json.dumps(summary.as_dict(), indent=2, default=_jsonable))
    else:
        print(summary.to_text())
        if len(report.warnings):
            print(f"\nValidation: {len(report.warnings)} warning row(s); run `python -m analytics validate "
                  f"{args.file}` to list them.")
    return EXIT_OK


def _records(table):
    return table.astype(object).where(table.notna(), None).to_dict("records")


def _jsonable(value):
    if hasattr(value, "item"):
        return value.item()
    return str(value)
