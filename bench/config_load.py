"""Loading hostile config files: a 50 MB YAML list under an unknown key and a 50 MB comment.

Before the size cap, obsctl parsed the whole file with PyYAML's pure-Python SafeLoader and only
then refused the unknown key (the issue measured 308 s and 8.4 GB for the list, 17 s for the
comment). Now `config.load` refuses anything over `inputs.CONFIG_MAX_BYTES` before reading it,
and files under the cap are parsed by libyaml. Each case runs in its own process so its peak
RSS is its own. The uncapped parsers are timed on a smaller file (--parse-mb, default 2) so the
benchmark stays short on a shared machine; both scale linearly with size.

    python bench/config_load.py [--parse-mb N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEAD = "environments:\n  local: {target: local}\n"

_CHILD = """
import resource, sys, time
sys.path.insert(0, {root!r})
case, path = sys.argv[1], sys.argv[2]
started = time.perf_counter()
outcome = "parsed"
try:
    if case == "load":
        from obsctl import config
        config.load(path)
    else:
        import yaml
        from obsctl import inputs
        text = open(path, encoding="utf-8").read()
        if case == "pure":
            yaml.load(text, Loader=yaml.SafeLoader)
        else:
            inputs.load_yaml(text, path, "")
except Exception as exc:
    outcome = "refused: " + str(exc)[:60]
seconds = time.perf_counter() - started
print(f"{{seconds:.3f}} {{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}} {{outcome}}")
"""


def write(folder: Path, name: str, kind: str, mb: float) -> Path:
    path = folder / name
    size = int(mb * 1024 * 1024)
    with path.open("w", encoding="utf-8") as f:
        f.write(HEAD)
        if kind == "list":
            f.write("junk:\n")
            line = "- item\n"
        else:
            line = "# " + "x" * 76 + "\n"
        f.write(line * (size // len(line)))
    return path


def run(case: str, path: Path) -> tuple[float, int, str]:
    code = _CHILD.format(root=str(ROOT))
    out = subprocess.run([sys.executable, "-c", code, case, str(path)], capture_output=True, text=True, check=True)
    seconds, rss, outcome = out.stdout.strip().split(" ", 2)
    return float(seconds), int(rss), outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parse-mb", type=float, default=2.0, help="size of the files the parsers are timed on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"{'case':<46} {'seconds':>8} {'peak MiB':>9}  outcome")
        for kind in ("list", "comment"):
            big = write(folder, f"big-{kind}.yaml", kind, 50)
            seconds, rss, outcome = run("load", big)
            print(f"{'config.load, 50 MB ' + kind + ' (size cap)':<46} {seconds:8.3f} {rss:9d}  {outcome}")
            small = write(folder, f"small-{kind}.yaml", kind, args.parse_mb)
            for case, label in (("pure", "pure-Python SafeLoader (before)"), ("libyaml", "libyaml + duplicate keys")):
                seconds, rss, outcome = run(case, small)
                name = f"{label}, {args.parse_mb:g} MB {kind}"
                print(f"{name:<46} {seconds:8.3f} {rss:9d}  {outcome}")


if __name__ == "__main__":
    main()
