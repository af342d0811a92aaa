"""The MSigDB Hallmark interferon sets on the shared whole-blood stimulation data (singscore).

What holds in every donor is asserted; what does not (the IFN-gamma set scoring IFN-gamma above
IFN-beta) is reported in docs/signatures.md with the numbers, not asserted.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.helpers import SHARED

BLOOD = SHARED / "data" / "blood_ifn_stimulation" / "whole_blood_normalized_counts.txt"
pytestmark = pytest.mark.skipif(
    not BLOOD.is_file(),
    reason=f"SKIPPED: the whole-blood stimulation data are not at {BLOOD} (clone ../shared beside the repo)",
)
DONORS = ("D1", "D1R", "D2", "D3")


@pytest.fixture(scope="module")
def scores() -> dict[str, dict[str, float]]:
    from ifnscope.signatures import read_expression
    from ifnscope.signatures.scoring import score

    m = read_expression(BLOOD)
    # the blood table lacks B2M, HLA-A/B and others: 82 of 97 and 151 of 200 genes are present
    run = score(m, ["hallmark_ifna", "hallmark_ifng"], method="singscore", min_coverage=0.7)
    found = {r.signature.name: len(r.coverage.found) for r in run.results}
    assert found == {"hallmark_ifna": 82, "hallmark_ifng": 151}
    return {
        r.signature.name: {str(s): float(v) for s, v in zip(m.samples, r.scores, strict=True)}
        for r in run.results
    }


def test_hallmark_ifna_rises_with_ifn_beta_in_every_donor(scores: dict[str, dict[str, float]]) -> None:
    s = scores["hallmark_ifna"]
    rise = np.array([s[f"{d}_IFNbeta"] - s[f"{d}_Buffer"] for d in DONORS])
    assert (rise > 0.05).all(), rise  # measured 0.059-0.142
    for d in DONORS:  # IL-4, IL-10 and IL-13 give no interferon signal
        assert max(s[f"{d}_{il}"] for il in ("IL4", "IL10", "IL13")) < s[f"{d}_Buffer"]


def test_hallmark_ifng_rises_with_ifn_gamma_in_every_donor(scores: dict[str, dict[str, float]]) -> None:
    s = scores["hallmark_ifng"]
    rise = np.array([s[f"{d}_IFNgamma"] - s[f"{d}_Buffer"] for d in DONORS])
    assert (rise > 0.02).all(), rise  # measured 0.029-0.139
    # IFN-beta raised it as much (within 0.001 in D3) or more in every donor: not asserted either
    # way, the margins are too small; see docs/signatures.md
