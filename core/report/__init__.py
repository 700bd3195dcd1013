"""The self-contained episode report: one HTML file (styles, script, data and images inside) that
opens from disk or a mail attachment, prints, and makes no network request."""

from screenalytics.report.data import Report, ReportExtras, ReportOptions, build_report
from screenalytics.report.render import render, write_report

__all__ = ["Report", "ReportExtras", "ReportOptions", "build_report", "render", "write_report"]
