"""Optional dependencies: which extra brings which module, and a note said once per process.

Example:
    ```python
    from fakezoo._optional import install_hint, missing_once
    print(install_hint("matplotlib"))          # pip install "fakezoo[plots]"
    if missing_once("matplotlib", "plots"):    # True the first time only
        print("matplotlib is not installed: no plots")
    ```
"""

from __future__ import annotations

import threading

# Top-level module name -> the fakezoo extra that installs it.
EXTRAS = {
    "matplotlib": "plots",
    "mkdocs": "docs",
    "mkdocstrings": "docs",
    "material": "docs",
    "psycopg": "postgres",
    "psycopg2": "postgres",
    "pymysql": "mysql",
    "MySQLdb": "mysql",
    "facenet_pytorch": "faces",
    "av": "faces",
    "pytorch_grad_cam": "explain",
    "gradio": "app",
    "gradio_client": "app",
    "onnx": "onnx",
    "onnxruntime": "onnx",
}

_said: set[str] = set()
_lock = threading.Lock()


def extra_for(module: str | None) -> str | None:
    """The extra that installs ``module`` (a dotted name is reduced to its top level)."""
    return EXTRAS.get((module or "").split(".")[0])


def install_hint(module: str | None) -> str:
    """What to run to get ``module``: ``pip install "fakezoo[EXTRA]"`` or a plain pip line."""
    extra = extra_for(module)
    if extra:
        return f'pip install "fakezoo[{extra}]"'
    return f"pip install {(module or '').split('.')[0]}".rstrip()


def missing_once(module: str, what: str) -> bool:
    """True the first time a missing ``module`` is reported for ``what`` in this process."""
    with _lock:
        key = f"{module}:{what}"
        if key in _said:
            return False
        _said.add(key)
        return True
