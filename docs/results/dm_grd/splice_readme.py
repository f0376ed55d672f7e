"""Refresh the generated blocks of this folder's README: each block between ``<!-- generated: SCRIPT -->`` and
``<!-- end generated -->`` is replaced by what ``python docs/results/dm_grd/SCRIPT`` prints now (run from the repo
root). The prose around the blocks quotes their numbers and is read again by hand after a refresh."""
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
README = HERE / "README.md"
BLOCK = re.compile(r"(<!-- generated: (?P<script>[\w.]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def output(script: str) -> str:
    done = subprocess.run([sys.executable, str(HERE / script)], capture_output=True, text=True, check=True)
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
