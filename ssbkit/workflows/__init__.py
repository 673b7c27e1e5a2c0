"""Workflows: plain functions that take structures, a calculator and parameters and return results."""
