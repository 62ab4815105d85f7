"""forkstack's runtime library for Python apps: which env am I in, and where are its things?

A port of the TypeScript library's resolver (forkstack's src/runtime/resolve.ts and src/index.ts),
so that a Python service and a Node service in one project always agree on the env and its values:
forkstack's test/runtime/python-parity.test.ts runs both on the same projects and compares answers,
errors included. Standard library only (Python >= 3.9): copy this file into your app.

A variable already in ``os.environ`` wins (that is how a deployed app is configured, and how
``forkstack run`` hands the env over); otherwise the value comes from the current env's manifest in
``.forkstack/``, read once per process: ``refresh()`` forgets it after a ``forkstack switch``.
"""
from __future__ import annotations

import json
import os
import posixpath
import re
from typing import Any, Callable, Dict, Optional

__all__ = ["ForkstackError", "current_env", "database_url", "database_auth_token", "bucket_name",
           "storage_config", "local_path", "secret", "env_vars", "refresh", "find_project_root"]

# The names and rules of forkstack's src/layout.ts.
CONFIG_FILE_NAMES = ("forkstack.config.ts", "forkstack.config.mts", "forkstack.config.mjs",
                     "forkstack.config.js", "forkstack.config.json")
ENV_NAME_PATTERN = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
ENV_NAME_RULE = "lowercase letters a-z, digits 0-9 and single hyphens inside (e.g. alice, pr-42)"
MAX_ENV_NAME = 48
ENV_ALIASES = {"production": "prod", "development": "dev"}
FILE_SECRETS_PROVIDER = "dotenv"
# `forkstack run` marks what it injected, so that a worker picking another env is not handed those.
RUN_ENV_VAR, RUN_VARS_VAR = "FORKSTACK_RUN_ENV", "FORKSTACK_RUN_VARS"
# What JavaScript's trim() removes; Python's strip() differs (it takes \x1c-\x1f and \x85, not a BOM).
_JS_SPACE = "\t\n\v\f\r \xa0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff" + "".join(
    map(chr, range(0x2000, 0x200B)))
_NAME_HINT = f"Env names are {ENV_NAME_RULE}, at most {MAX_ENV_NAME} characters."


class ForkstackError(Exception):
    """An error the user can fix; ``code`` is the TypeScript library's (docs/troubleshooting.md)."""

    def __init__(self, message: str, code: str, hint: Optional[str] = None) -> None:
        super().__init__(message)
        self.message, self.code, self.hint = message, code, hint


# What was read from files: "root", "env", ("manifest", env), ("vars", env). Variables are not cached.
_cache: Dict[Any, Any] = {}


def refresh() -> None:
    """Forget everything read from files (after a ``switch`` in a long-running process, or in tests)."""
    _cache.clear()


def _js(value: str) -> str:
    """``JSON.stringify`` of a string: messages quote values exactly as the TypeScript ones do."""
    return json.dumps(value, ensure_ascii=False)


def _join(*parts: str) -> str:
    """Node's ``path.join``: joined, then normalised (``..`` resolved, a trailing slash kept)."""
    joined = "/".join(p for p in parts if p)
    if not joined:
        return "."
    out = posixpath.normpath(joined)
    out = "/" + out.lstrip("/") if out.startswith("//") else out  # POSIX keeps a leading `//`, Node not
    return out + "/" if joined.endswith("/") and not out.endswith("/") else out


def _read(path: str) -> Optional[str]:
    """The file's text, or None if it does not exist; any other failure is raised, as in Node."""
    try:
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return f.read()
    except FileNotFoundError:
        return None


def find_project_root(cwd: Optional[str] = None) -> Optional[str]:
    """Walk up from ``cwd`` to the directory holding a forkstack config, or None."""
    d = cwd or os.getcwd()
    while not any(os.path.exists(_join(d, name)) for name in CONFIG_FILE_NAMES):
        if posixpath.dirname(d) == d:
            return None
        d = posixpath.dirname(d)
    return d


def _root() -> str:
    if "root" not in _cache:
        _cache["root"] = os.environ.get("FORKSTACK_ROOT") or find_project_root()
    if not _cache["root"]:
        raise ForkstackError(
            f"No forkstack project found from {os.getcwd()}: no forkstack.config.* here or above.",
            "E_CONFIG_NOT_FOUND",
            "Run `npx forkstack init` at your project root, or set FORKSTACK_ENV and the env's variables.")
    return str(_cache["root"])


def _is_env_name(name: str) -> bool:
    return len(name) <= MAX_ENV_NAME and ENV_NAME_PATTERN.fullmatch(name) is not None


def _checked(name: str, source: str, raw: str) -> str:
    """Whatever the source, the name is validated: ``FORKSTACK_ENV=../../x`` never becomes a path."""
    if not _is_env_name(name):
        raise ForkstackError(f"{source}={_js(raw[:60])} is not a valid env name.", "E_INVALID_ENV_NAME",
                             _NAME_HINT)
    return name


def current_env() -> str:
    """The current env: FORKSTACK_ENV, then ENV (production->prod, development->dev), then
    ``.current-env``, then the config's default env (``--env`` is the CLI's alone). The variables are
    read on every call, as a test worker may set FORKSTACK_ENV late; only the files are cached."""
    explicit, seed = os.environ.get("FORKSTACK_ENV"), os.environ.get("ENV")
    if explicit:
        return _checked(explicit, "FORKSTACK_ENV", explicit)
    if seed:
        return _checked(ENV_ALIASES.get(seed, seed), "ENV", seed)
    if "env" not in _cache:
        path = _join(_root(), ".current-env")
        text = _read(path)
        if text is not None:
            if not _is_env_name(text.strip(_JS_SPACE)):  # garbage in the file is reported, not used
                raise ForkstackError(
                    f"{path} holds {_js(text[:40])}, not an env name.", "E_STATE_CORRUPT",
                    "Run `forkstack switch <env>` to rewrite it, or delete the file to use the default env.")
            _cache["env"] = text.strip(_JS_SPACE)
        else:
            # The config's default env, from the cache the CLI writes: we never run a TypeScript config.
            try:
                data = json.loads(_read(_join(_root(), ".forkstack", "project.json")) or "null")
                fallback = (data.get("defaultEnv") if isinstance(data, dict) else None) or "dev"
            except ValueError:
                fallback = "dev"
            _cache["env"] = _checked(fallback, "default", fallback)
    return str(_cache["env"])


def _manifest(env: str) -> Dict[str, Any]:
    if ("manifest", env) not in _cache:
        path = _join(_root(), ".forkstack", "envs", env, "manifest.json")
        text = _read(path)
        if text is None:
            raise ForkstackError(
                f'Environment "{env}" does not exist in this project.', "E_ENV_NOT_FOUND",
                f"Create it with `forkstack new {env}`, or list envs with `forkstack list`.")
        try:
            manifest = json.loads(text, parse_constant=int)  # int("NaN") fails, as JSON.parse does
            if not isinstance(manifest, dict):
                raise ValueError(path)
        except ValueError:
            raise ForkstackError(
                f'The manifest of "{env}" ({path}) is not a JSON object.', "E_STATE_CORRUPT",
                f"Run `forkstack delete {env} --force` to remove what is left of it, "
                f"then `forkstack new {env}` to make it again.") from None
        # A half-made env has no usable variables: never hand out its partial set.
        status = manifest.get("status", "undefined")
        if status != "ready":
            shown = status if isinstance(status, str) else json.dumps(status)
            parent = manifest.get("parent")
            if status == "creating":
                hint = "Run `forkstack list` to see its state; a `new` may still be running."
            elif parent:  # a fork is forked again; a root is made again
                hint = (f"`forkstack reset {env}` forks it again from {parent}; "
                        "`forkstack list` shows its state.")
            else:
                hint = (f"`forkstack delete {env} --force`, then `forkstack new {env}` makes it again; "
                        "`forkstack list` shows its state.")
            raise ForkstackError(f'Environment "{env}" is {shown}, not ready.', "E_ENV_BROKEN", hint)
        _cache["manifest", env] = manifest
    return _cache["manifest", env]  # type: ignore[no-any-return]


def _parse_env(text: str) -> Dict[str, str]:
    """Node's ``util.parseEnv`` (node_dotenv.cc of Node 20), which the TypeScript library reads
    secrets files with: the same value for every key, quirks included."""
    out: Dict[str, str] = {}
    content = text.replace("\r", "").strip(" ")
    while content:
        nl = content.find("\n")
        if content[0] in "\n#" and nl != -1:  # a blank line or a comment
            content = content[nl + 1:]
            continue
        eq = content.find("=")
        if eq == -1:
            content = content[nl + 1:] if nl != -1 else ""
            continue
        raw, content = content[:eq], content[eq + 1:].strip(" ")
        if not raw:
            break
        # A key of spaces alone: Node 20 reads out of bounds there (giving the key "\n"); we drop it.
        key = raw.strip(" ") or "\0"
        key = key[7:] if key.startswith("export ") else key
        if not content:
            out[key] = ""
            break
        quote, nl = content[0], content.find("\n")
        close = content.find(quote, 1) if quote in "'\"`" else -1
        if close != -1:  # a quoted value, which may span lines; only "…" knows an escape: \n
            out[key] = content[1:close].replace("\\n", "\n") if quote == '"' else content[1:close]
            nl = content.find("\n", close + 1)
            content = content[nl + 1:] if nl != -1 else ""
        elif quote in "'\"`":  # no closing quote: the line as it is
            if nl != -1:
                out[key], content = content[:nl], content[nl + 1:]
        else:
            out[key] = (content[:nl] if nl != -1 else content).split("#", 1)[0].strip(" ")
            content = content[nl + 1:] if nl != -1 else ""
    out.pop("\0", None)
    return out


def _manifest_vars(env: str) -> Dict[str, Any]:
    """Every variable the env's resources expose, and its secrets: the dotenv provider's own file, or
    for any other provider (Doppler) what the CLI last resolved and cached: we load no provider."""
    if ("vars", env) not in _cache:
        resources = _manifest(env).get("resources") or {}
        found = {"FORKSTACK_ENV": env}
        for resource in resources.values():
            if isinstance(resource, dict):
                found.update(resource.get("vars") or {}, **(resource.get("secretVars") or {}))
        secrets, file = resources.get("secrets"), None
        if isinstance(secrets, dict) and secrets.get("provider") == FILE_SECRETS_PROVIDER:
            file = (secrets.get("data") or {}).get("file")
        elif isinstance(secrets, dict):
            file = _join(_root(), ".forkstack", "envs", env, "secrets.cache.env")
        text = _read(file) if isinstance(file, str) else None
        found.update(_parse_env(text) if text is not None else {})
        _cache["vars", env] = found
    return _cache["vars", env]  # type: ignore[no-any-return]  # shared: callers copy to change it


def _injected_for_another_env(name: str, env: Callable[[], str]) -> bool:
    """Did ``forkstack run`` put ``name`` there for another env than ours (a worker that switched)?"""
    run_env = os.environ.get(RUN_ENV_VAR)
    if not run_env:
        return False  # the common case, a deployed app: one lookup
    return name in os.environ.get(RUN_VARS_VAR, "").split(",") and run_env != env()


def _lookup(name: str) -> Optional[str]:
    from_process = os.environ.get(name)
    if from_process is not None and not _injected_for_another_env(name, current_env):
        return from_process
    return _manifest_vars(current_env()).get(name)


def _lookup_optional(name: str) -> Optional[str]:
    """For values an app may lack (a token, a secret): without project files, None, not an error."""
    try:
        return _lookup(name)
    except ForkstackError as error:
        if error.code == "E_CONFIG_NOT_FOUND":
            return None
        raise


def _required(name: str, what: str) -> str:
    value = _lookup(name)
    if not value:
        raise ForkstackError(f'The env "{current_env()}" has no {what} ({name} is not set).',
                             "E_CONFIG_INVALID",
                             f"Configure a {what} provider in forkstack.config.ts, or set {name}.")
    return value


def database_url() -> str:
    """``DATABASE_URL`` of the current env: a ``file:`` URL for the embedded SQLite provider."""
    return _required("DATABASE_URL", "database")


def database_auth_token() -> Optional[str]:
    """``DATABASE_AUTH_TOKEN`` where the backend needs one (Turso), else None."""
    return _lookup_optional("DATABASE_AUTH_TOKEN") or None


def bucket_name(key: Optional[str] = None) -> str:
    """The default bucket's name, or a named one's (``bucket_name("uploads")``)."""
    if key is None:
        return _required("BUCKET_NAME", "storage")
    return _required(f"BUCKET_NAME_{key.upper().replace('-', '_')}", f'bucket "{key}"')


def storage_config() -> Dict[str, str]:
    """Keyword arguments for ``boto3.client("s3", **storage_config(), config=...)``; local endpoints
    are IP addresses, so use path-style addressing (README.md)."""
    return {
        "endpoint_url": _required("AWS_ENDPOINT_URL_S3", "storage"),
        "region_name": _lookup("AWS_REGION") or "auto",
        "aws_access_key_id": _required("AWS_ACCESS_KEY_ID", "storage"),
        "aws_secret_access_key": _required("AWS_SECRET_ACCESS_KEY", "storage"),
    }


def local_path(*parts: str) -> str:
    """A path inside the current env's local state directory: ``local_path("graph", "kuzu")``."""
    return _join(_required("FORKSTACK_LOCAL_PATH", "local state directory"), *parts)


def secret(name: str) -> Optional[str]:
    """A secret of the current env, or None when it has none by that name."""
    return _lookup_optional(name)


def env_vars() -> Dict[str, str]:
    """Every variable of the current env, ``os.environ`` winning for names it already has."""
    env = current_env()
    found = dict(_manifest_vars(env))
    for name in found:
        from_process = os.environ.get(name)
        if from_process is not None and not _injected_for_another_env(name, lambda: env):
            found[name] = from_process
    return found
