"""Refresh the generated blocks of this folder's README: each block between ``<!-- generated: SCRIPT -->`` and
``<!-- end generated -->`` is replaced by what ``python docs/results/dm_grd/SCRIPT`` prints now, run from the repo
root (a script that fails leaves the README unchanged). The prose around the blocks quotes their numbers and is read again by hand after a refresh."""
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
README = HERE / "README.md"
BLOCK = re.compile(r"(<!-- generated: (?P<script>[\w.]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def output(script: str) -> str:
    done = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, cwd=REPO)
    if done.returncode:
        raise SystemExit(f"{script} failed (rc {done.returncode}); the README is unchanged:\n{done.stderr}")
    return done.stdout.rstrip("\n") + "\n"


def main() -> int:
    text = README.read_text()
    names = [m["script"] for m in BLOCK.finditer(text)]
    if not names:
        print(f"{README.name}: no generated blocks", file=sys.stderr)
        return 1
    new = BLOCK.sub(lambda m: m.group(1) + output(m["script"]) + m.group(4), text)
    README.write_text(new)
    print(f"{README.name}: refreshed {', '.join(names)}" + ("" if new != text else " (no change)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
