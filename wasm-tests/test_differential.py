"""A small fixed-seed differential run (differential.py; `make fuzz-diff` runs a large one):
every disagreement with Envoy's native jwt_authn must fall in a documented class."""

import json

from differential import run


def test_native_and_ours_disagree_only_where_documented(report):
    counts, statuses, unexplained = run(requests=1000, seed=1)
    report(f"differential, 1000 requests: {dict(counts)}")
    assert not unexplained, json.dumps(unexplained, indent=1, default=str)
    assert counts["native crashed"] == counts["ours crashed"] == 0
    # Both filters really judged: a campaign where everything agreed on one answer (both
    # Envoys failing, say) proves nothing.
    for name in ("native", "ours"):
        assert statuses[name][200] > 100 and statuses[name][401] > 100, (name, statuses[name])
    assert counts["agree"] > 500
