"""Case results and JUnit XML for both OpenADR suites: the shared conformance report."""

from __future__ import annotations

from conformance.report import CaseResult, Report

__all__ = ["CaseResult", "Report"]
