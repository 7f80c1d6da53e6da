"""Access: API keys bound to tenants, tenant isolation in every endpoint, per-request and per-key limits, and
secrets that never reach a log line, an error or the ledger."""

from __future__ import annotations

import hashlib
import json
import logging
import time

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from folio.config import Settings
from folio.errors import ConfigError
from folio.ingest.prepare import content_id
from folio.ingest.sources import document_id
from folio.service.access import ApiKeys, RateLimiter, is_loopback
from tests.pdfs import text_pdf
from tests.service_helpers import contract_pdf, service, service_settings

KEY_A = "key-acme-0123456789abcdef"
KEY_B = "key-globex-0123456789abcdef"
KEY_D = "key-default-0123456789abcdef"
LLM_SECRET = "sk-llm-secret-5f1e0c9a77"
QDRANT_SECRET = "qdrant-secret-8b2d41c0"
A = {"Authorization": f"Bearer {KEY_A}"}
B = {"X-API-Key": KEY_B}


def keyed_settings(tmp_path, double=None, **overrides):
    values = {"api_keys": SecretStr(f"{KEY_A}:acme,{KEY_B}:globex"), **overrides}
    return service_settings(tmp_path, double, **values)


def put(client, headers, name, data, expect=200):
    response = client.post("/v1/documents?wait=true", files=[("files", (name, data))], headers=headers)
    assert response.status_code == expect, response.text
    return response.json()


# -- keys ---------------------------------------------------------------------------------------------------


def test_keys_from_the_variable_and_the_file(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"# rotated monthly\n\n{KEY_B}:globex\nkey:with:colons-0123456789:acme\n")
    keys = ApiKeys.from_settings(Settings(api_keys=SecretStr(f"{KEY_A}:acme"), api_keys_file=path))
    assert keys.tenants == {"acme", "globex"}
    assert keys.lookup(KEY_A).tenant == "acme" and keys.lookup("key:with:colons-0123456789").tenant == "acme"
    assert keys.lookup(KEY_B).tenant == "globex" and keys.lookup("nope") is None
    assert not ApiKeys.from_settings(Settings())


@pytest.mark.parametrize("text", ["no-tenant-0123456789abcdef", "short:acme", f"{KEY_A}:bad tenant", f"{KEY_A}:"])
def test_bad_key_entries_stop_the_start_without_showing_the_key(text):
    with pytest.raises(ConfigError) as info:
        ApiKeys.from_settings(Settings(api_keys=SecretStr(text)))
    assert KEY_A not in str(info.value) and "0123456789" not in str(info.value)


def test_rate_limiter_counts_each_key_in_a_sliding_window():
    limiter = RateLimiter(3, window_s=1)
    assert [limiter.take("a") for _ in range(3)] == [None, None, None]
    wait = limiter.take("a")
    assert wait is not None and 0 < wait <= 1.0
    assert limiter.take("b") is None
    time.sleep(2.05)  # the window and the one before it have passed: the real clock, which the library reads
    assert limiter.take("a") is None


def test_missing_or_unknown_key_is_401_and_open_paths_stay_open(tmp_path):
    with service(keyed_settings(tmp_path)) as client:
        for path in ("/v1/documents", "/v1/jobs", "/v1/ledger"):
            response = client.get(path)
            assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"
            assert response.headers["WWW-Authenticate"] == "Bearer"
        bad = client.get("/v1/documents", headers={"Authorization": "Bearer not-a-key-at-all"})
        assert bad.status_code == 401 and "not-a-key" not in bad.text
        assert client.post("/v1/query", json={"question": "x"}).status_code == 401
        assert client.post("/v1/chat/completions", json={}).status_code == 401
        for path in ("/healthz", "/readyz", "/v1/info", "/docs", "/openapi.json", "/", "/metrics"):
            assert client.get(path).status_code == 200, path
        assert client.get("/v1/documents", headers=A).status_code == 200
        assert client.get("/v1/documents", headers=B).status_code == 200  # X-API-Key works too


def test_without_keys_everything_is_tenant_default(tmp_path):
    with service(service_settings(tmp_path, None)) as client:
        job = put(client, {}, "supply.pdf", contract_pdf())["jobs"][0]
        assert job["document_id"] == content_id(contract_pdf()) and job["tenant"] == "default"
        assert len(client.get("/v1/documents").json()["documents"]) == 1


# -- isolation ----------------------------------------------------------------------------------------------


def test_tenants_never_see_each_others_documents_jobs_or_spend(tmp_path, provider_double):
    double = provider_double()
    with service(keyed_settings(tmp_path, double)) as client:
        data = contract_pdf()
        job_a = put(client, A, "supply.pdf", data)["jobs"][0]
        job_b = put(client, B, "supply.pdf", data)["jobs"][0]
        doc_a, doc_b = job_a["document_id"], job_b["document_id"]
        # the same file from two tenants is two documents, each with its own chunks
        assert doc_a != doc_b and {doc_a, doc_b} == {document_id(data, "acme"), document_id(data, "globex")}
        assert job_b["status"] == "done"
        assert [d["id"] for d in client.get("/v1/documents", headers=A).json()["documents"]] == [doc_a]
        assert [d["id"] for d in client.get("/v1/documents?status=all", headers=B).json()["documents"]] == [doc_b]
        # another tenant's id, in full or as a prefix, is not found: never forbidden (that would confirm it)
        for path in (f"/v1/documents/{doc_a}", f"/v1/documents/{doc_a[:8]}", f"/v1/documents/{doc_a}/pages/1"):
            response = client.get(path, headers=B)
            assert response.status_code == 404 and response.json()["error"]["code"] == "document_not_found"
        assert client.delete(f"/v1/documents/{doc_a}", headers=B).status_code == 404
        assert client.get(f"/v1/jobs/{job_a['id']}", headers=B).status_code in (404, 422)
        assert [j["id"] for j in client.get("/v1/jobs", headers=B).json()["jobs"]] == [job_b["id"]]
        for path in ("/v1/plan", "/v1/query", "/v1/search"):
            body = {"question": "Who may terminate?", "query": "terminate", "documents": [doc_a]}
            response = client.post(path, json=body, headers=B)
            assert response.status_code == 404, (path, response.text)
        chat = client.post("/v1/chat/completions", headers=B, json={
            "model": "folio-full", "messages": [{"role": "user", "content": "Who?"}],
            "folio": {"documents": [doc_a]}})
        assert chat.status_code in (404, 422), chat.text
        hits = client.post("/v1/search", json={"query": "terminate the agreement"}, headers=B).json()["hits"]
        assert hits and {h["doc_id"] for h in hits} == {doc_b}
        plan = client.post("/v1/plan", json={"question": "List every termination right", "mode": "coverage"},
                           headers=B).json()["plan"]
        assert [d["id"] for d in plan["scope"]] == [doc_b]
        # answers: each tenant's scope, ledger and provider cache isolation id
        for headers, mode in ((A, "full"), (B, "rag"), (B, "coverage")):
            result = client.post("/v1/query", json={"question": "Which state's laws govern the agreement?",
                                                    "mode": mode}, headers=headers).json()
            assert result["answer"], result
            assert {d["id"] for d in result["plan"]["scope"]} == ({doc_a} if headers is A else {doc_b})
        assert {r["user"] for r in double.requests()} == {"folio-acme", "folio-globex"}
        ledger_a = client.get("/v1/ledger", headers=A).json()
        ledger_b = client.get("/v1/ledger", headers=B).json()
        assert set(ledger_a["by_document"]) == {doc_a} and set(ledger_b["by_document"]) == {doc_b}
        assert set(ledger_a["by_route"]) == {"full"} and "full" not in ledger_b["by_route"]
        # deleting one tenant's copy leaves the other's whole
        assert client.delete(f"/v1/documents/{doc_a}", headers=A).status_code == 200
        assert client.get(f"/v1/documents/{doc_b}/pages/1", headers=B).status_code == 200
        assert client.post("/v1/search", json={"query": "terminate"}, headers=B).json()["hits"]


def test_same_file_name_from_another_tenant_replaces_nothing(tmp_path):
    with service(keyed_settings(tmp_path)) as client:
        first = put(client, A, "contract.pdf", contract_pdf())["jobs"][0]
        other = text_pdf(["A different contract entirely.\nIt has one page about leases."], title="Lease")
        second = put(client, B, "contract.pdf", other)["jobs"][0]
        assert second["stage"] == "ingested"
        assert [d["id"] for d in client.get("/v1/documents", headers=A).json()["documents"]] == [first["document_id"]]
        # the same tenant's new version does replace its old one
        third = put(client, A, "contract.pdf", other)["jobs"][0]
        assert third["stage"] == "replaced"
        assert [d["id"] for d in client.get("/v1/documents", headers=A).json()["documents"]] == [third["document_id"]]
        assert len(client.get("/v1/documents", headers=B).json()["documents"]) == 1


def test_a_crafted_id_collision_across_tenants_is_refused_and_leaks_nothing(tmp_path):
    # tenant default's ids are the bytes' SHA-256; these bytes hash to acme's id for ``text``
    keys = SecretStr(f"{KEY_A}:acme,{KEY_D}:default")
    text = b"The secret clause: acme pays 9,999,999 dollars.\n"
    crafted = b"folio-tenant\x00acme\x00" + text
    with service(service_settings(tmp_path, None, api_keys=keys)) as client:
        acme = put(client, A, "secret.txt", text)["jobs"][0]
        assert acme["document_id"] == content_id(crafted)
        refused = put(client, {"Authorization": f"Bearer {KEY_D}"}, "crafted.txt", crafted, expect=409)
        assert refused["error"]["code"] == "document_conflict" and "9,999,999" not in json.dumps(refused)
        assert client.get("/v1/documents", headers={"Authorization": f"Bearer {KEY_D}"}).json()["documents"] == []
        page = client.get(f"/v1/documents/{acme['document_id']}/pages/1", headers=A).json()
        assert "9,999,999" in page["text"]


# -- limits -------------------------------------------------------------------------------------------------


def test_requests_per_minute_per_key_get_429_with_retry_after(tmp_path):
    with service(keyed_settings(tmp_path, rate_limit_per_minute=3)) as client:
        assert [client.get("/v1/documents", headers=A).status_code for _ in range(3)] == [200] * 3
        refused = client.get("/v1/documents", headers=A)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60  # within the minute
        assert client.get("/v1/documents", headers=B).status_code == 200  # another key's bucket
        assert client.get("/healthz").status_code == 200  # open paths are not counted


def test_guessing_keys_locks_the_address_out_even_for_a_right_guess(tmp_path):
    with service(keyed_settings(tmp_path, auth_failures_per_minute=3)) as client:
        guesses = [client.get("/v1/documents", headers={"X-API-Key": f"guess-{n:02d}-0123456789abcdef"})
                   for n in range(3)]
        assert [g.status_code for g in guesses] == [401] * 3
        locked = client.get("/v1/documents", headers={"X-API-Key": "guess-99-0123456789abcdef"})
        assert locked.status_code == 429 and locked.json()["error"]["code"] == "too_many_failed_keys"
        assert 1 <= int(locked.headers["Retry-After"]) <= 60  # 3 failures a minute: within the minute
        # the right key from the locked address is refused the same way: a lucky guess learns nothing
        right = client.get("/v1/documents", headers=A)
        assert right.status_code == 429 and right.json()["error"]["code"] == "too_many_failed_keys"
        assert client.get("/healthz").status_code == 200 and client.get("/v1/info").status_code == 200
        # no key at all is not a guess: still a plain 401
        assert client.get("/v1/documents").status_code == 401


def test_the_failure_limit_refills_and_forgets_idle_addresses():
    limiter = RateLimiter(2, window_s=1)
    assert limiter.take("10.0.0.1") is None and limiter.take("10.0.0.1") is None
    wait = limiter.wait("10.0.0.1")
    assert wait is not None and 0 < wait <= 1.0
    assert limiter.wait("10.0.0.2") is None  # another address
    time.sleep(2.05)
    assert limiter.wait("10.0.0.1") is None and limiter.take("10.0.0.1") is None
    # addresses that come and go: their counters expire with their windows, so memory stays bounded
    for n in range(2000):
        limiter.take(f"192.0.2.{n}")
    assert len(limiter._storage.storage) >= 2000
    time.sleep(2.05)
    limiter.take("198.51.100.1")  # a write schedules the storage's expiry pass
    deadline = time.monotonic() + 5
    while len(limiter._storage.storage) > 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(limiter._storage.storage) == 1


def test_files_pages_and_question_length_limits(tmp_path):
    settings = keyed_settings(tmp_path, max_files_per_request=2, max_pages=3, max_question_chars=40)
    with service(settings) as client:
        files = [("files", (f"f{i}.txt", b"some text")) for i in range(3)]
        many = client.post("/v1/documents", files=files, headers=A)
        assert many.status_code == 413 and many.json()["error"]["code"] == "too_many_files"
        long_doc = text_pdf([f"Page {i} of a long report." for i in range(4)], title="Long")
        refused = put(client, A, "long.pdf", long_doc, expect=413)
        assert refused["error"]["code"] == "too_many_pages" and "FOLIO_MAX_PAGES" in refused["error"]["message"]
        put(client, A, "supply.pdf", contract_pdf())
        question = "Which state's laws govern this agreement, and why?"
        assert len(question) > 40
        for path, body in (("/v1/plan", {"question": question}),
                           ("/v1/query", {"question": question, "stream": True}),
                           ("/v1/search", {"query": question})):
            response = client.post(path, json=body, headers=A)
            assert response.status_code == 413 and response.json()["error"]["code"] == "question_too_long", path
        assert client.post("/v1/plan", json={"question": "Which state's laws govern?"}, headers=A).status_code == 200


# -- secrets ------------------------------------------------------------------------------------------------


def test_secrets_never_reach_logs_errors_or_the_ledger(tmp_path, provider_double, caplog):
    double = provider_double()
    settings = keyed_settings(tmp_path, double, llm_api_key=SecretStr(LLM_SECRET),
                              qdrant_api_key=SecretStr(QDRANT_SECRET), rate_limit_per_minute=40)
    secrets = (KEY_A, KEY_B, LLM_SECRET, QDRANT_SECRET)
    caplog.set_level(logging.DEBUG)
    seen = [repr(settings), str(settings), settings.model_dump_json()]
    with service(settings) as client:
        put(client, A, "supply.pdf", contract_pdf())
        responses = [
            client.post("/v1/query", json={"question": "Which state's laws govern?", "mode": "full"}, headers=A),
            client.post("/v1/query", json={"question": "x", "documents": ["nope00"]}, headers=A),
            client.get("/v1/documents", headers={"Authorization": f"Bearer {KEY_A}x"}),
            client.get("/v1/documents", headers={"Authorization": "Basic " + KEY_A}),
            client.get("/v1/ledger", headers=A), client.get("/v1/ledger", headers=B),
            client.get("/v1/jobs", headers=A), client.get("/v1/info"), client.get("/metrics"),
            client.post("/v1/documents", files=[("files", ("x.exe", b"MZ"))], headers=A),
        ]
        responses += [client.get("/v1/documents", headers=B) for _ in range(45)]  # into the rate limit
        assert responses[-1].status_code == 429
        seen += [r.text + json.dumps(dict(r.headers)) for r in responses]
    seen += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    assert caplog.records
    for secret in secrets:
        assert not any(secret in text for text in seen), secret
    assert {r["user"] for r in double.requests()} == {"folio-acme"}
    # the access lines name the tenant and the key by a digest's prefix
    key_id = hashlib.sha256(KEY_A.encode()).hexdigest()[:8]
    assert any(getattr(r, "tenant", None) == "acme" and getattr(r, "key_id", None) == key_id
               for r in caplog.records if r.name == "folio.access")


# -- folio serve --------------------------------------------------------------------------------------------


def test_serve_without_keys_refuses_a_public_interface(tmp_path, monkeypatch):
    from folio.cli import cli

    for name in ("FOLIO_API_KEYS", "FOLIO_API_KEYS_FILE", "FOLIO_ALLOW_NO_AUTH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["--data-dir", str(tmp_path / "data"), "serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "loopback only" in result.output and "FOLIO_API_KEYS" in result.output
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
