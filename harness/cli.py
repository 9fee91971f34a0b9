"""The ``dualsys`` command: parse arguments, dispatch, map outcomes to exit codes.

Exit codes (DESIGN.md): 0 pass (and warn unless ``--strict``), 1 fail or rollback, 2 bad usage or
bad scenario file, 3 the harness could not run the test. A user mistake never prints a traceback.

Heavy modules (Locust, pandas, Jinja2, uvicorn) are imported inside the subcommand that needs
them, so ``dualsys --help`` and ``dualsys validate`` start fast and never patch the process.
"""

from __future__ import annotations

import argparse
import logging
import sys
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ComponentFailed, HarnessError, ScenarioError
from harness.verdict import EXIT_HARNESS, EXIT_OK, EXIT_USAGE

if TYPE_CHECKING:
    from harness.run.session import RunOutcome
    from harness.run.signals import StopSignals
    from harness.rundir import RunDir
    from harness.scenario import Scenario

__all__ = ["main"]


def _shipped_scenario_dir() -> Path:
    """Where the shipped scenarios are: inside the package when installed from a wheel
    (``harness/shipped_scenarios``, mapped from ``scenarios/`` by setup.py), else the source
    checkout's ``scenarios/`` (a clone, or an editable install)."""
    here = Path(__file__).resolve().parent
    packaged = here / "shipped_scenarios"
    if packaged.is_dir():
        return packaged
    return here.parent / "scenarios"


SCENARIO_DIR = _shipped_scenario_dir()


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors exit 2 with a one-line hint (argparse's own code is 2 too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"dualsys: error: {message}\n")


def _formatter(prog: str) -> argparse.HelpFormatter:
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32)


def _example(text: str) -> str:
    return "example:\n" + textwrap.indent(textwrap.dedent(text).strip(), "  ")


def _duration_arg(text: str) -> float:
    try:
        from harness.scenario import parse_duration  # pydantic: only when a duration is given

        return parse_duration(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _scale_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _add_scenario_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("scenario", help="scenario YAML file, or the name of a shipped scenario")
    p.add_argument(
        "--duration-scale",
        type=_scale_arg,
        metavar="X",
        help="multiply every time in the run (length, fault times) by X",
    )
    p.add_argument(
        "--duration",
        type=_duration_arg,
        metavar="D",
        help="run for D instead (e.g. 20s); fault times move with it",
    )


def resolve_scenario_path(name: str) -> Path:
    """A path as given, or a shipped scenario by name (``fallback_ai_outage``)."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in name:
        return path
    return SCENARIO_DIR / f"{name}.yaml"


def load_scenario(path: Path, **kwargs: Any) -> Scenario:
    """:func:`harness.scenario.load_scenario`, imported on first use: pydantic and yaml are not
    needed by ``dualsys --help`` nor by the commands that read no scenario."""
    from harness.scenario import load_scenario as load

    return load(path, **kwargs)


def _load(args: argparse.Namespace) -> Scenario:
    return load_scenario(
        resolve_scenario_path(args.scenario),
        duration_scale=args.duration_scale,
        duration=args.duration,
    )


# --------------------------------------------------------------------------------------------
# Subcommands


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a scenario; print what it would run, and its timeline warnings (stderr)."""
    from harness.scenario import timeline_warnings

    scenario = _load(args)
    for warning in timeline_warnings(scenario):
        print(f"dualsys: warning: {args.scenario}: {warning}", file=sys.stderr)
    print(
        f"{args.scenario}: ok: '{scenario.name}' ({scenario.stack.gateway.pattern}, "
        f"{scenario.duration:g}s, {len(scenario.chaos)} fault(s))"
    )
    return EXIT_OK


def cmd_list(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    rows: list[tuple[str, str]] = []
    bad = 0
    for path in sorted(directory.glob("*.yaml")):
        try:
            s = load_scenario(path)
            rows.append((s.name, s.description or "(no description)"))
        except ScenarioError as err:
            bad += 1
            rows.append((path.stem, f"INVALID: {err.problems[0]}"))
    if not rows:
        print(f"no scenarios in {directory}")
        return EXIT_OK
    width = max(len(n) for n, _ in rows)
    for name, desc in rows:
        print(f"{name.ljust(width)}  {desc}")
    return EXIT_USAGE if bad else EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from harness.scenario import timeline_warnings

    scenario = _load(args)  # a bad file exits 2 before anything starts
    for warning in timeline_warnings(scenario):
        print(f"dualsys: warning: {args.scenario}: {warning}", file=sys.stderr)
    if args.master and args.workers:
        print(
            "dualsys: error: --workers N starts N workers on this machine; --master waits for "
            "workers started elsewhere (dualsys worker): use one of them",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from harness.run.signals import StopSignals

    with StopSignals() as signals:
        # Importing Locust patches this process with gevent: only here, never for other commands.
        from harness.load.engine import LOCUST_VERSION, LocustEngine
        from harness.run.session import RunOptions, RunSession

        options = RunOptions(
            out=Path(args.out),
            workers=args.workers if args.workers is not None else scenario.load.workers,
            strict=args.strict,
            quiet=args.quiet,
            master=args.master,
            master_bind_port=args.master_port,
            master_bind_host=args.master_bind,
            expect_workers=args.expect_workers,
            report=not args.no_report,
            engine_version=LOCUST_VERSION,
            preflight_only=args.preflight_only,
            route_check=not args.no_route_check,
        )
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
        session = RunSession(scenario, options, LocustEngine, signals)
        graded_box: list[Any] = []  # the graded run, once grading finished
        if options.report:
            signals.last_resort = lambda name: _last_resort(session.run, graded_box, name)
        outcome = session.execute()
        from harness.run.preflight import PreflightFailed

        if options.preflight_only or isinstance(outcome.error, PreflightFailed):
            # No load ran: nothing to grade, and the reports' seconds would only delay the
            # answer (meta.json holds every check; `dualsys report` still renders the run).
            if outcome.error is not None:
                print(f"dualsys: harness error: {outcome.error}", file=sys.stderr)
            print(f"run directory: {outcome.run.path}")
            return EXIT_OK if outcome.status == "complete" else EXIT_HARNESS
        return conclude_run(
            outcome, signals, strict=options.strict, report=options.report, graded_box=graded_box
        )


def _last_resort(run: RunDir, graded_box: list[Any], name: str) -> None:
    from harness.run.last_reports import write_last_reports

    graded = graded_box[0] if graded_box else None
    written = write_last_reports(run, graded, name)
    print("last-resort reports: " + ", ".join(p.name for p in written), flush=True)


def conclude_run(
    outcome: RunOutcome,
    signals: StopSignals,
    *,
    strict: bool,
    report: bool,
    graded_box: list[Any] | None = None,
) -> int:
    """After the run: say what went wrong, grade, render, print the verdict, the exit code.

    Signals are still counted here: a second one while grading or rendering writes the
    last-resort report set and exits 3 (:mod:`harness.run.signals`)."""
    from harness.process import tail

    if outcome.error is not None:
        print(f"dualsys: harness error: {outcome.error}", file=sys.stderr)
        if not getattr(outcome.error, "last_lines", None):
            last = [ln for p in outcome.worker_logs for ln in tail(p, 5)]
            if last:
                print("\n".join("    | " + ln for ln in last), file=sys.stderr)
    if not report:
        print(f"records: {outcome.run.path}")
        return EXIT_HARNESS if outcome.error or outcome.status != "complete" else EXIT_OK
    box = graded_box if graded_box is not None else []
    signals.last_resort = signals.last_resort or (lambda name: _last_resort(outcome.run, box, name))
    signals.phase = "report"
    from harness.report import gate_exit_code, render_reports

    graded, paths = render_reports(outcome.run, on_graded=box.append)
    status = outcome.status
    if signals.during_report and status == "complete":
        status = "interrupted"
    from harness.report.console import console_lines

    for line in console_lines(graded, status=status):
        print(line)
    print(f"report: {paths.get('html', outcome.run.path)}")
    if signals.during_report:
        return EXIT_HARNESS
    return gate_exit_code(graded, strict=strict)


def cmd_worker(args: argparse.Namespace) -> int:
    from harness.load.worker import run_worker

    code: int = run_worker(args.master_host, args.master_port, args.locustfile)
    return code


def cmd_report(args: argparse.Namespace) -> int:
    from harness.rundir import RunDir

    run = RunDir(Path(args.run_dir))
    if not run.exists():
        print(
            f"dualsys: error: {args.run_dir}: not a run directory (no scenario.yaml)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    from harness.report import gate_exit_code, render_reports
    from harness.report.console import console_lines

    graded, paths = render_reports(run)
    for line in console_lines(graded, status=graded.status):
        print(line)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return gate_exit_code(graded, strict=args.strict)


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.report.compare import CompareOptions, compare_runs
    from harness.rundir import RunDir

    for p in (args.baseline, args.new):
        if not RunDir(Path(p)).exists():
            print(f"dualsys: error: {p}: not a run directory (no scenario.yaml)", file=sys.stderr)
            return EXIT_USAGE
    opts = CompareOptions(
        p95_increase_max=args.p95_increase,
        error_rate_increase_max=args.error_rate_increase,
        agreement_drop_max=args.agreement_drop,
        out=Path(args.out) if args.out else None,
    )
    code: int = compare_runs(Path(args.baseline), Path(args.new), opts)
    return code


def cmd_serve(args: argparse.Namespace) -> int:
    from harness.stack.launcher import serve

    scenario = load_scenario(resolve_scenario_path(args.scenario))
    return serve(scenario, Path(args.out))


def cmd_proxy(args: argparse.Namespace) -> int:
    from harness.faults.server import run_server

    return run_server(args.host, args.port, allow_remote=args.allow_remote)


# --------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``dualsys`` (one subparser per subcommand)."""
    parser = _Parser(
        prog="dualsys",
        formatter_class=_formatter,
        description="Load and chaos tests for dual-system (legacy + AI) migrations.",
        epilog=textwrap.dedent("""\
            exit codes: 0 pass (warn too, unless --strict), 1 fail or rollback,
                        2 bad usage or bad scenario file, 3 the harness could not run the test

            example:
              dualsys run scenarios/fallback_ai_outage.yaml
            """),
    )
    from harness import __version__

    parser.add_argument("--version", action="version", version=f"dualsys {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    def add(
        name: str, fn: Callable[[argparse.Namespace], int], help_: str, example: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help_,
            description=help_,
            epilog=_example(example),
            formatter_class=_formatter,
        )
        p.set_defaults(func=fn)
        return p

    p = add(
        "run",
        cmd_run,
        "Run a scenario: start the stack, drive load, inject faults, grade, report.",
        """
            dualsys run scenarios/default.yaml
            dualsys run fallback_ai_outage --duration 20s --workers 2 --strict
            """,
    )
    _add_scenario_args(p)
    p.add_argument("--out", default="runs", help="parent folder of run directories (runs/)")
    p.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="Locust master with N local worker processes (default: the scenario's)",
    )
    p.add_argument(
        "--master",
        action="store_true",
        help="be a Locust master for workers on other machines (dualsys worker)",
    )
    p.add_argument("--master-port", type=int, default=5557, help="master's port (5557)")
    p.add_argument(
        "--master-bind",
        default="*",
        metavar="ADDR",
        help="with --master: the address workers connect to (all interfaces)",
    )
    p.add_argument(
        "--expect-workers",
        type=int,
        default=1,
        metavar="N",
        help="with --master: wait for N workers before starting (1)",
    )
    p.add_argument("--strict", action="store_true", help="a WARN verdict fails the gate (exit 1)")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.add_argument("--no-report", action="store_true", help="keep records, skip grading/reports")
    p.add_argument(
        "--preflight-only",
        action="store_true",
        help="start the stack, run every check before the load, print them, exit 0 or 3",
    )
    p.add_argument(
        "--no-route-check",
        action="store_true",
        help="skip the preflight check that each chaos target's proxy is on the gateway's path",
    )

    p = add(
        "validate",
        cmd_validate,
        "Check a scenario file and print what it would run.",
        "dualsys validate scenarios/ab_split.yaml",
    )
    _add_scenario_args(p)

    p = add(
        "list", cmd_list, "List the shipped scenarios with one-line descriptions.", "dualsys list"
    )
    p.add_argument("--dir", default=str(SCENARIO_DIR), help="scenario folder (the shipped one)")

    p = add(
        "report",
        cmd_report,
        "Re-grade a saved run and re-render its reports from the run directory alone.",
        "dualsys report runs/20261126T120000Z-fallback_ai_outage",
    )
    p.add_argument("run_dir")
    p.add_argument("--strict", action="store_true", help="a WARN verdict fails the gate (exit 1)")

    p = add(
        "compare",
        cmd_compare,
        "Grade a run against a saved baseline run (regression gate).",
        "dualsys compare runs/baseline runs/20261126T120000Z-ab_split --p95-increase 10",
    )
    p.add_argument("baseline")
    p.add_argument("new")
    p.add_argument(
        "--p95-increase",
        type=float,
        default=10.0,
        metavar="PCT",
        help="fail when p95 rises more than PCT percent (10)",
    )
    p.add_argument(
        "--error-rate-increase",
        type=float,
        default=1.0,
        metavar="POINTS",
        help="fail when the error rate rises more than POINTS percentage points (1)",
    )
    p.add_argument(
        "--agreement-drop",
        type=float,
        default=2.0,
        metavar="POINTS",
        help="fail when agreement drops more than POINTS percentage points (2)",
    )
    p.add_argument("--out", help="where to write compare.md and compare-junit.xml (NEW run dir)")

    p = add(
        "serve",
        cmd_serve,
        "Start the embedded stack (services, fault proxy, gateway) and keep it up.",
        "dualsys serve scenarios/default.yaml   # Ctrl-C stops every process",
    )
    # No --duration/--duration-scale: serve runs until stopped, and it applies no faults.
    p.add_argument("scenario", help="scenario YAML file, or the name of a shipped scenario")
    p.add_argument("--out", default="runs", help="where the stack's decision records go")

    p = add(
        "proxy",
        cmd_proxy,
        "Run the embedded fault proxy alone (Toxiproxy HTTP API).",
        "dualsys proxy --port 8474 &\n"
        "curl -s -XPOST localhost:8474/proxies -d "
        '\'{"name":"ai","listen":"127.0.0.1:21002","upstream":"127.0.0.1:9002"}\'',
    )
    p.add_argument("--host", default="127.0.0.1", help="API address (127.0.0.1)")
    p.add_argument("--port", type=int, default=8474, help="API port (8474, as Toxiproxy)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback API address and proxy listen addresses",
    )

    p = add(
        "worker",
        cmd_worker,
        "Be a Locust worker for a `dualsys run --master` elsewhere.",
        "dualsys worker --master-host 127.0.0.1",
    )
    p.add_argument("--master-host", default="127.0.0.1")
    p.add_argument("--master-port", type=int, default=5557)
    p.add_argument("--locustfile", help="the run's own locustfile, if it names one")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dualsys`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ScenarioError as err:
        print(f"dualsys: {err}", file=sys.stderr)
        return EXIT_USAGE
    except ComponentFailed as err:
        print(f"dualsys: harness error: {err}", file=sys.stderr)
        return EXIT_HARNESS
    except HarnessError as err:
        print(f"dualsys: harness error: {err}", file=sys.stderr)
        return EXIT_HARNESS
    except KeyboardInterrupt:
        print("dualsys: interrupted", file=sys.stderr)
        return EXIT_HARNESS


if __name__ == "__main__":
    sys.exit(main())
