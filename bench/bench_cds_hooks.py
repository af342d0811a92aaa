"""Latency of a CDS Hooks patient-view call (issue 13: "answer within 500 ms on this machine").

Starts a real ``ifnscope serve`` process trusting a throw-away EHR key, then calls
``POST /cds-services/ifnscope-patient-view`` one call at a time (as an EHR does when a chart
opens), each with a fresh signed JWT, the prefetch being the case written as FHIR
(``ifnscope.fhir.case_to_bundle``): the seed case, and a 1.3 MB third-party Synthea bundle
(a patient with nothing to classify, the largest record in ../shared). Prints p50/p95/max in ms.

Usage: python bench/bench_cds_hooks.py [--calls 50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.server import ServerProcess  # noqa: E402

from ifnscope import fhir  # noqa: E402
from ifnscope.case.reader import load_case  # noqa: E402

ISS = "https://ehr.bench"


def prefetch_of(bundle: dict[str, object]) -> dict[str, object]:
    """The record as the service's prefetch keys (a key without data: null, as the spec says)."""
    entries = [e["resource"] for e in bundle["entry"]]  # type: ignore[index]
    patient = next(r for r in entries if r["resourceType"] == "Patient")
    keys = {
        "conditions": "Condition",
        "labs": "Observation",
        "medicationRequests": "MedicationRequest",
        "medicationStatements": "MedicationStatement",
    }
    out: dict[str, object] = {"patient": patient}
    for key, kind in keys.items():
        found = [r for r in entries if r["resourceType"] == kind]
        for r in found:  # an EHR's search results name the patient by its id
            r["subject"] = {"reference": f"Patient/{patient['id']}"}
        out[key] = (
            {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in found]}
            if found
            else None
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", alg="ES384")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "jwks.json").write_text(json.dumps({"keys": [jwk]}))
        clients = Path(tmp) / "clients.yaml"
        clients.write_text(f"clients:\n  - iss: {ISS}\n    jwks_file: {Path(tmp) / 'jwks.json'}\n")
        env = {**os.environ, "IFNSCOPE_CDS_CLIENTS": str(clients)}
        server = ServerProcess(f"sqlite:///{tmp}/r.sqlite3", env)
        server.env["IFNSCOPE_PUBLIC_URL"] = server.base  # the JWT audience
        server.start()
        try:
            seed = fhir.case_to_bundle(load_case(ROOT / "examples" / "seed-cadm.yaml"))
            records = {"seed (DM)": (prefetch_of(seed), "seed-cadm")}  # the Patient's id is the case id
            folder = ROOT.parent / "shared" / "data" / "fhir_examples" / "synthea"
            synthea = sorted(folder.glob("Laticia*.json"))
            if synthea:
                bundle = json.loads(synthea[0].read_text())
                resources = [e["resource"] for e in bundle["entry"]]
                pid = next(r["id"] for r in resources if r["resourceType"] == "Patient")
                records["Synthea 1.3 MB (nothing to classify)"] = (prefetch_of(bundle), pid)
            url = f"{server.base}/cds-services/ifnscope-patient-view"
            with httpx.Client(timeout=30) as client:
                for name, (prefetch, pid) in records.items():
                    times = []
                    for _ in range(args.calls):
                        now = int(time.time())
                        claims = {"iss": ISS, "aud": f"{server.base}/cds-services/ifnscope-patient-view"}
                        claims |= {"iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
                        token = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k1"})
                        body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4())}
                        body |= {"context": {"patientId": pid}, "prefetch": prefetch}
                        t = time.perf_counter()
                        r = client.post(url, json=body, headers={"Authorization": f"Bearer {token}"})
                        times.append((time.perf_counter() - t) * 1000)
                        assert r.status_code == 200, r.text
                    cards = len(r.json()["cards"])
                    q = statistics.quantiles(times, n=20)
                    print(
                        json.dumps(
                            {
                                "record": name,
                                "calls": args.calls,
                                "cards": cards,
                                "p50_ms": round(statistics.median(times), 1),
                                "p95_ms": round(q[18], 1),
                                "max_ms": round(max(times), 1),
                            }
                        )
                    )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
