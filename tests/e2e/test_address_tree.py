"""The address tree at a street office's screen size (issue #8 part 7): collapsed, the tree of
the largest seeded compound fits in less than two screens; a screenshot goes to docs/."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from tenants.demo import COMPOUNDS
from tests.e2e.conftest import SEED_COMPOUNDS, login

pytestmark = pytest.mark.e2e

SEEDED = COMPOUNDS[:SEED_COMPOUNDS]
WIDTH, HEIGHT = 1366, 900
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "addresses-1366x900.png"


def test_address_tree_of_the_largest_compound_fits_in_two_screens(browser: Browser, e2e_server: str) -> None:
    context = browser.new_context(base_url=e2e_server, locale="zh-CN", viewport={"width": WIDTH, "height": HEIGHT})
    try:
        page = context.new_page()
        login(page, "city")  # the city bureau sees every seeded compound

        # The largest compound: the one with the most address nodes.
        sizes: dict[str, int] = {}
        for compound in SEEDED:
            response = page.goto(f"/c/{compound.code}/addresses/")
            assert response is not None
            assert response.status == 200
            sizes[compound.code] = page.locator("[data-code]").count()
        largest = max(sizes, key=lambda code: sizes[code])
        page.goto(f"/c/{largest}/addresses/")

        tree = page.locator("[data-testid=address-tree]")
        buildings = tree.locator("[data-testid=addr-building]")
        expect(buildings.first).to_be_visible()
        # Collapsed: buildings open, every unit closed, no floor or room visible.
        units = tree.locator("[data-testid=addr-unit]")
        assert units.count() >= 1
        assert units.evaluate_all("els => els.every(el => !el.open)")
        expect(tree.locator("[data-testid=addr-floor]").first).to_be_hidden()
        # Occupancy and a print link on every building and unit shown.
        assert tree.locator("[data-testid=occupancy]:visible").count() == buildings.count() + units.count()
        assert tree.locator("[data-testid=print-plates]:visible").count() == buildings.count() + units.count()

        height = page.evaluate("document.documentElement.scrollHeight")
        assert height < 2 * HEIGHT, f"{height} px tall"
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

        # Opening a unit (no JavaScript: <details>) shows its floors with counts and print links.
        units.first.locator("summary").click(position={"x": 3, "y": 10})  # its disclosure marker
        floor = units.first.locator("[data-testid=addr-floor]").first
        expect(floor).to_be_visible()
        expect(floor.locator("[data-testid=print-plates]")).to_be_visible()
        expect(floor.locator("[data-testid=occupancy]")).to_be_visible()

        # The search narrows the tree to a room and the way to it.
        room = units.first.locator("[data-testid=addr-room]").first
        number = (room.inner_text()).removesuffix("室")
        page.locator("[data-testid=address-search] input[name=q]").fill(number)
        page.locator("[data-testid=address-search] button[type=submit]").click()
        expect(page.locator(f"[data-testid=addr-room]:has-text('{number}')").first).to_be_visible()
    finally:
        context.close()
