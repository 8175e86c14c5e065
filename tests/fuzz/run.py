"""Run one fuzz target under atheris (coverage-guided):

    python -m tests.fuzz.run TARGET [-max_total_time=60] [corpus dir] ...   (libFuzzer flags)

Exits 0 when the time runs out with nothing found; a finding prints its traceback and the
input that caused it (crash-* file) and exits non-zero.
"""

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["agent", "auditseal", "collector"]):
    from tests.fuzz.targets import TARGETS, seeds


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: python -m tests.fuzz.run {{{','.join(TARGETS)}}} [libFuzzer flags]", file=sys.stderr)
        sys.exit(2)
    target = TARGETS[sys.argv[1]]
    flags = sys.argv[2:]
    if not any(not f.startswith("-") for f in flags):  # no corpus directory given: seed one
        corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{sys.argv[1]}-"))
        for number, seed in enumerate(seeds(sys.argv[1])):
            (corpus / f"seed-{number}").write_bytes(seed)
        flags.append(str(corpus))
    atheris.Setup([sys.argv[0], "-max_len=65536", *flags], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
