"""Helpers more than one test folder (or bench/) uses: fakes, sample data, servers, paths."""
