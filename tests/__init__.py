"""The test suite, a package so its folders import shared helpers as ``tests.support.*``."""
