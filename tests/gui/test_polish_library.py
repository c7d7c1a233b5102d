"""The library names a generation as the queue does (the workflow's title, and the image a
PBR set was made from), and its search finds it by what it shows: the title, the image's name."""

from __future__ import annotations

import pytest

from automata_desktop.core.generation import GenerationStatus
from tests.gui.test_library_and_inspector import generate_locally, listed_ids
from tests.gui.workbench_helpers import open_workbench, wait_for

pytestmark = pytest.mark.gui


def search(qapp, browser, text: str) -> list[str]:
    refreshed: list[bool] = []
    browser.refreshed.connect(lambda: refreshed.append(True))
    browser.search.setText(text)  # debounced, as typing is
    wait_for(qapp, lambda: refreshed, 20, f"the search for {text!r}")
    browser.refreshed.disconnect()
    return listed_ids(browser)


def test_a_pbr_set_is_listed_by_title_and_found_by_title_and_by_image_name(qapp, tmp_path):
    bench = open_workbench(qapp, tmp_path / "library")
    try:
        browser = bench.library
        gen_id = generate_locally(qapp, bench)  # pbr_from_image of sample_basecolor.png
        wait_for(qapp, lambda: any(g.id == gen_id and g.status is GenerationStatus.COMPLETED
                                   for g in browser.generations), 20, "the library row")
        item = browser.tree.topLevelItem(listed_ids(browser).index(gen_id))
        # Before: "pbr_from_image" where the queue says "PBR set from an image".
        assert item.text(0) == "PBR set from an image · sample_basecolor.png"
        assert "pbr_from_image" in item.toolTip(0)

        assert search(qapp, browser, "PBR set") == [gen_id]
        assert search(qapp, browser, "from an IMAGE") == [gen_id]
        assert search(qapp, browser, "sample_basecolor") == [gen_id]
        assert search(qapp, browser, "basecolor pbr") == [gen_id]  # words in any order
        assert search(qapp, browser, "marble") == []
        assert browser.count.text().startswith("0 generations")
        assert search(qapp, browser, "") == [gen_id]
    finally:
        bench.window.close()
