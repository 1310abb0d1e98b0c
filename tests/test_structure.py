"""The architecture's rules, read from the source with ``ast``: what may import and read what.

* The restore core (``shared/restore/``) imports no target package: targets
  reach it through :mod:`shared.registry` and the protocols of
  :mod:`shared.target`, so a new target never changes it.
* Settings keys are read in one place, :mod:`shared.config` (over
  :mod:`shared.settings_source`); everything else takes the frozen settings
  objects it builds. A read is ``os.environ[...]``/``.get(...)``/``os.getenv``
  of a settings key (or of a name the source does not spell out), or
  ``.get(config.KEY)``/``.require(...)``/``.raw(...)`` on the sources.
  Variables that are no settings (the platform's ``GOOGLE_CLOUD_PROJECT``,
  the client libraries' emulator hosts, the terminal's ``COLUMNS``) may be
  read where they are used.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from shared import config
from shared.manifest import TARGETS

ROOT = Path(__file__).resolve().parent.parent
# The settings reader: the keys and their parsing, the sources in order, and the old
# scripts' config files (whose ``$VAR`` expansion looks in the environment, as bash did).
SETTINGS_READERS = {"shared/config.py", "shared/settings_source.py", "shared/conffile.py"}

# Reads of settings keys outside ``shared/config.py`` that are being moved behind the
# settings objects: (module, what it reads). Delete an entry once its read is gone.
KNOWN_READS = {
    # the trigger's hourly switch: to come from the MongoDB settings' retention.enable_hourly
    ("shared/mongodb/handlers.py", "config.ENABLE_HOURLY"),
    # the job's name for the trigger and the restore start: to be a field of a settings object
    ("shared/mongodb/settings.py", "config.DR_MONGODB_JOB"),
    # the restore target's bucket and database: to come from config.mongodb_settings
    ("shared/mongodb/target.py", "config.MONGODB_GCS_BUCKET"),
    ("shared/mongodb/target.py", "config.MONGODB_DB_NAME"),
    # the verify command's bucket and keys: to come from config
    ("shared/mongodb/commands.py", "config.MONGODB_GCS_BUCKET"),
    ("shared/mongodb/commands.py", "config.ENCRYPTION_KEY_FILE"),
    ("shared/mongodb/commands.py", "config.ENCRYPTION_KEY_SECRET"),
    # the job's execution variables (DR_JOB_COMMAND, DR_TIER, ...): the job's own protocol
    # with the function that starts it, read by name; to be parsed in one place
    ("shared/mongodb/job.py", "environ[settings.RESTORE_REQUEST]"),
    ("shared/mongodb/job.py", "environ[settings.COMMAND]"),
    ("shared/mongodb/job.py", "environ[settings.TIER]"),
    ("shared/mongodb/job.py", "environ[settings.RUN_ID]"),
    ("shared/mongodb/job.py", "environ[settings.DRY_RUN]"),
    ("shared/mongodb/job.py", "environ[settings.REQUEST_ID]"),
    # the completion step's optional state bucket: to be a field of the Firestore settings
    ("shared/firestore/handlers.py", "config.DR_STATE_BUCKET"),
    ("shared/firestore/handlers.py", "'DR_STATE_BUCKET'"),
    # the shard topic's project: to be a field of the Cloud Storage settings
    ("shared/gcs/handlers.py", "environ['GOOGLE_CLOUD_PROJECT']"),
    # the project that labels each event's trace in the logs, read before any settings load
    ("shared/events.py", "environ['GOOGLE_CLOUD_PROJECT']"),
    # the console resolves settings per environment through its session: to read them
    # through the settings objects of config
    ("shared/console/verify.py", "config.ENCRYPTION_KEY_FILE"),
    ("shared/console/verify.py", "config.ENCRYPTION_KEY_SECRET"),
    ("shared/console/legacy.py", "getattr(config, BUCKET_KEYS[target])"),
    ("shared/console/legacy.py", "config.ENCRYPTION_KEY_FILE"),
    ("shared/console/legacy.py", "config.FIRESTORE_DATABASE"),
    ("shared/console/restore.py", "config.DR_STATE_BUCKET.name"),
    ("shared/console/session.py", "key"),
    ("shared/console/session.py", "BUCKET_KEYS[target]"),
    ("shared/console/session.py", "BUCKET_KEYS[target].name"),
    ("shared/console/session.py", "config.DR_STATE_BUCKET"),
    ("shared/console/session.py", "environ['GOOGLE_CLOUD_PROJECT']"),
    ("shared/console/info.py", "config.DR_FRESHNESS_GRACE_MINUTES"),
}


def _modules(*folders: str) -> Iterator[tuple[str, ast.Module]]:
    for folder in folders:
        for path in sorted((ROOT / folder).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            yield name, ast.parse(path.read_text(), name)


def _imported(module: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute names an import statement imports (relative ones resolved)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.removesuffix(".py").split("/")[: -node.level]
        base = ".".join([*package, base] if base else package)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def test_the_restore_core_imports_no_target_package() -> None:
    packages = tuple(f"shared.{target}" for target in TARGETS)
    found = [
        f"{module}:{node.lineno} imports {name}"
        for module, tree in _modules("shared/restore")
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for name in _imported(module, node)
        if name in packages or name.startswith(tuple(p + "." for p in packages))
    ]
    assert not found, "shared/restore/ must reach targets through shared.registry:\n" + "\n".join(
        found
    )


def _is_environ(node: ast.expr) -> bool:
    """``os.environ``, or a name ``environ`` (an environment mapping handed in)."""
    if isinstance(node, ast.Attribute):
        return node.attr == "environ"
    return isinstance(node, ast.Name) and node.id == "environ"


def _environ_key(node: ast.AST) -> ast.expr | None:
    """The key of ``environ[K]``, ``environ.get(K)`` or ``os.getenv(K)``; else ``None``."""
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        return node.slice
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args:
        if node.func.attr == "get" and _is_environ(node.func.value):
            return node.args[0]
        if node.func.attr == "getenv":
            return node.args[0]
    return None


def _source_read(node: ast.AST) -> ast.expr | None:
    """The key of ``X.require(K)``, ``X.raw(K)`` or ``X.get(config.K)``; else ``None``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args):
        return None
    key = node.args[0]
    if node.func.attr in ("require", "raw"):
        return key
    is_config = isinstance(key, ast.Attribute) and ast.unparse(key).startswith("config.")
    return key if node.func.attr == "get" and is_config else None


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """What a key expression names when the module spells it out: ``'X'``, or ``NAME = 'X'``."""
    constants = {
        ast.unparse(node): node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    constants[target.id] = node.value.value
    return constants


def _settings_reads() -> Iterator[tuple[str, int, str]]:
    """(module, line, what) for every read of a settings key outside the readers."""
    for module, tree in _modules("shared", "functions"):
        if module in SETTINGS_READERS:
            continue
        constants = _string_constants(tree)
        for node in ast.walk(tree):
            key = _environ_key(node)
            if key is not None:
                name = constants.get(ast.unparse(key))
                if name is not None and name not in config.KNOWN_KEYS:
                    continue  # a variable that is no setting
                yield module, getattr(node, "lineno", 0), f"environ[{ast.unparse(key)}]"
                continue
            key = _source_read(node)
            if key is not None:
                yield module, getattr(node, "lineno", 0), ast.unparse(key)


def test_only_config_reads_settings_keys() -> None:
    found = [
        f"{module}:{line} reads {what}"
        for module, line, what in _settings_reads()
        if (module, what) not in KNOWN_READS
    ]
    assert not found, (
        "read settings through shared.config's settings objects, not key by key:\n"
        + "\n".join(found)
    )
