"""Tests of change governance: windows, freezes, promotion, change approval."""
