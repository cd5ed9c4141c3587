"""Optional frameworks: a clear message when an adapter's framework is missing."""
import subprocess
import sys


def test_lrn_torch_without_torch_says_how_to_install():
    code = ("import sys; sys.modules['torch'] = None\n"
            "try:\n    import lrn.torch\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert "pip install 'lrnorm[torch]'" in out.stdout
