"""Helpers for the Qwen3-VL loading workbook."""
