"""Self-contained HTML reports of real against synthetic data (and the command-line jobs that write them)."""

from biogan.report.html import model_info, write_report

__all__ = ["model_info", "write_report"]
