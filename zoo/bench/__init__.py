"""Benchmarking: `zoo benchmark` (suite.py and its rooms) and what the plugins' studies and the
scripts in benchmarks/ share (common.py: trained models that survive interruptions, the environment
a figure was measured in, where reports go). Quality metrics themselves live in zoo.metrics."""
