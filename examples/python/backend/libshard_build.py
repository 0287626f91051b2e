"""A PEP 517 build backend for the libshard package, in the standard
library only.

pip builds a package in an isolated environment and installs the
backend's requirements there first: setuptools or flit would be
downloaded, which a machine without network cannot do. This backend has
no requirements. It writes a pure-Python wheel (the libshard/ directory,
without the _install.py that only meson writes), an sdist, and an
editable wheel (a .pth file pointing at this directory), as PEP 427, 517
and 660 describe them.
"""

import base64
import hashlib
import io
import os
import re
import tarfile
import zipfile

NAME = "libshard"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(HERE, NAME)
TAG = "py3-none-any"
SUMMARY = ("Client-side sharding for Redis, placed as twemproxy: "
           "libshard from Python (ctypes)")


def _version():
    with open(os.path.join(PACKAGE, "_version.py"), encoding="utf-8") as f:
        return re.search(r'__version__ = "([^"]+)"', f.read()).group(1)


def _metadata():
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\n"
            "License: MIT\nRequires-Python: >=3.7\n"
            % (NAME, _version(), SUMMARY))


def _dist_info():
    return "%s-%s.dist-info" % (NAME, _version())


def _sources():
    """(archive name, path) of every file of the package."""
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py") and name != "_install.py":
            yield "%s/%s" % (NAME, name), os.path.join(PACKAGE, name)


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d\n" % (name, digest.rstrip(b"=").decode(),
                                  len(data))


def _write_wheel(directory, files):
    """files: [(archive name, bytes)]; adds the dist-info and RECORD."""
    info = _dist_info()
    wheel = ("Wheel-Version: 1.0\nGenerator: libshard_build\n"
             "Root-Is-Purelib: true\nTag: %s\n" % TAG)
    files = list(files) + [
        (info + "/METADATA", _metadata().encode()),
        (info + "/WHEEL", wheel.encode()),
        (info + "/top_level.txt", (NAME + "\n").encode()),
    ]
    record = "".join(_record_line(n, d) for n, d in files)
    record += info + "/RECORD,,\n"
    name = "%s-%s-%s.whl" % (NAME, _version(), TAG)
    with zipfile.ZipFile(os.path.join(directory, name), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for arcname, data in files:
            z.writestr(arcname, data)
        z.writestr(info + "/RECORD", record)
    return name


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory,
                                     config_settings=None):
    info = os.path.join(metadata_directory, _dist_info())
    os.makedirs(info, exist_ok=True)
    with open(os.path.join(info, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    return _dist_info()


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    return _write_wheel(wheel_directory,
                        [(n, _read(p)) for n, p in _sources()])


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    pth = (HERE + "\n").encode()
    return _write_wheel(wheel_directory, [(NAME + ".pth", pth)])


def build_sdist(sdist_directory, config_settings=None):
    base = "%s-%s" % (NAME, _version())
    name = base + ".tar.gz"
    paths = [("pyproject.toml", os.path.join(HERE, "pyproject.toml")),
             ("backend/libshard_build.py", os.path.abspath(__file__))]
    paths += list(_sources())
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for arcname, path in paths:
            tar.add(path, arcname=base + "/" + arcname)
        pkg_info = _metadata().encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkg_info)
        tar.addfile(ti, io.BytesIO(pkg_info))
    return name
