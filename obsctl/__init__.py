"""obsctl: stand up, prove and tear down an observability platform.

The package is layered (README.md "Layout"; `.importlinter` enforces it):
cli -> lifecycle -> verify -> targets -> render -> tools -> config/errors/console.
"""

__version__ = "0.1.0"
