"""doctor checks that the F&O app's user can read the security entities compliance needs."""

from __future__ import annotations

from pathlib import Path

from license_analyzer.config import normalize_resource_url
from license_analyzer.doctor import Status
from tests.doctor.doctor_setup import find, only, run, simulator


def test_security_entities_readable_and_refused(tmp_path: Path) -> None:
    with simulator() as sim:
        fo = f"finance_operations {normalize_resource_url(sim.info['finance_operations'][0])}"
        results = run(sim, tmp_path)
        only(results)
        assert find(results, "security_roles", fo).status == Status.OK

        sim.tenant.finance_operations[0].security_readable = False
        results = run(sim, tmp_path)
        only(results, failed={("security_roles", fo)})
        check = find(results, "security_roles", fo)
        assert "403" in check.message
        assert "Microsoft Entra applications" in check.fix
        assert "Security administrator" in check.fix
