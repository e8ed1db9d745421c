"""Exports for every register: vehicles and leases too, masked like the others (issue 8, part 8)."""

from __future__ import annotations

import datetime
import io

import openpyxl
import pytest
from django_tenants.utils import tenant_context

from registry import actions
from registry.masking import mask_id_number
from registry.models import Lease
from tests.factories import RoleFactory
from tests.factories.identity import make_id_number
from tests.factories.registry import AddressPathFactory, HouseFactory, PersonFactory, VehicleFactory

BASE = "/c/370102001001"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
OWNER_ID = make_id_number(birth=datetime.date(1971, 4, 9), seq=7)


@pytest.fixture
def records(compound_a):
    with tenant_context(compound_a):
        owner = PersonFactory(name="沙悟净", id_number=OWNER_ID, phone="13712345678")
        VehicleFactory(plate="鲁A12345", owner=owner)
        house = HouseFactory(address=AddressPathFactory("7", "2", "3", "301"))
        actions.do_save_lease(Lease(house=house, tenant=owner, start_date=datetime.date(2025, 1, 1)))
    return owner


def _rows(response, sheet: str) -> list[list]:
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"] == XLSX
    data = openpyxl.load_workbook(io.BytesIO(response.content))[sheet]
    return [[c.value for c in row] for row in data.iter_rows()]


@pytest.mark.parametrize(("kind", "sheet"), [("vehicles", "车辆"), ("leases", "租赁")])
def test_vehicles_and_leases_export_masked_without_pii_view(client, staff_a, records, kind, sheet) -> None:
    client.force_login(staff_a)
    html = client.get(f"{BASE}/{kind}/").content.decode()
    assert 'data-testid="export-form"' in html  # the list page offers the export
    header, row = _rows(client.post(f"{BASE}/{kind}/export.xlsx", {"reason": "季度核查"}), sheet)
    assert "沙悟净" in row
    assert OWNER_ID not in row and "13712345678" not in row
    assert mask_id_number(OWNER_ID) in row and "137****5678" in row
    if kind == "vehicles":
        assert header[0] == "号牌号码" and row[0] == "鲁A12345"
    else:
        assert row[3:7] == ["7", "2", "3", "301"] and row[7] == datetime.datetime(2025, 1, 1)


@pytest.mark.parametrize(("kind", "sheet"), [("vehicles", "车辆"), ("leases", "租赁")])
def test_vehicles_and_leases_export_in_full_with_pii_view(client, compound_a, records, kind, sheet) -> None:
    client.force_login(RoleFactory(user__username="minjing-x", role="beat_officer", compound=compound_a).user)
    _, row = _rows(client.post(f"{BASE}/{kind}/export.xlsx", {"reason": "案件协查"}), sheet)
    assert OWNER_ID in row and "13712345678" in row


def test_vehicles_have_no_import_template(client, staff_a) -> None:
    client.force_login(staff_a)
    assert client.get(f"{BASE}/vehicles/template.xlsx").status_code == 404
