"""``python -m tests.devstack up|env``: the local stack for people (and ``gcloud``).

``up`` runs the stack in the foreground until Ctrl-C (or SIGTERM/SIGHUP),
writes ``.devstack/env.sh`` and removes it on the way out. ``env`` prints
that file, for ``eval "$(python3 -m tests.devstack env)"``; it imports only
the standard library, so a bare ``python3`` will do.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import NoReturn

from tests.devstack import envfile


def _interrupt(signum: int, frame: object) -> NoReturn:
    raise KeyboardInterrupt


def _parse_function(text: str) -> tuple[str, tuple[str, ...], str]:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise argparse.ArgumentTypeError(f"expected TARGET:TOPIC[,TOPIC...][:SOURCE], got {text!r}")
    source = parts[2] if len(parts) == 3 else "functions/main.py"
    return parts[0], tuple(parts[1].split(",")), source


def _parse_setting(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _up(args: argparse.Namespace) -> int:
    from tests.devstack.functions import FunctionSpec
    from tests.devstack.process import DevstackError
    from tests.devstack.product import product_functions
    from tests.devstack.stack import DEFAULT_PROJECT, SERVICES, Stack

    owner = envfile.live_owner(args.state_dir)
    if owner is not None:
        print(f"A stack is already up (pid {owner}); stop it first.", file=sys.stderr)
        return 1
    settings = dict(args.set)
    specs = list(product_functions(settings)) if args.with_functions else []
    specs += [FunctionSpec(t, topics, source, env=settings) for t, topics, source in args.function]
    services = args.only.split(",") if args.only else list(SERVICES)
    run_dir = args.state_dir / "run"
    shutil.rmtree(run_dir, ignore_errors=True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)
    stack = Stack(
        project=args.project or DEFAULT_PROJECT, workdir=run_dir, secret_seed=args.secret_seed
    )
    try:
        stack.start(services)
        if specs:
            stack.deploy(specs)
        env = {**stack.env(), **stack.gcloud_env(args.state_dir / "gcloud")}
        path = envfile.write(args.state_dir, env)
        for name, seconds in stack.timings().items():
            print(f"  {name:<28} ready in {seconds:5.2f} s")
        custom = "" if args.state_dir == envfile.STATE_DIR else f" --state-dir {args.state_dir}"
        print(f'Environment: {path}\n  eval "$(python3 -m tests.devstack env{custom})"')
        print(f"Logs: {run_dir}\nCtrl-C stops everything.", flush=True)
        while not (dead := stack.exited()):
            time.sleep(1)
        print(f"Stopping: {', '.join(dead)} exited unexpectedly (see its log).", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping...", flush=True)
        return 0
    except DevstackError as error:
        print(f"Could not start the stack: {error}", file=sys.stderr)
        return 1
    finally:
        # A second Ctrl-C must not cut the shutdown short and leave servers behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        envfile.remove(args.state_dir)
        stack.stop()


def _env(args: argparse.Namespace) -> int:
    text = envfile.read(args.state_dir)
    if text is None:
        print(
            "No local stack is up. Start one with `python -m tests.devstack up` "
            "(in another terminal), then run this again.",
            file=sys.stderr,
        )
        return 1
    sys.stdout.write(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="run the local stack until Ctrl-C")
    up.add_argument("--with-functions", action="store_true", help="serve the product's functions")
    up.add_argument(
        "--function",
        action="append",
        default=[],
        type=_parse_function,
        metavar="TARGET:TOPIC[,TOPIC...][:SOURCE]",
        help="serve one more function (source relative to the repository root)",
    )
    up.add_argument(
        "--set",
        action="append",
        default=[],
        type=_parse_setting,
        metavar="KEY=VALUE",
        help="a setting in every function's environment",
    )
    up.add_argument("--only", metavar="A,B", help="start only these services")
    up.add_argument("--project", help="project id (default demo-eyewearml)")
    up.add_argument("--secret-seed", type=Path, help="JSON file of secrets for the stand-in")
    env = commands.add_parser("env", help="print export lines for the running stack")
    for sub in (up, env):
        sub.add_argument(
            "--state-dir", type=Path, default=envfile.STATE_DIR, help=argparse.SUPPRESS
        )
    args = parser.parse_args(argv)
    return _up(args) if args.command == "up" else _env(args)


if __name__ == "__main__":
    raise SystemExit(main())
