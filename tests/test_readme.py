"""Every Python block of the README runs as written, each on its own (a fresh namespace,
no state from the blocks before it), except those that need what CI cannot have."""
import pathlib
import re

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
# what a block needs that CI lacks -> why it is skipped
NEEDS = {"caffe2.python": "Caffe2, which is no longer installable (the code being ported)",
         "Client(": "a Dask cluster and the storage it reads and writes"}


def test_readme_has_blocks():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs(index, tmp_path, monkeypatch):
    block = BLOCKS[index]
    for marker, why in NEEDS.items():
        if marker in block:
            pytest.skip(f"README block {index} needs {why}")
    monkeypatch.chdir(tmp_path)   # a block that writes files writes them here
    exec(compile(block, f"README.md block {index}", "exec"), {"__name__": "readme"})
