"""numba's disk cache switched on for a package's jitted functions (what keeps UMAP's compiled code between runs)."""
import subprocess
import sys

PACKAGE = '''import numba

@numba.njit
def twice(x):
    return 2 * x
'''


def test_cache_compiled_writes_numba_cache(tmp_path):
    (tmp_path / "jitpkg").mkdir()
    (tmp_path / "jitpkg" / "__init__.py").write_text(PACKAGE)
    script = ("import sys; sys.path.insert(0, sys.argv[1]); import jitpkg\n"
              "from vae_cluster.utils.compiled import cache_compiled\n"
              "n = cache_compiled('jitpkg'); assert jitpkg.twice(21) == 42\n"
              "print(n, sum(jitpkg.twice.stats.cache_hits.values()))\n")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["1", "0"]  # compiled, and stored
    cached = {p.suffix for p in (tmp_path / "jitpkg" / "__pycache__").iterdir()}
    assert {".nbi", ".nbc"} <= cached  # the index and the machine code, next to the source
    again = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True)
    assert again.stdout.split() == ["1", "1"]  # a new process loads the machine code instead of compiling


def test_cache_compiled_without_the_package_is_a_no_op():
    from vae_cluster.utils.compiled import cache_compiled

    assert cache_compiled("no_such_package_here") == 0
