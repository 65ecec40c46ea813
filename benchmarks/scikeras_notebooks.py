"""Run scikeras's documentation notebooks with scikeras and with skmultihead swapped in.

scikeras's notebooks (docs/source/notebooks/*.md, jupytext markdown) are the
code its users copy. For each notebook this script takes the ```python cells
in order and runs them twice, each version in a fresh subprocess, cell by cell
in one shared namespace (an exception is recorded per cell and later cells
still run):

1. "scikeras": as written, with scikeras's ``KerasClassifier``;
2. "swapped": ``from skmultihead import MultiClassKerasClassifier as
   KerasClassifier`` in place of scikeras's classifier (``KerasRegressor``,
   ``BaseWrapper`` and ``scikeras.utils`` stay on scikeras).

The same substitutions are applied to both versions:

- downloads are replaced by scikit-learn's bundled data: MNIST becomes
  ``load_digits`` scaled up to 28x28 uint8 images (1,297 train, 500 test rows),
  so the notebooks' own networks run unchanged;
- ``pip install`` cells and plotting-only cells are skipped; ``%memit`` and
  ``%timeit`` lines run their statement once;
- cells that only concern regressors or the autoencoders (``KerasRegressor``,
  ``BaseWrapper``) are skipped, but their top-level imports still run;
- Meta_Estimators' classifier gets ``epochs=5`` (scikeras's default is 1,
  skmultihead's 100) and its AdaBoost ``n_estimators=10``, for time;
- the sparse notebook (regressors only) gets N_SAMPLES=2,000 and, after its
  cells, added classifier counterparts of its pipelines (y thresholded at 0.5,
  a sigmoid output), marked "[added]".

Printed per notebook: cells run, cells failing with scikeras, cells failing
only when swapped (with the error), and the cells whose printed output or last
expression differs between the two versions.

Run from the repository root (needs scikeras installed; no network, no GPU):

    python benchmarks/scikeras_notebooks.py
    python benchmarks/scikeras_notebooks.py --notebooks Basic_Usage sparse --json out.json

Options: --repo (a scikeras clone or bare repository, read with ``git show``;
default /work/.mirror/adriangb+scikeras/repo), --rev (default HEAD),
--timeout (seconds per version, default 900), --nice (default 10).
Each version runs with KERAS_BACKEND=tensorflow, TF_CPP_MIN_LOG_LEVEL=3 and
CUDA_VISIBLE_DEVICES="".
"""

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile

NOTEBOOKS = [
    "Basic_Usage",
    "DataTransformers",
    "MLPClassifier_MLPRegressor",
    "Meta_Estimators",
    "sparse",
    "AutoEncoders",
    "Benchmarks",
]

# MNIST replaced by scikit-learn's digits: 8x8 images in 0..16, scaled to
# 0..255 and upsampled to 24x24, padded to 28x28, as uint8 like MNIST.
PRELUDE = """
def _digits_as_mnist():
    import numpy as _np
    from sklearn.datasets import load_digits as _load_digits

    _d = _load_digits()
    _img = (_d.images * (255.0 / 16.0)).round().astype(_np.uint8)
    _img = _np.kron(_img, _np.ones((1, 3, 3), dtype=_np.uint8))
    _img = _np.pad(_img, ((0, 0), (2, 2), (2, 2)))
    _y = _d.target.astype(_np.uint8)
    return (_img[:-500], _y[:-500]), (_img[-500:], _y[-500:])
"""

SKIP_REGRESSOR = "regressor only"
SKIP_AUTOENCODER = "autoencoder (BaseWrapper) only"
SKIP_PLOT = "plotting only"

# notebook -> {cell number (1-based, among python cells): reason to skip}
SKIPS = {
    "Basic_Usage": {n: SKIP_REGRESSOR for n in range(10, 18)},
    "DataTransformers": {n: SKIP_REGRESSOR for n in range(20, 25)},
    "MLPClassifier_MLPRegressor": {15: SKIP_REGRESSOR, 16: SKIP_REGRESSOR},
    "Meta_Estimators": {},
    "sparse": {n: SKIP_REGRESSOR for n in (7, 8, 9, 10, 11, 12, 13)},
    "AutoEncoders": {
        5: SKIP_AUTOENCODER,
        6: SKIP_AUTOENCODER,
        7: SKIP_AUTOENCODER,
        8: SKIP_AUTOENCODER,
        9: SKIP_PLOT,
        10: SKIP_AUTOENCODER,
        11: SKIP_AUTOENCODER,
        12: SKIP_AUTOENCODER,
        13: SKIP_AUTOENCODER,
    },
    "Benchmarks": {},
}

# notebook -> {cell number: [(old, new), ...]}, applied to both versions
REPLACE = {
    "DataTransformers": {25: [("keras.datasets.mnist.load_data()", "_digits_as_mnist()")]},
    "AutoEncoders": {4: [("mnist.load_data()", "_digits_as_mnist()")]},
    "Benchmarks": {4: [("keras.datasets.mnist.load_data()", "_digits_as_mnist()")]},
    "sparse": {5: [("N_SAMPLES = 20_000", "N_SAMPLES = 2_000")]},
    # 5 epochs (scikeras's default is 1, skmultihead's 100) and 10 boosting rounds, for time
    "Meta_Estimators": {
        5: [("    verbose=0,\n", "    verbose=0,\n    epochs=5,\n")],
        6: [("random_state=0)", "random_state=0, n_estimators=10)")],
    },
}

# notebook -> cells added after the notebook's own (both versions)
ADDED = {
    "sparse": [
        """\
from scikeras.wrappers import KerasClassifier

y_cls = (y > 0.5).astype(int)


def get_clf_cls(meta) -> keras.Model:
    n_features_in_ = meta["n_features_in_"]
    model = keras.models.Sequential()
    model.add(keras.layers.Input(shape=(n_features_in_,)))
    model.add(keras.layers.Dense(100, activation="relu"))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    return model
""",
        """\
dense_pipeline_cls = Pipeline(
    [
        ("encoder", OneHotEncoder(sparse_output=False)),
        ("model", KerasClassifier(get_clf_cls, loss="binary_crossentropy", epochs=5, verbose=False)),
    ]
)
dense_pipeline_cls.fit(X, y_cls).score(X, y_cls)
""",
        """\
sparse_pipeline_cls = Pipeline(
    [
        ("encoder", OneHotEncoder(sparse_output=True)),
        ("model", KerasClassifier(get_clf_cls, loss="binary_crossentropy", epochs=5, verbose=False)),
    ]
)
sparse_pipeline_cls.fit(X, y_cls).score(X, y_cls)
""",
        """\
sparse_pipeline_cls_uint8 = Pipeline(
    [
        ("encoder", OneHotEncoder(sparse_output=True, dtype=np.uint8)),
        ("model", KerasClassifier(get_clf_cls, loss="binary_crossentropy", epochs=5, verbose=False)),
    ]
)
sparse_pipeline_cls_uint8.fit(X, y_cls).score(X, y_cls)
""",
    ],
}

ENV = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def read_cells(repo, rev, name):
    """The notebook's ```python cells, in order."""
    text = subprocess.run(
        ["git", "-C", repo, "show", f"{rev}:docs/source/notebooks/{name}.md"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return re.findall(r"^```python[^\n]*\n(.*?)^```", text, flags=re.M | re.S)


def imports_only(code):
    """The top-level import statements of a cell (what a skipped cell still provides)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return ""
    return "\n".join(ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))


def strip_magics(code):
    """`%memit stmt` / `%timeit stmt` run stmt once; other `%` and `!` lines are dropped."""
    out = []
    for line in code.splitlines():
        s = line.strip()
        m = re.match(r"%+(memit|timeit)\s+(.*)", s)
        if m:
            out.append(line[: len(line) - len(line.lstrip())] + m.group(2))
        elif s.startswith(("%", "!")):
            continue
        else:
            out.append(line)
    return "\n".join(out) + "\n"


def swap(code):
    """scikeras's KerasClassifier -> skmultihead's MultiClassKerasClassifier."""

    def repl(m):
        indent, names = m.group(1), [n.strip() for n in m.group(2).strip("()").split(",") if n.strip()]
        lines = []
        rest = [n for n in names if n.split(" as ")[0].strip() != "KerasClassifier"]
        if rest:
            lines.append(f"{indent}from scikeras.wrappers import {', '.join(rest)}")
        if len(rest) < len(names):
            lines.append(f"{indent}from skmultihead import MultiClassKerasClassifier as KerasClassifier")
        return "\n".join(lines)

    code = re.sub(r"^([ \t]*)from scikeras\.wrappers import ([^\n]+)$", repl, code, flags=re.M)
    if "scikeras.wrappers.KerasClassifier" in code:
        code = "import skmultihead\n" + code.replace(
            "scikeras.wrappers.KerasClassifier", "skmultihead.MultiClassKerasClassifier"
        )
    return code


def prepare(repo, rev, name):
    """[(number, original first line, code or None, skip reason or None)]."""
    cells = []
    raw = read_cells(repo, rev, name)
    for i, code in enumerate(raw, 1):
        first = next((ln for ln in code.splitlines() if ln.strip()), "")
        reason = SKIPS.get(name, {}).get(i)
        if reason is None and "pip install" in code:
            reason = "pip install"
        for old, new in REPLACE.get(name, {}).get(i, []):
            if old not in code:
                raise SystemExit(f"{name} cell {i}: substitution {old!r} no longer applies")
            code = code.replace(old, new)
        if reason is not None:
            kept = None if reason == SKIP_PLOT else imports_only(strip_magics(code)) or None
            cells.append((i, first, kept, reason))
        else:
            cells.append((i, first, strip_magics(code), None))
    for j, code in enumerate(ADDED.get(name, []), len(raw) + 1):
        cells.append((j, "[added] " + code.splitlines()[-1 if "fit(" in code else 0], code, None))
    return cells


# ---------------------------------------------------------------- child side


def _child(spec_path, out_path):
    import contextlib
    import io
    import time
    import traceback
    import warnings

    with open(spec_path) as f:
        spec = json.load(f)
    ns = {"__name__": "__main__"}
    exec(compile(PRELUDE, "<prelude>", "exec"), ns)
    results = []

    def dump():
        with open(out_path, "w") as f:
            json.dump(results, f)

    for cell in spec["cells"]:
        rec = {"cell": cell["cell"], "first": cell["first"], "skipped": cell["skip"]}
        code = cell["code"]
        if code is None:
            results.append(rec)
            dump()
            continue
        buf = io.StringIO()
        value = None
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                tree = ast.parse(code)
                last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                with contextlib.redirect_stdout(buf):
                    exec(compile(tree, f"<cell {cell['cell']}>", "exec"), ns)
                    if last is not None:
                        value = eval(
                            compile(ast.Expression(last.value), f"<cell {cell['cell']}>", "eval"), ns
                        )
                rec["ok"] = True
            except BaseException as e:  # noqa: BLE001 - a cell's failure is the result
                rec["ok"] = False
                rec["error"] = f"{type(e).__name__}: {str(e).strip()}"[:1500]
                rec["traceback"] = traceback.format_exc()[-3000:]
        rec["seconds"] = round(time.perf_counter() - start, 1)
        rec["value"] = None if value is None else repr(value)[:600]
        lines = [ln for ln in re.split(r"[\r\n]", buf.getvalue()) if ln.strip() and "━" not in ln]
        rec["stdout"] = "\n".join(lines)[-600:]
        own = [w for w in caught if "skmultihead" in str(w.filename) or "scikeras" in str(w.filename)]
        rec["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:300]}" for w in own})
        results.append(rec)
        dump()
    dump()


# --------------------------------------------------------------- parent side


def run_version(name, variant, cells, timeout, nice):
    spec = {
        "cells": [
            {
                "cell": n,
                "first": first,
                "code": None if code is None else (swap(code) if variant == "swapped" else code),
                "skip": reason,
            }
            for n, first, code, reason in cells
        ]
    }
    with tempfile.TemporaryDirectory() as tmp:
        spec_path, out_path = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        cmd = [sys.executable, os.path.abspath(__file__), "--_child", spec_path, out_path]
        if nice:
            cmd = ["nice", "-n", str(nice), *cmd]
        env = {**os.environ, **ENV}
        status = "ok"
        try:
            proc = subprocess.run(cmd, env=env, cwd=tmp, timeout=timeout, capture_output=True, text=True)
            if proc.returncode != 0:
                status = f"exit {proc.returncode}: {proc.stderr[-500:]}"
        except subprocess.TimeoutExpired:
            status = f"timed out after {timeout} s"
        results = []
        if os.path.exists(out_path):
            with open(out_path) as f:
                results = json.load(f)
    done = {r["cell"] for r in results}
    for n, first, _, _ in cells:
        if n not in done:
            results.append(
                {"cell": n, "first": first, "skipped": None, "ok": False, "error": f"not run ({status})"}
            )
    return results


def short(text, n=160):
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _comparable(rec):
    """A cell's printed output and value, without timings and object addresses."""
    text = f"{rec['stdout']}\n{rec['value']}"
    text = re.sub(r"(?i)(time: )[\d.]+", r"\1*", text)
    return re.sub(r" at 0x[0-9a-f]+", "", text)


def report(name, base, swapped):
    ran = [r for r in base if r.get("skipped") is None]
    fail_base = [r for r in ran if not r["ok"]]
    by_cell = {r["cell"]: r for r in swapped}
    only_swapped = [r for r in ran if r["ok"] and not by_cell[r["cell"]].get("ok", False)]
    also = [r for r in fail_base if not by_cell[r["cell"]].get("ok", False)]
    skipped = [r for r in base if r.get("skipped")]
    print(
        f"\n== {name}: {len(ran)} cells run, {len(fail_base)} fail with scikeras, {len(only_swapped)} fail only swapped"
    )
    if skipped:
        groups = {}
        for r in skipped:
            groups.setdefault(r["skipped"], []).append(str(r["cell"]))
        print("   skipped: " + "; ".join(f"{', '.join(c)} ({why})" for why, c in groups.items()))
    for r in fail_base:
        tail = "also fails swapped" if r in also else "passes swapped"
        print(f"   scikeras fails cell {r['cell']} `{short(r['first'], 60)}`: {short(r['error'])} ({tail})")
    for r in only_swapped:
        s = by_cell[r["cell"]]
        print(f"   SWAPPED-ONLY cell {r['cell']} `{short(r['first'], 60)}`: {short(s['error'], 400)}")
    for r in ran:
        s = by_cell[r["cell"]]
        if r["ok"] and s.get("ok") and _comparable(r) != _comparable(s):
            print(f"   output cell {r['cell']} `{short(r['first'], 60)}`")
            print(f"      scikeras: {short(r['stdout'] + ' ' + (r['value'] or ''), 300)}")
            print(f"      swapped:  {short(s['stdout'] + ' ' + (s['value'] or ''), 300)}")
        for w in s.get("warnings", []):
            if r.get("ok") and w not in r.get("warnings", []):
                print(f"   swapped warns cell {r['cell']}: {short(w, 300)}")
    return {"cells_run": len(ran), "fail_scikeras": len(fail_base), "fail_only_swapped": len(only_swapped)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", default="/work/.mirror/adriangb+scikeras/repo")
    ap.add_argument("--rev", default="HEAD")
    ap.add_argument("--notebooks", nargs="*", default=NOTEBOOKS, choices=NOTEBOOKS)
    ap.add_argument("--timeout", type=int, default=900, help="seconds per version of a notebook")
    ap.add_argument("--nice", type=int, default=10)
    ap.add_argument("--json", help="write every cell's record (both versions) here")
    ap.add_argument("--_child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        _child(*args._child)
        return
    summary, records = {}, {}
    for name in args.notebooks:
        cells = prepare(args.repo, args.rev, name)
        base = run_version(name, "scikeras", cells, args.timeout, args.nice)
        swapped = run_version(name, "swapped", cells, args.timeout, args.nice)
        records[name] = {"scikeras": base, "swapped": swapped}
        summary[name] = report(name, base, swapped)
        sys.stdout.flush()
    print("\nnotebook                      run  fail-scikeras  fail-only-swapped")
    for name, s in summary.items():
        print(f"{name:<28}{s['cells_run']:>5}{s['fail_scikeras']:>15}{s['fail_only_swapped']:>19}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
