"""The exops version, here at the bottom of the layers so that every stage can
read it without importing the package root (whose public names import them all)."""

__version__ = "0.1.0"
