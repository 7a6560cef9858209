"""Case results and the JUnit XML every conformance suite writes (OpenADR, UFTP, …).

One report shape means CI dashboards read every suite the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from xml.etree import ElementTree as ET


@dataclass
class CaseResult:
    name: str
    description: str
    passed: bool
    detail: str = ""
    seconds: float = 0.0
    skipped: bool = False


@dataclass
class Report:
    suite: str
    target: str = ""
    """What was tested: a URL, a role, a listen address."""
    results: list[CaseResult] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return sum(not r.passed and not r.skipped for r in self.results)

    @property
    def skipped(self) -> int:
        return sum(r.skipped for r in self.results)

    def junit_xml(self) -> bytes:
        suite = ET.Element("testsuite", name=self.suite, tests=str(len(self.results)),
                           failures=str(self.failures), errors="0", skipped=str(self.skipped),
                           time=f"{sum(r.seconds for r in self.results):.3f}")
        classname = self.suite.replace("-", ".")
        for r in self.results:
            case = ET.SubElement(suite, "testcase", classname=classname, name=r.name, time=f"{r.seconds:.3f}")
            if r.skipped:
                ET.SubElement(case, "skipped", message=r.detail[:500])
            elif not r.passed:
                failure = ET.SubElement(case, "failure", message=r.detail[:500])
                failure.text = f"{r.description}\n{r.detail}"
        return ET.tostring(suite, encoding="utf-8", xml_declaration=True)

    def text(self) -> str:
        """A readable summary: one line per case, then the totals."""
        lines = [f"{self.suite} conformance: {self.target}"] if self.target else []
        for r in self.results:
            mark = "SKIP" if r.skipped else ("PASS" if r.passed else "FAIL")
            lines.append(f"{mark}  {r.name}  {r.description}" + (f"\n      {r.detail}" if r.detail and not r.passed
                                                                  else ""))
        passed = sum(r.passed for r in self.results)
        lines.append(f"{self.suite}: {passed} passed, {self.failures} failed, {self.skipped} skipped")
        return "\n".join(lines)
