"""The model's fingerprint: the code a sweep's results depend on, and the
versions it ran on.

:func:`model_fingerprint` starts at the model class and follows what its
code reaches, keeping what is defined outside installed packages (not in the
standard library, site-packages, Mesa or mesa_nb): the class and its bases,
their methods, and what those name as globals -- agent classes, reporter
functions and lambdas, helpers in the notebook or in the user's own modules,
module-level constants, classes in annotations (a scenario class) -- and so
on from each of them. Functions are hashed by their code objects (what runs,
not what a file on disk says now; comments and line numbers do not count),
classes by their bases and the settings their body makes. Python, Mesa,
mesa_nb and numpy versions are recorded with them.

:func:`fingerprint_change` names what differs (```Person.step`` changed`,
``Mesa 3.5.0 → 3.5.1``). Stores written before this kept only hashes of the
model class's source and of its module (``class_sha256``,
``module_sha256``); those keys are still written and compared as they were.
"""

from __future__ import annotations

import ast
import dis
import enum
import functools
import hashlib
import inspect
import json
import os
import platform
import re
import sys
import sysconfig
import textwrap
import types
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..core import mesa_adapter
from ..core.meta import __version__
from .encoding import class_path

#: Modules whose source is the user's script or notebook.
_SCRIPT_MODULES = ("__main__", "__mp_main__")
#: Packages whose code is pinned by their version, not walked.
_PACKAGES = frozenset({"mesa", "mesa_nb", "builtins"})
#: The versions a fingerprint records, and how a change names them.
_VERSION_LABELS = {
    "python": "Python",
    "mesa": "Mesa",
    "mesa_nb": "mesa_nb",
    "numpy": "numpy",
}
#: How many changed names a message lists.
_SHOWN = 5


def code_versions() -> dict[str, str]:
    """The versions a run's results depend on besides the user's code."""
    return {
        "python": platform.python_version(),
        "mesa": mesa_adapter.MESA_VERSION,
        "mesa_nb": __version__,
        "numpy": np.__version__,
    }


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- whose code is the user's --------------------------------------------------------
@functools.cache
def _installed_folders() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    keys = ("stdlib", "platstdlib", "purelib", "platlib")
    return tuple(os.path.realpath(paths[k]) + os.sep for k in keys if k in paths)


def is_user_module(name: str | None) -> bool:
    """Whether module ``name`` holds the user's code: a notebook or script,
    a module without a file (made by ``exec``), or a file outside the
    standard library and site-packages; never Mesa or mesa_nb."""
    if name is None or name in _SCRIPT_MODULES:
        return True
    root = name.partition(".")[0]
    if root in _PACKAGES or root in sys.stdlib_module_names:
        return False
    file = getattr(sys.modules.get(name), "__file__", None)
    if not file:
        return True
    path = os.path.realpath(file)
    parts = Path(path).parts
    if "site-packages" in parts or "dist-packages" in parts:
        return False
    return not path.startswith(_installed_folders())


# -- what a piece of code is, as text --------------------------------------------------
def _const_text(value: Any) -> str:
    """A constant of a code object (sets sorted: their order is hash-random)."""
    if inspect.iscode(value):
        return _code_text(value)
    if isinstance(value, (frozenset, set)):
        return f"{{{','.join(sorted(_const_text(v) for v in value))}}}"
    if isinstance(value, tuple):
        return f"({','.join(_const_text(v) for v in value)})"
    return repr(value)


def _code_text(code: types.CodeType) -> str:
    """A code object's instructions, names and constants (no file or line;
    future-import flags left out)."""
    return repr(
        (
            code.co_code,
            code.co_names,
            code.co_varnames,
            code.co_freevars,
            code.co_cellvars,
            code.co_argcount,
            code.co_posonlyargcount,
            code.co_kwonlyargcount,
            code.co_flags & 0xFFFF,
            [_const_text(c) for c in code.co_consts],
        )
    )


_LOAD_GLOBAL = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_LOAD_ATTRIBUTE = frozenset({"LOAD_ATTR", "LOAD_METHOD", "IMPORT_FROM"})


def _global_references(code: types.CodeType) -> list[tuple[str, tuple[str, ...]]]:
    """The globals a code object (and the code nested in it) reads, each with
    the attributes read from it right after (``helpers.bonus``), and the
    modules it imports with the names it reads from them."""
    found: list[tuple[str, tuple[str, ...]]] = []
    codes = [code]
    while codes:
        each = codes.pop()
        codes.extend(c for c in each.co_consts if inspect.iscode(c))
        current: list[str] | None = None
        for instruction in dis.get_instructions(each):
            name = instruction.opname
            if name in _LOAD_GLOBAL or name == "IMPORT_NAME":
                if current is not None:
                    found.append((current[0], tuple(current[1:])))
                prefix = "import " if name == "IMPORT_NAME" else ""
                current = [prefix + str(instruction.argval)]
            elif name in _LOAD_ATTRIBUTE and current is not None:
                current.append(str(instruction.argval))
            elif current is not None and name not in ("CACHE", "EXTENDED_ARG"):
                found.append((current[0], tuple(current[1:])))
                current = None
        if current is not None:
            found.append((current[0], tuple(current[1:])))
    return found


def _all_names(code: types.CodeType) -> set[str]:
    """Every name a code object (and the code nested in it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if inspect.iscode(const):
            names |= _all_names(const)
    return names


_IDENTIFIER = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


# -- following the user's code ------------------------------------------------------
class _Walk:
    """Collects the user's classes, functions and module-level values that
    code reached from the roots depends on: ``{module:name: [texts]}``."""

    def __init__(self) -> None:
        self.texts: dict[str, list[str]] = {}
        self._seen: dict[int, Any] = {}  # keeps what was seen alive (ids stay unique)
        self._todo: list[tuple[Any, str | None]] = []

    def run(self, roots: tuple[Any, ...]) -> dict[str, str]:
        for root in reversed(roots):
            self._todo.append((root, None))
        while self._todo:
            item, via = self._todo.pop()
            if id(item) in self._seen:
                continue
            self._seen[id(item)] = item
            if isinstance(item, type):
                self._class(item)
            elif inspect.isfunction(item):
                self._function(item, via)
        return {
            key: _sha256("\n\n".join(sorted(texts)))
            for key, texts in sorted(self.texts.items())
        }

    def _record(self, module: str | None, name: str, text: str) -> None:
        self.texts.setdefault(f"{module or '?'}:{name}", []).append(text)

    def _push(self, item: Any, via: str | None = None) -> None:
        for each in _callables_in(item):
            self._todo.append((each, via))

    # -- classes and functions ---------------------------------------------------
    def _class(self, cls: type) -> None:
        if not is_user_module(cls.__module__):
            return
        lines = [f"bases: {', '.join(class_path(b) for b in cls.__bases__)}"]
        body = _class_body(cls)
        if body is not None:
            lines.append(body)
        for name, value in sorted(vars(cls).items()):
            if _callables_in(value):
                self._push(value)
            elif body is None and not name.startswith("__"):
                lines.append(f"{name} = {self._value_text(value)}")
        self._record(cls.__module__, cls.__qualname__, "\n".join(lines))
        for base in reversed(cls.__mro__[1:]):
            self._push(base)

    def _function(self, function: types.FunctionType, via: str | None) -> None:
        module = function.__module__
        if not is_user_module(module):
            return
        name = function.__qualname__
        if name.startswith("<lambda>") and via:
            name = via  # a lambda kept in a global: named by where it is kept
        kwdefaults = sorted((function.__kwdefaults__ or {}).items())
        closure = [_cell_contents(c) for c in function.__closure__ or ()]
        text = "\n".join(
            [
                _code_text(function.__code__),
                f"defaults: {self._value_text(function.__defaults__)}",
                f"keyword defaults: {self._value_text(kwdefaults)}",
                f"closure: {self._value_text(closure)}",
            ]
        )
        self._record(module, name, text)
        namespace = function.__globals__
        for name_read, attributes in _global_references(function.__code__):
            if name_read.startswith("import "):  # inside the function
                target = sys.modules.get(name_read[len("import ") :])
                # ``from m import f`` names f; after ``import m``, any name
                # the function reads may be one of m's
                for attribute in attributes or _all_names(function.__code__):
                    self._module_attribute(target, attribute)
            elif name_read in namespace:
                self._global(module, name_read, namespace[name_read], attributes)
        try:
            annotations = dict(function.__annotations__)
        except Exception:  # annotations evaluated lazily, naming what is gone
            annotations = {}
        for annotation in annotations.values():
            self._annotation(annotation, namespace)

    # -- what functions read --------------------------------------------------------
    def _global(
        self, module: str | None, name: str, value: Any, attributes: tuple[str, ...]
    ) -> None:
        if isinstance(value, types.ModuleType):
            if attributes:
                self._module_attribute(value, *attributes)
            return
        if _callables_in(value):
            self._push(value, name)
            return
        key = f"{module or '?'}:{name}"
        if _is_data(value) and key not in self.texts:
            self._record(module, name, self._value_text(value, name))

    def _module_attribute(self, module: Any, *attributes: str) -> None:
        """``module.a.b`` read by the user's code: followed while it stays in
        the user's modules."""
        if not isinstance(module, types.ModuleType) or not attributes:
            return
        if not is_user_module(module.__name__):
            return
        first, rest = attributes[0], attributes[1:]
        if first not in vars(module):
            return
        self._global(module.__name__, first, vars(module)[first], rest)

    def _annotation(self, annotation: Any, namespace: dict[str, Any]) -> None:
        """A class named in an annotation (a scenario class), also in a string."""
        if isinstance(annotation, str):
            for dotted in _IDENTIFIER.findall(annotation):
                first, *rest = dotted.split(".")
                target = namespace.get(first)
                for attribute in rest:
                    target = getattr(target, attribute, None)
                if isinstance(target, type):
                    self._push(target)
        elif isinstance(annotation, type):
            self._push(annotation)
        else:
            for argument in getattr(annotation, "__args__", ()) or ():
                self._annotation(argument, namespace)

    def _value_text(self, value: Any, via: str | None = None, depth: int = 0) -> str:
        """A value a function or class depends on, as text (code in it is
        followed and named, not printed with its address)."""
        if depth > 8:
            return "..."
        if value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
            return repr(value)
        if isinstance(value, enum.Enum):
            return f"{class_path(type(value))}.{value.name}"
        if isinstance(value, np.ndarray) and value.dtype != object:
            digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()
            return f"ndarray({value.dtype},{value.shape},{digest})"
        if isinstance(value, np.generic):
            return f"{value.dtype}({value!r})"
        if isinstance(value, (pd.DataFrame, pd.Series)):
            return _frame_text(value)
        if _callables_in(value):
            self._push(value, via)
            code = [c for c in _callables_in(value) if hasattr(c, "__qualname__")]
            return ",".join(f"<{c.__module__}:{c.__qualname__}>" for c in code)
        if isinstance(value, dict):
            items = [
                f"{self._value_text(k, None, depth + 1)}: "
                f"{self._value_text(v, _item(via, k), depth + 1)}"
                for k, v in value.items()
            ]
            return f"{{{', '.join(items)}}}"
        if isinstance(value, (list, tuple)):
            items = [
                self._value_text(v, _item(via, i), depth + 1)
                for i, v in enumerate(value)
            ]
            return f"{type(value).__name__}({', '.join(items)})"
        if isinstance(value, (set, frozenset)):
            items = sorted(self._value_text(v, None, depth + 1) for v in value)
            return f"{type(value).__name__}({', '.join(items)})"
        kind = type(value)
        if is_user_module(kind.__module__):
            self._push(kind)
            state = {
                k: v
                for k, v in sorted(getattr(value, "__dict__", {}).items())
                if not k.startswith("_")
            }
            return f"{class_path(kind)}({self._value_text(state, None, depth + 1)})"
        return f"<{class_path(kind)}>"


def _frame_text(frame: pd.DataFrame | pd.Series) -> str:
    """A table a model reads from a global: its shape, dtypes and a hash of
    its values."""
    try:
        hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    except (TypeError, ValueError):  # unhashable cells (lists)
        return f"<{class_path(type(frame))} {frame.shape}>"
    digest = hashlib.sha256(hashed.tobytes()).hexdigest()
    dtypes = frame.dtypes.to_dict() if isinstance(frame, pd.DataFrame) else frame.dtype
    return f"{type(frame).__name__}({dtypes!r},{digest})"


def _class_body(cls: type) -> str | None:
    """What a class's body sets besides its functions, as its source says
    (a class in a file); None where there is no source (a notebook class,
    whose values are read instead: running the cell again sets them)."""
    if cls.__module__ in _SCRIPT_MODULES:
        return None
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except Exception:  # no source, or inspect could not find the class in it
        return None
    node = tree.body[0] if tree.body else None
    if not isinstance(node, ast.ClassDef) or node.name != cls.__name__:
        return None
    kept = [*node.decorator_list, *node.keywords]
    for statement in node.body:
        if isinstance(statement, ast.Expr) and isinstance(
            statement.value, ast.Constant
        ):
            continue  # the docstring
        if not isinstance(
            statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        ):
            kept.append(statement)
    return "\n".join(ast.dump(each) for each in kept)


def _item(via: str | None, key: Any) -> str | None:
    return f"{via}[{key!r}]" if via else None


#: Values of globals that are recorded as data (besides instances of the
#: user's classes).
_DATA_TYPES = (
    *(type(None), bool, int, float, complex, str, bytes),
    *(tuple, list, dict, set, frozenset, enum.Enum),
    *(np.ndarray, np.generic, pd.DataFrame, pd.Series),
)


def _is_data(value: Any) -> bool:
    """A global worth recording: plain data, or an instance of the user's."""
    return isinstance(value, _DATA_TYPES) or is_user_module(type(value).__module__)


def _callables_in(value: Any) -> list[Any]:
    """The classes and functions a class attribute or a global stands for."""
    if isinstance(value, (staticmethod, classmethod, types.MethodType)):
        return [value.__func__]
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if f is not None]
    if isinstance(value, functools.partial):
        return [value.func]
    if isinstance(value, type) or inspect.isfunction(value):
        return [value]
    return []


def _cell_contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None


# -- the fingerprint ----------------------------------------------------------------
def model_fingerprint(cls: type, *also: Any) -> dict[str, Any]:
    """What the results of a sweep of ``cls`` depend on.

    ``code`` maps every class and function of the user's that the model
    reaches (``module:qualname``; ``also`` adds more starting points, such
    as a scenario class) to a hash of its code; ``versions`` holds Python,
    Mesa, mesa_nb and numpy versions; ``sha256`` hashes both (the code hash
    a store's provenance shows). ``code_how`` says how code was read
    (``bytecode-3.x``: comparable on the same Python). ``how``,
    ``class_sha256`` and ``module_sha256`` are what earlier versions wrote,
    kept so that stores compare with them both ways.
    """
    code = _Walk().run((cls, *also))
    versions = code_versions()
    return {
        **_legacy_fingerprint(cls),
        "root": f"{cls.__module__}:{cls.__qualname__}",
        "code_how": f"bytecode-{sys.version_info[0]}.{sys.version_info[1]}",
        "code": code,
        "versions": versions,
        "sha256": _sha256(json.dumps({"code": code, "versions": versions})),
    }


def fingerprint_change(stored: Any, current: dict[str, Any]) -> str | None:
    """What changed in the code (or the versions) since ``stored`` was taken,
    in words, or None (also when the store has no fingerprint, or one not
    comparable)."""
    if not isinstance(stored, dict):
        return None
    if not isinstance(stored.get("code"), dict):
        return _legacy_change(stored, current)
    changes = []
    before_versions = stored.get("versions") or {}
    for key, label in _VERSION_LABELS.items():
        before, now = before_versions.get(key), current["versions"].get(key)
        if before and now and before != now:
            changes.append(f"{label} {before} → {now}")
    if stored.get("code_how") != current["code_how"]:
        return "; ".join(changes) or None  # a new Python: its version says it
    changes += _code_changes(stored["code"], current)
    return "; ".join(changes) or None


def _code_changes(before: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """```Person.step`` changed`, grouped: the model class's own code first."""
    now, root = current["code"], current["root"]
    module = root.partition(":")[0]
    found = [(k, "changed") for k in now if k in before and before[k] != now[k]]
    found += [(k, "added") for k in now if k not in before]
    found += [(k, "removed") for k in before if k not in now]
    if not found:
        return []

    def shown(key: str) -> str:
        where, _, name = key.partition(":")
        return name if where in (module, "?", *_SCRIPT_MODULES) else f"{where}.{name}"

    def listing(items: list[tuple[str, str]]) -> str:
        words = [f"`{shown(k)}` {how}" for k, how in items[:_SHOWN]]
        more = len(items) - _SHOWN
        return ", ".join(words) + (f" and {more} more" if more > 0 else "")

    own = [(k, how) for k, how in found if k == root or k.startswith(root + ".")]
    others = [item for item in found if item not in own]
    changes = []
    if own:
        changes.append(f"the code of {current['class']} changed ({listing(own)})")
    if others:
        changes.append(listing(others))
    return changes


# -- the fingerprint earlier versions wrote ------------------------------------------
def _legacy_fingerprint(cls: type) -> dict[str, Any]:
    """Hashes of the model class's source (and the classes it inherits from,
    outside Mesa) and, unless it lives in a script or notebook, its module.

    ``how`` says how the class was read: ``source`` (its source file),
    ``members`` (the source of its methods, for a class defined in a
    notebook) or ``bytecode-3.x`` (no source at all).
    """
    texts, how = [], "source"
    for each in _legacy_classes(cls):
        try:
            texts.append(inspect.getsource(each))
        except (OSError, TypeError):
            text, from_source = _members_text(each)
            texts.append(text)
            if how == "source":
                how = "members"
            if not from_source:
                how = f"bytecode-{sys.version_info[0]}.{sys.version_info[1]}"
    module_sha = None
    module = sys.modules.get(cls.__module__)
    if module is not None and cls.__module__ not in _SCRIPT_MODULES:
        try:
            module_sha = _sha256(inspect.getsource(module))
        except (OSError, TypeError):
            module_sha = None
    return {
        "class": class_path(cls),
        "how": how,
        "class_sha256": _sha256("\n\n".join(texts)),
        "module_sha256": module_sha,
    }


def _legacy_change(stored: dict[str, Any], current: dict[str, Any]) -> str | None:
    if stored.get("how") != current["how"]:
        return None
    name = current["class"]
    if stored.get("class_sha256") != current["class_sha256"]:
        return f"the code of {name} (or of a class it inherits from) changed"
    before, now = stored.get("module_sha256"), current["module_sha256"]
    if before and now and before != now:
        module = name.rpartition(".")[0]
        return f"the module {module} that defines {name.rpartition('.')[2]} changed"
    return None


def _legacy_classes(cls: type) -> list[type]:
    """``cls`` and the classes it inherits from outside Mesa."""
    found = [cls]
    for each in cls.__mro__[1:]:
        root = each.__module__.partition(".")[0]
        if root not in ("mesa", "builtins", "abc", "typing"):
            found.append(each)
    return found


def _legacy_code_text(code: Any) -> str:
    consts = [
        _legacy_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts
    ]
    return repr((code.co_code, code.co_names, code.co_varnames, consts))


def _function_text(function: Any) -> tuple[str, bool]:
    """A function's source, or (False) its bytecode where it has none."""
    try:
        return inspect.getsource(function), True
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        return (_legacy_code_text(code) if code is not None else repr(function)), False


def _members_text(cls: type) -> tuple[str, bool]:
    """A class without a source file (defined in a notebook): the source of
    each of its functions and its plain class attributes."""
    parts = [cls.__qualname__, ",".join(class_path(b) for b in cls.__bases__)]
    exact = True
    for name, value in sorted(vars(cls).items()):
        target = getattr(value, "__func__", value)
        functions = (
            [target.fget, target.fset, target.fdel]
            if isinstance(target, property)
            else [target]
        )
        if any(inspect.isfunction(f) for f in functions):
            for function in functions:
                if inspect.isfunction(function):
                    text, from_source = _function_text(function)
                    exact = exact and from_source
                    parts.append(f"{name}: {text}")
        elif not name.startswith("__") and isinstance(
            value, (bool, int, float, complex, str, bytes, tuple, type(None))
        ):
            parts.append(f"{name} = {value!r}")
    return "\n".join(parts), exact
