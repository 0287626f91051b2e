"""The package installs as a user installs it: `pip install` from the
repository with no index (no network), then imports and reaches
libshard."""

import os
import subprocess
import sys
import zipfile

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGE = os.path.normpath(os.path.join(HERE, "..", "..", "examples",
                                        "python"))


def test_pip_installs_from_the_repository_without_network(tmp_path):
    # --target rather than a virtual environment: the same build and
    # install of the wheel, without the 20 s of copying pip into a venv.
    target = tmp_path / "site"
    env = dict(os.environ, PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1", PYTHONPATH=str(target))
    try:
        subprocess.run([sys.executable, "-m", "pip", "install", "--no-index",
                        "--target", str(target), PACKAGE], check=True,
                       env=env, cwd=str(tmp_path), capture_output=True)
    except subprocess.CalledProcessError as e:
        pytest.fail("pip install failed (Debian package python3-pip):\n%s"
                    % e.stderr.decode(errors="replace"))
    out = subprocess.run(
        [sys.executable, "-c",
         "import libshard; print(libshard.__file__); "
         "print(libshard.library_version())"],
        check=True, capture_output=True, text=True, cwd=str(tmp_path),
        env=env).stdout.split()
    assert out[0] == str(target / "libshard" / "__init__.py")
    assert out[1] == __import__("libshard").__version__


def test_wheel_holds_the_package_and_not_meson_s_install_file(tmp_path):
    sys.path.insert(0, os.path.join(PACKAGE, "backend"))
    try:
        import libshard_build
    finally:
        sys.path.pop(0)
    name = libshard_build.build_wheel(str(tmp_path))
    with zipfile.ZipFile(str(tmp_path / name)) as z:
        names = set(z.namelist())
        record = z.read("libshard-%s.dist-info/RECORD"
                        % libshard_build._version()).decode()
    assert {"libshard/__init__.py", "libshard/pool.py",
            "libshard/errors.py", "libshard/_native.py"} <= names
    assert "libshard/_install.py" not in names
    assert all(n in record for n in names)
    sdist = libshard_build.build_sdist(str(tmp_path))
    assert sdist.endswith(".tar.gz")
