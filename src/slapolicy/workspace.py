"""The workspace: a folder holding policies, notebooks, suites and audits, and the file
that names them.

A workspace is the nearest folder, from the current one upwards (as git and dbt find
theirs), holding ``slapolicy.toml`` or a ``pyproject.toml`` with a ``[tool.slapolicy]``
table. The file names the policy, the data source, the audits root, the locale, time
limits and notifications; every command takes its defaults from it, and options given on
the command line still win. Paths in the file are relative to the file's folder.

The file never holds a credential: a key named like one (``password``, ``token``,
``secret``) is refused; name the environment variable that holds it instead
(``password_env``, ``token_env``).
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from slapolicy.errors import WorkspaceError

WORKSPACE_FILE = "slapolicy.toml"
PYPROJECT = "pyproject.toml"
LOCALES = ("en", "tr", "zh", "fa", "pl", "ko")
#: Outcomes a notification can be sent for: an audit's overall status, or a run that failed.
NOTIFY_ON = ("pass", "warn", "not_measured", "fail", "error", "run_error")
_SECRET_KEY = re.compile(r"(password|passwd|token|secret|api_key|apikey)$", re.I)

#: Keys the file may hold, per table ("" is the top level).
KEYS: dict[str, dict[str, str]] = {
    "": {"policy": "path", "audits": "path", "notebook": "path", "expectations": "path",
         "locale": "str", "data": "table", "limits": "table", "notify": "table"},
    "data": {"source": "source", "zone": "str", "mapping": "mapping"},
    "limits": {"cell_seconds": "number", "lock_wait_seconds": "number"},
    "notify": {"on": "list", "webhook": "table", "email": "table"},
    "notify.webhook": {"url": "str", "token_env": "str", "timeout_seconds": "number"},
    "notify.email": {"host": "str", "port": "int", "starttls": "bool", "ssl": "bool",
                     "from": "str", "to": "list", "username": "str", "password_env": "str",
                     "timeout_seconds": "number"},
}


@dataclass(frozen=True)
class Webhook:
    url: str
    token_env: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Email:
    host: str
    sender: str
    to: tuple[str, ...]
    port: int = 25
    starttls: bool = False
    ssl: bool = False
    username: str | None = None
    password_env: str | None = None
    timeout_seconds: float = 10.0


@dataclass(frozen=True)
class Notify:
    on: tuple[str, ...] = ("fail", "error", "run_error")
    webhook: Webhook | None = None
    email: Email | None = None


@dataclass(frozen=True)
class Workspace:
    """A loaded workspace file; paths are absolute."""

    file: Path
    root: Path
    policy: Path | None = None
    audits: Path | None = None
    notebook: Path | None = None
    expectations: Path | None = None
    locale: str | None = None
    data: str | None = None
    data_zone: str | None = None
    mapping: str | None = None
    cell_seconds: float | None = None
    lock_wait_seconds: float | None = None
    notify: Notify = field(default_factory=Notify)

    @property
    def audits_root(self) -> Path:
        return self.audits or self.root / "audits"

    def audit_notebook(self) -> Path:
        """The notebook audits run: the file's ``notebook``, else the workspace's own copy
        (``notebooks/audit.ipynb``), else the one the package ships."""
        if self.notebook is not None:
            return self.notebook
        own = self.root / "notebooks" / "audit.ipynb"
        return own if own.is_file() else packaged_notebook()


# --- packaged files -----------------------------------------------------------------------


def packaged_notebook() -> Path:
    """The audit notebook shipped inside the package."""
    return Path(str(resources.files("slapolicy") / "notebooks" / "audit.ipynb"))


def packaged_example(name: str = "company-a.yaml") -> Path:
    """A policy shipped inside the package (Company A, the worked example)."""
    return Path(str(resources.files("slapolicy") / "examples" / name))


def template(name: str) -> str:
    return (resources.files("slapolicy") / "templates" / name).read_text(encoding="utf-8")


def default_notebook(workspace: Workspace | None, cwd: Path | None = None) -> Path:
    """The notebook to run when none is given: the workspace's, else ``notebooks/audit.ipynb``
    in the current folder if there is one, else the packaged one."""
    if workspace is not None:
        return workspace.audit_notebook()
    here = (cwd or Path.cwd()) / "notebooks" / "audit.ipynb"
    return Path("notebooks/audit.ipynb") if here.is_file() else packaged_notebook()


# --- finding and loading ------------------------------------------------------------------


def find_workspace(start: Path | None = None) -> Path | None:
    """The workspace file governing ``start`` (default: the current folder), or None."""
    folder = (start or Path.cwd()).resolve()
    for d in (folder, *folder.parents):
        own = d / WORKSPACE_FILE
        if own.is_file():
            return own
        py = d / PYPROJECT
        if py.is_file() and _has_tool_table(py):
            return py
    return None


def _has_tool_table(path: Path) -> bool:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return "[tool.slapolicy" in path.read_text(encoding="utf-8", errors="replace")
    return isinstance(data.get("tool"), dict) and "slapolicy" in data["tool"]


def load_workspace(path: Path) -> Workspace:
    """Read and check a workspace file (``slapolicy.toml`` or a ``pyproject.toml``)."""
    path = path.resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise WorkspaceError(f"cannot read the workspace file: {e}", path=str(path),
                             hint="make it a readable UTF-8 TOML file") from e
    prefix = "tool.slapolicy" if path.name == PYPROJECT else ""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        m = re.search(r"at line (\d+)", str(e))
        raise WorkspaceError(f"not valid TOML: {e}", path=str(path),
                             line=int(m.group(1)) if m else None,
                             hint="fix the TOML syntax (strings in double quotes, "
                                  "[table] headers, key = value)") from None
    if prefix:
        data = data.get("tool", {}).get("slapolicy", {})
    return _Reader(path, text, prefix).workspace(data)


class _Reader:
    def __init__(self, path: Path, text: str, prefix: str) -> None:
        self.path, self.text, self.prefix = path, text, prefix
        self.root = path.parent

    def error(self, table: str, key: str | None, message: str, hint: str) -> WorkspaceError:
        full = ".".join(p for p in (self.prefix, table, key) if p)
        return WorkspaceError(message, path=str(self.path), line=self.line_of(table, key),
                              key=full or None, hint=hint)

    def line_of(self, table: str, key: str | None) -> int | None:
        """The line that sets ``key`` in ``[table]`` (or the table's header)."""
        want = ".".join(p for p in (self.prefix, table) if p)
        sub = ".".join(p for p in (want, key) if p)
        current, header = "", None
        for n, line in enumerate(self.text.splitlines(), 1):
            stripped = line.strip()
            m = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", stripped)
            if m:
                current = m.group(1).replace('"', "").replace(" ", "")
                if current == sub and key is not None:
                    return n
                if current == want:
                    header = n
                continue
            if key is None or current != want:
                continue
            if re.match(rf'^"?{re.escape(key)}"?\s*=', stripped):
                return n
        return header

    def workspace(self, data: dict[str, Any]) -> Workspace:
        self.check_keys("", data)
        d = data.get("data", {})
        limits = data.get("limits", {})
        for table, value in (("data", d), ("limits", limits)):
            if not isinstance(value, dict):
                raise self.error("", table, f"{table} must be a table",
                                 f"write a [{table}] section")
            self.check_keys(table, value)
        locale = data.get("locale")
        if locale is not None and locale not in LOCALES:
            raise self.error("", "locale", f"unknown locale {locale!r}",
                             f"use one of {', '.join(LOCALES)}")
        return Workspace(
            file=self.path, root=self.root,
            policy=self.path_of("", "policy", data), audits=self.path_of("", "audits", data),
            notebook=self.path_of("", "notebook", data),
            expectations=self.path_of("", "expectations", data), locale=locale,
            data=self.source(d), data_zone=self.string("data", "zone", d),
            mapping=self.mapping(d),
            cell_seconds=self.number("limits", "cell_seconds", limits),
            lock_wait_seconds=self.number("limits", "lock_wait_seconds", limits),
            notify=self.notify(data.get("notify", {})),
        )

    def check_keys(self, table: str, data: dict[str, Any]) -> None:
        known = KEYS[table]
        for key, value in data.items():
            if _SECRET_KEY.search(key) and not key.endswith("_env"):
                raise self.error(
                    table, key, f"{key!r} would keep a credential in the workspace file, "
                    "which is shared and committed",
                    f"remove it; put the secret in an environment variable and name it "
                    f"with {key}_env = \"SLAPOLICY_...\"")
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                where = f"[{'.'.join(p for p in (self.prefix, table) if p)}]" \
                    if (self.prefix or table) else "the top level"
                raise self.error(
                    table, key, f"unknown key {key!r} in {where}",
                    f"did you mean {close[0]!r}?" if close else
                    f"use one of: {', '.join(known)}")
            kind = known[key]
            ok = {"path": isinstance(value, str), "source": isinstance(value, str),
                  "mapping": isinstance(value, str), "str": isinstance(value, str),
                  "number": isinstance(value, int | float) and not isinstance(value, bool),
                  "int": isinstance(value, int) and not isinstance(value, bool),
                  "bool": isinstance(value, bool), "list": isinstance(value, list | str),
                  "table": isinstance(value, dict)}[kind]
            if kind == "list" and isinstance(value, list):
                ok = all(isinstance(v, str) and v for v in value)
            if not ok:
                raise self.error(table, key, f"{key} must be a {_KIND_WORDS[kind]}, not "
                                 f"{type(value).__name__} {value!r}",
                                 f"write {key} = {_EXAMPLES.get(key, _KIND_EXAMPLE[kind])}")

    def path_of(self, table: str, key: str, data: dict[str, Any]) -> Path | None:
        value = data.get(key)
        if value is None:
            return None
        if not value.strip():
            raise self.error(table, key, f"{key} is empty", f"name a path, or remove {key}")
        return (self.root / Path(value).expanduser()).resolve()

    def string(self, table: str, key: str, data: dict[str, Any]) -> str | None:
        value = data.get(key)
        return value if value else None

    def number(self, table: str, key: str, data: dict[str, Any]) -> float | None:
        value = data.get(key)
        if value is None:
            return None
        if value < 0 or value != value or value == float("inf"):
            raise self.error(table, key, f"{key} must be a finite number of seconds >= 0",
                             f"write {key} = 600")
        return float(value)

    def source(self, data: dict[str, Any]) -> str | None:
        value = data.get("source")
        if value is None:
            return None
        if "://" in value:
            from slapolicy.errors import SlapolicyError
            from slapolicy.trail.credentials import PgLocation, is_postgres_url

            if not is_postgres_url(value):
                raise self.error("data", "source", f"unsupported data URL {value!r}",
                                 "use a folder, a .duckdb file or postgresql://user@host/db")
            try:
                PgLocation.parse(value)
            except SlapolicyError as e:
                raise self.error("data", "source", e.message,
                                 e.hint or "write postgresql://user@host:5432/db") from None
            return value
        return str((self.root / Path(value).expanduser()).resolve())

    def mapping(self, data: dict[str, Any]) -> str | None:
        value = data.get("mapping")
        if not value:
            return None
        if value.endswith((".yaml", ".yml")) or "/" in value:
            return str((self.root / value).resolve())
        return str(value)

    def notify(self, data: Any) -> Notify:
        if not isinstance(data, dict):
            raise self.error("", "notify", "notify must be a table", "write a [notify] section")
        self.check_keys("notify", data)
        on = data.get("on", list(Notify.on))
        on = [on] if isinstance(on, str) else on
        for item in on:
            if item not in NOTIFY_ON:
                raise self.error("notify", "on", f"unknown outcome {item!r}",
                                 f"use some of: {', '.join(NOTIFY_ON)}")
        webhook = email = None
        if "webhook" in data:
            w = data["webhook"]
            self.check_keys("notify.webhook", w)
            if not str(w.get("url", "")).startswith(("http://", "https://")):
                raise self.error("notify.webhook", "url", "the webhook needs an http(s) url",
                                 'write url = "https://hooks.example.com/slapolicy"')
            webhook = Webhook(w["url"], w.get("token_env"),
                              self.number("notify.webhook", "timeout_seconds", w) or 10.0)
        if "email" in data:
            m = data["email"]
            self.check_keys("notify.email", m)
            for need in ("host", "from", "to"):
                if not m.get(need):
                    raise self.error("notify.email", need if need in m else None,
                                     f"the e-mail notification needs {need}",
                                     f'write {need} = "..." under [notify.email]')
            to = [m["to"]] if isinstance(m["to"], str) else list(m["to"])
            email = Email(host=m["host"], sender=m["from"], to=tuple(to),
                          port=int(m.get("port", 25)), starttls=bool(m.get("starttls", False)),
                          ssl=bool(m.get("ssl", False)), username=m.get("username"),
                          password_env=m.get("password_env"),
                          timeout_seconds=self.number("notify.email", "timeout_seconds", m)
                          or 10.0)
        return Notify(tuple(on), webhook, email)


_KIND_WORDS = {"path": "path (text)", "source": "path or URL (text)", "mapping": "name or path",
               "str": "text", "number": "number", "int": "whole number", "bool": "true or false",
               "list": "list of text", "table": "table"}
_EXAMPLES = {"to": '["revops@example.com"]', "url": '"https://hooks.example.com/sla"',
             "zone": '"America/New_York"', "locale": '"en"'}
_KIND_EXAMPLE = {"path": '"policies/sla.yaml"', "source": '"data/crm.duckdb"',
                 "mapping": '"hubspot"', "str": '"..."', "number": "600", "int": "587",
                 "bool": "true", "list": '["fail", "error"]', "table": "{ ... }"}


# --- defaults for the commands ------------------------------------------------------------


def shown(path: Path, cwd: Path | None = None) -> Path:
    """``path`` relative to the current folder when it lies inside it (shorter messages and
    manifests that do not depend on where the workspace sits), else absolute."""
    here = (cwd or Path.cwd()).resolve()
    try:
        return path.relative_to(here)
    except ValueError:
        return path


def command_defaults(ws: Workspace, cwd: Path | None = None) -> dict[str, Any]:
    """Click's ``default_map``: each command's option defaults from the workspace."""

    def p(path: Path | None) -> Path | None:
        return None if path is None else shown(path, cwd)

    def drop_none(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if v is not None}

    policy = p(ws.policy)
    audits = p(ws.audits_root)
    data = ws.data if ws.data is None or "://" in ws.data else str(shown(Path(ws.data), cwd))
    source = drop_none({"data": data, "data_zone": ws.data_zone, "mapping": ws.mapping})
    run = drop_none({"policy_path": policy, "audits": audits, "notebook": p(ws.audit_notebook()),
                     "expectations": p(ws.expectations), **source})
    with_audits = drop_none({"policy_path": policy, "audits": audits})
    return {
        "audit": {**run, **drop_none({"locale": ws.locale, "cell_timeout": ws.cell_seconds})},
        "run-due": {**run, **drop_none({"wait": ws.lock_wait_seconds,
                                        "cell_timeout": ws.cell_seconds})},
        "check-data": drop_none({"policy_path": policy, **source}),
        "compile": drop_none({"policy_path": policy, "expectations": p(ws.expectations)}),
        "test": drop_none({"policy_path": policy}),
        "demo": drop_none({"policy_path": p(ws.root / "policies" / "company-a.yaml"),
                           "data": p(ws.root / "data" / "demo.duckdb"), "audits": audits,
                           "notebook": p(ws.audit_notebook())}),
        "verify": drop_none({"audits": audits}),
        "reward": {"split": with_audits},
        "dispute": {"raise": with_audits, "decide": with_audits, "list": with_audits},
    }


# --- making one ---------------------------------------------------------------------------


STARTER_POLICY = "sla.yaml"


def create_workspace(folder: Path, *, force: bool = False) -> list[Path]:
    """Scaffold a workspace in ``folder``; return the files written.

    Writes ``slapolicy.toml``, ``policies/sla.yaml`` (a commented starter policy),
    ``policies/company-a.yaml`` (the worked example), ``notebooks/audit.ipynb`` (the
    packaged audit notebook, to customise), ``expectations/`` with both policies' suites
    compiled, and an empty ``audits/``. Refuses to overwrite a file unless ``force``.
    """
    from slapolicy.engine.suites import write_suite
    from slapolicy.policy.loader import load_policy

    folder = folder.resolve()
    files = {
        folder / WORKSPACE_FILE: template("slapolicy.toml"),
        folder / "policies" / STARTER_POLICY: template("sla.yaml"),
        folder / "policies" / "company-a.yaml": packaged_example().read_text(encoding="utf-8"),
        folder / "notebooks" / "audit.ipynb": packaged_notebook().read_text(encoding="utf-8"),
        folder / "audits" / ".gitignore": "# audits are published here, one folder per "
                                          "policy and period\n",
    }
    if not (folder / ".gitignore").exists():  # an existing project keeps its own
        files[folder / ".gitignore"] = "data/\n*.duckdb.wal\n.ipynb_checkpoints/\n"
    existing = [f for f in files if f.exists()]
    if existing and not force:
        raise WorkspaceError(
            f"{folder} already holds {', '.join(str(shown(f, folder)) for f in existing)}",
            path=str(existing[0]),
            hint="choose an empty folder, or pass --force to overwrite these files")
    written: list[Path] = []
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    (folder / "expectations").mkdir(exist_ok=True)
    for name in (STARTER_POLICY, "company-a.yaml"):
        written.append(write_suite(folder / "expectations",
                                   load_policy(folder / "policies" / name)))
    return written


# --- the workspace folder, for notebooks ----------------------------------------------------
# Notebook parameters are paths relative to the workspace, so a notebook runs the same with
# Run All in JupyterLab (whose kernel starts in ``notebooks/``) as under papermill, and an
# executed notebook names no folder of the machine that ran it.

#: Set to the workspace folder when it cannot be found from the working folder.
ENV = "SLAPOLICY_WORKSPACE"
MARKER = "policies"


def root(start: Path | None = None) -> Path:
    """The workspace folder: ``$SLAPOLICY_WORKSPACE``; else the folder of the nearest
    workspace file (``slapolicy.toml``) from ``start`` (default: the working folder) up;
    else the nearest of them that holds ``policies/``; else ``start``."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).resolve()
    here = (start or Path.cwd()).resolve()
    found = find_workspace(here)
    if found is not None:
        return found.parent
    for folder in (here, *here.parents):
        if (folder / MARKER).is_dir():
            return folder
    return here


def resolve(path: str | os.PathLike[str], base: Path | None = None) -> Path:
    """A path given relative to the workspace (an absolute path stays as it is)."""
    p = Path(path)
    return p if p.is_absolute() else (base or root()) / p


def relative(path: str | os.PathLike[str], base: Path) -> str:
    """``path`` relative to ``base`` when it lies inside it; else the path as given.

    Used for notebook parameters, so that executed notebooks carry no absolute path of
    this machine when everything lies inside the workspace.
    """
    p = Path(path).resolve()
    try:
        return p.relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)

