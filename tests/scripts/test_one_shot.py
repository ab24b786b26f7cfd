"""The one-shot device script (scripts/device/one_shot.py) keeps to its time budget: each part's
timeout is cut to what is left, a part with too little left is recorded as skipped, and every
part's result reaches the JSON file (checked with stand-in parts, no GPU)."""

import json
import sys

from scripts.device import one_shot


def test_parts_share_the_budget_and_all_reach_the_json(tmp_path, monkeypatch):
    sleep = [sys.executable, "-c", "import time; time.sleep(30)"]
    quick = [sys.executable, "-c", "print('done')"]
    monkeypatch.setattr(one_shot, "parts", lambda out: [("quick", quick, 60, {}), ("slow", sleep, 60, {}),
                                                         ("late", quick, 60, {})])
    monkeypatch.setattr(one_shot, "BUDGET_S", 4)
    monkeypatch.setattr(one_shot, "MIN_PART_S", 1)
    monkeypatch.setenv("OUT", str(tmp_path))
    assert one_shot.main() == 1
    results = {r["name"]: r for r in json.loads((tmp_path / "device.json").read_text())}
    assert results["quick"]["rc"] == 0 and "done" in results["quick"]["output"]
    assert results["slow"]["rc"] == 124 and results["slow"]["wall_s"] < 10     # cut to the budget left
    assert results["late"]["rc"] == 125 and "skipped" in results["late"]["output"]
