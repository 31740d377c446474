"""`python -m ui.screenshots`: the documentation screenshots from a throw-away site."""

from __future__ import annotations

from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_screenshots_are_written_with_the_expected_sizes(tmp_path):
    if not Path("/usr/bin/chromium").exists():
        pytest.skip("/usr/bin/chromium is not installed (apt-get install chromium fonts-noto-cjk)")
    Image = pytest.importorskip("PIL.Image")
    from ui.screenshots import main

    assert main(["--out", str(tmp_path)]) == 0
    sizes = {p.name: Image.open(p).size for p in tmp_path.glob("*.png")}
    assert set(sizes) == {"sidebar-zh.png", "sidebar-en.png", "trainer-dashboard.png", "admin-documents.png",
                          "sidebar-complaint.png", "complaint-page.png", "service-kpis.png", "offline-pack.png"}
    assert sizes["sidebar-complaint.png"][0] == 400 and sizes["service-kpis.png"][0] == 1200
    assert sizes["sidebar-zh.png"][0] == 400 and sizes["sidebar-zh.png"][1] > 900  # the whole sidebar, narrow
    assert sizes["trainer-dashboard.png"][0] == 1200
    # a page that rendered is not one flat colour
    for name in sizes:
        colours = Image.open(tmp_path / name).convert("L").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20, name
