"""The package's version: libshard's, checked against meson.build."""

__version__ = "0.1.0"
