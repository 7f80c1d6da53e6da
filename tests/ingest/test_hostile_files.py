"""Hostile and broken files (``tests/hostile.py``), each through the parser under a memory cap and a deadline,
``folio ingest`` and the upload API: refused with its stable code and HTTP status, or read safely; and the
rest of the index byte for byte as it was."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from folio.config import Settings
from folio.errors import ContentTooLarge, CorruptFile, TooManyPages, http_status_for
from folio.ingest.cli import cli
from folio.ingest.embed import HashEmbedder
from folio.ingest.ocr import OcrOptions
from folio.ingest.parse import ParseLimits, _collapse_blank_lines, parse_bytes
from folio.ingest.pipeline import Ingestor
from folio.ingest.sources import Source, document_id
from folio.ingest.store import Store
from tests import hostile
from tests.hostile import CORPUS, Hostile
from tests.pdfs import CONTRACT_PAGES, text_pdf, write
from tests.records_helpers import document_rows
from tests.service_helpers import contract_pdf, service, service_settings

REPO = Path(__file__).resolve().parents[2]
ADDRESS_SPACE_MB = 1024  # the parse of any one file: what the old code took for several of these was more
DEADLINE_S = 60.0  # generous: every file here parses in under 3 s on two busy cores
GROWTH_MB = 512  # what parsing one file may add to the process (the worst here adds ~150 MB; a 200-inch page
# drawn at full resolution to measure its ink added 780 MB)
REFUSED = [item for item in CORPUS if item.code is not None]
# what the parser bounds by itself; a parse_timeout input runs for hours unless the sandbox (the pipeline's worker
# process, tests/ingest/test_parse_sandbox.py) stops it, so it goes only through `folio ingest` and the upload below
PARSED = [item for item in CORPUS if item.code != "parse_timeout"]
PARSE_TIMEOUT_S = 15.0  # FOLIO_PARSE_TIMEOUT_S below: five times what the slowest sound file here takes
GOOD_TEXT = "The buyer may return defective units within ninety days for a full refund."


def _ids(item: Hostile) -> str:
    return item.name


def run_bounded(*names: str, options: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    """``tests.hostile.run_bounded`` in a fresh interpreter (it forks a child per file)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOLIO_")}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.hostile", "--as-mb", str(ADDRESS_SPACE_MB), "--deadline", str(DEADLINE_S),
         *options, *names], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=DEADLINE_S * (len(names) + 1) + 60)
    assert proc.returncode == 0, proc.stderr
    return {line["name"]: line for line in map(json.loads, proc.stdout.splitlines())}


@pytest.fixture(scope="module")
def bounded() -> dict[str, dict[str, Any]]:
    """What the parser made of every file of the corpus, each in its own child process."""
    return run_bounded(*(item.name for item in PARSED))


def test_the_corpus_is_what_it_claims():
    assert len(CORPUS) >= 15 and len({item.name for item in CORPUS}) == len(CORPUS)
    assert len({item.make() for item in CORPUS}) == len(CORPUS)  # distinct bytes: no file is another's duplicate
    assert all(http_status_for(item.code) == item.status for item in REFUSED)
    # the bombs are real: the deflate data inflates to what it claims, checksums and all
    import zlib

    assert zlib.decompress(hostile.zeros_zlib(8 << 20)) == bytes(8 << 20)
    inflater = zlib.decompressobj(-15)
    assert inflater.decompress(hostile.zeros_deflate((4 << 20) + 5, prefix=b"hello")) == b"hello" + bytes(4 << 20)
    assert hostile.zeros_crc32(4 << 20) == zlib.crc32(bytes(4 << 20))
    bomb = hostile.flate_bomb_pdf()
    assert len(bomb) < 3_000_000 and hostile.zeros_zlib(hostile.BOMB_BYTES) in bomb
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(hostile.docx_zip_bomb())) as archive:
        assert archive.getinfo("word/media/image1.png").file_size == hostile.BOMB_BYTES
    with zipfile.ZipFile(io.BytesIO(hostile.docx_lying_bomb())) as archive:  # what a zip reader believes
        assert archive.read("word/document.xml").startswith(b"<?xml")
    assert hostile.empty_pages_pdf().count(b"/Type /Page ") == 20_000


def test_pdfium_text_layer_refuses_deep_content_as_no_text():
    """The one file whose answer depends on the text layer: PDFium stops reading the nest (pypdf's extractor
    recurses into it: too_complex, the corpus's answer)."""
    result = run_bounded("deep-content.pdf", options=("--pdf-text", "pdfium"))["deep-content.pdf"]
    assert result["code"] == "no_text", result
    assert result["growth_mb"] < GROWTH_MB, result


@pytest.mark.parametrize("item", PARSED, ids=_ids)
def test_parsing_is_bounded_and_answers_with_a_stable_code(bounded, item):
    result = bounded[item.name]
    assert "timeout" not in result, f"{item.name} was still parsing after {DEADLINE_S:.0f} s"
    assert "crash" not in result, f"{item.name}: {result['crash']} (a parse needs under {ADDRESS_SPACE_MB} MiB)"
    assert result["code"] == item.code, result
    assert result["growth_mb"] < GROWTH_MB, result
    if item.code is None:
        assert result["contains"], f"{item.name}: {item.must_contain!r} is not in its text"
        assert result["leaked"] == [], f"{item.name}: {result['leaked']} got into its text"
    else:
        assert result["file"] == item.name and result["message"]


@pytest.mark.parametrize(("name", "stream_mb", "total_mb", "setting"), [
    ("flate-bomb.pdf", 8, 32, "FOLIO_MAX_STREAM_MB"),
    ("repeated-stream.pdf", 80, 200, "FOLIO_MAX_DECOMPRESSED_MB"),  # each 64 MiB stream is under the cap
    ("zip-bomb.docx", 8, 32, "FOLIO_MAX_STREAM_MB"),
    ("lying-zip-bomb.docx", 8, 32, "declares"),
])
def test_a_bomb_inflates_no_further_than_its_caps(name, stream_mb, total_mb, setting):
    """2 GiB (or 12.5 GiB) of inflated data; the child's memory grows by at most a few times the stream cap
    (pypdf holds the inflated stream and a copy), not by what the bomb holds."""
    result = run_bounded(name, options=("--stream-mb", str(stream_mb), "--total-mb", str(total_mb)))[name]
    assert result.get("code") == "content_too_large", result
    assert setting in result["message"]
    assert result["growth_mb"] < 3 * stream_mb + 48, result


def test_the_page_count_is_checked_before_any_text_is_read(monkeypatch):
    from pypdf import PageObject

    read: list[int] = []
    extract = PageObject.extract_text

    def counted(self: PageObject, *args: Any, **kwargs: Any) -> str:
        read.append(1)
        return extract(self, *args, **kwargs)

    monkeypatch.setattr(PageObject, "extract_text", counted)
    pypdf_text = ParseLimits(pdf_text="pypdf")  # the layer whose reading is counted here; the check comes first
    for data in (hostile.empty_pages_pdf(), hostile.understated_pages_pdf()):
        with pytest.raises(TooManyPages) as err:
            parse_bytes("many.pdf", data, limits=pypdf_text)
        assert "10,000 limit (FOLIO_MAX_PAGES)" in err.value.message and err.value.http_status == 413
    with pytest.raises(TooManyPages):
        parse_bytes("six.pdf", text_pdf(CONTRACT_PAGES * 2), limits=replace(pypdf_text, max_pages=5))
    assert read == []
    five = parse_bytes("five.pdf", text_pdf(CONTRACT_PAGES[:2] * 2 + CONTRACT_PAGES[:1]),
                       limits=replace(pypdf_text, max_pages=5), ocr=OcrOptions(mode="off"))
    assert len(five.pages) == len(read) == 5


def test_text_and_docx_pages_are_counted_before_they_are_cut():
    limits = ParseLimits(max_pages=3)
    assert len(parse_bytes("memo.txt", b"one\ftwo\fthree\f", limits=limits).pages) == 3
    with pytest.raises(TooManyPages, match="has 4 pages"):
        parse_bytes("memo.txt", b"one\ftwo\fthree\ffour", limits=limits)
    with pytest.raises(TooManyPages, match="at least 5 pages"):  # counted before the text is cut
        parse_bytes("memo.txt", b"one\f" * 5, limits=limits)
    long_text = ("A sentence of the report. " * 120 + "\n\n") * 5  # 15,600 characters: at least 5 pages
    with pytest.raises(TooManyPages, match="at least 5 pages"):
        parse_bytes("report.md", long_text.encode(), limits=limits)
    assert len(parse_bytes("report.docx", hostile.docx_page_breaks(2), limits=limits).pages) == 3
    with pytest.raises(TooManyPages, match="at least 4 pages"):
        parse_bytes("report.docx", hostile.docx_page_breaks(3), limits=limits)


def test_the_limits_come_from_the_settings(monkeypatch):
    assert ParseLimits.from_settings(Settings()) == ParseLimits()  # one set of defaults
    monkeypatch.setenv("FOLIO_MAX_STREAM_MB", "8")
    monkeypatch.setenv("FOLIO_MAX_DECOMPRESSED_MB", "64")
    monkeypatch.setenv("FOLIO_MAX_ZIP_MEMBERS", "50")
    monkeypatch.setenv("FOLIO_MAX_HTML_ELEMENTS", "1000")
    monkeypatch.setenv("FOLIO_MAX_PAGES", "7")
    assert ParseLimits.from_settings(Settings()) == ParseLimits(
        max_pages=7, max_stream_bytes=8_000_000, max_decompressed_bytes=64_000_000, max_zip_members=50,
        max_html_elements=1000)


def _padded_docx(pad_bytes: int) -> bytes:
    """A sound DOCX with one more member of ``pad_bytes`` zeros (an uncompressed image, say)."""
    pad = hostile.Member("word/media/pad.bin", hostile.zeros_deflate(pad_bytes), hostile.zeros_crc32(pad_bytes),
                         pad_bytes)
    return hostile.raw_zip([*hostile.docx_members(), pad])


@pytest.mark.parametrize("workers", [0, 1])
def test_the_pipeline_parses_under_its_settings_limits(store, tmp_path, workers):
    """The settings' limits reach the parser, inline and in the parser worker process."""
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64", ingest_workers=workers, max_stream_mb=1,
                        max_html_elements=50)
    ingestor = Ingestor(store, lambda: HashEmbedder(64), settings)
    try:
        results = ingestor.run([Source(name="padded.docx", key="padded", data=_padded_docx(2 << 20)),
                                Source(name="list.html", key="list", data=b"<ul>" + b"<li>item</li>" * 60 + b"</ul>"),
                                Source(name="ok.docx", key="ok", data=hostile.plain_docx())])
    finally:
        ingestor.close()
    assert [r.error.code if r.error else r.status for r in results] == ["content_too_large", "too_complex", "ingested"]
    assert results[0].error is not None and "FOLIO_MAX_STREAM_MB" in results[0].error.message
    default = parse_bytes("padded.docx", _padded_docx(2 << 20), limits=ParseLimits())
    assert hostile.DOCX_TEXT in default.pages[0]


def test_javascript_and_attachments_are_never_read_and_are_named_in_warnings():
    parsed = parse_bytes("javascript.pdf", hostile.javascript_pdf(), limits=ParseLimits(), ocr=OcrOptions(mode="off"))
    text = "\n".join(parsed.pages)
    assert "State of Oregon" in text
    assert hostile.JS_MARKER not in text and hostile.ATTACHMENT_MARKER not in text
    assert any("JavaScript" in w for w in parsed.warnings) and any("embedded files" in w for w in parsed.warnings)
    plain = parse_bytes("plain.pdf", hostile.raw_pdf(hostile._one_page()), ocr=OcrOptions(mode="off"))
    assert plain.warnings == []


def _document_xml_as(encoding: str, *, doctype: bytes = b"") -> bytes:
    def transform(xml: bytes) -> bytes:
        rest = xml.split(b"?>", 1)[1]
        declared = b'<?xml version="1.0" encoding="%s" standalone="yes"?>' % encoding.encode()
        if encoding == "UTF-7":  # "<!DOCTYPE" as UTF-7 writes it: "+ADw-!DOCTYPE"
            return declared + b"+ADw-!DOCTYPE w:document +AFsAPA-!ENTITY bomb +ACI-boom+ACIAPgBd-+AD4-" + rest
        return (declared + doctype + rest).decode().encode(encoding)
    return hostile._replace_document_xml(transform)


@pytest.mark.parametrize(("data", "code", "words"), [
    (_document_xml_as("UTF-16"), None, hostile.DOCX_TEXT),
    (_document_xml_as("UTF-16", doctype=b'<!DOCTYPE w:document [<!ENTITY bomb "boom">]>'), "corrupt_file", "DTD"),
    (_document_xml_as("UTF-7"), "corrupt_file", "UTF-7 encoding"),
    (_document_xml_as("cp037"), "corrupt_file", "not XML in UTF-8 or UTF-16"),  # EBCDIC
], ids=["utf-16", "utf-16-dtd", "utf-7", "ebcdic"])
def test_a_dtd_cannot_hide_in_another_encoding(data, code, words):
    try:
        parsed = parse_bytes("encoded.docx", data, limits=ParseLimits())
    except CorruptFile as exc:
        assert exc.code == code and words in exc.message
    else:
        assert code is None and words in parsed.pages[0]


def test_a_broken_form_the_text_never_uses_does_not_refuse_the_pdf():
    """Forms are counted against FOLIO_MAX_DECOMPRESSED_MB; one too broken to inflate counts nothing, as the
    text extractor skips it too."""
    broken = hostile.stream(b"x\x9c this is not deflate data at all",
                            b"/Type /XObject /Subtype /Form /BBox [0 0 10 10] /Filter /FlateDecode ")
    page = b"<< /Font << /F1 << /Type /Font /Subtype /Type1 /BaseFont /Helvetica >> >> /XObject << /Fm1 5 0 R >> >>"
    objects = hostile._one_page(more=[broken])
    objects[2] = objects[2].replace(hostile.FONT, page)
    parsed = parse_bytes("form.pdf", hostile.raw_pdf(objects), limits=ParseLimits(), ocr=OcrOptions(mode="off"))
    assert "State of Oregon" in parsed.pages[0]


def test_html_is_read_in_linear_time_as_before():
    """The blank-line collapse gives what the regular expression it replaced gave, on every short mix of
    spaces, tabs, line ends and letters; and a tag that is not a script is text, as a browser shows it."""
    pattern = re.compile(r"[ \t]*\n[ \t]*(\n[ \t]*)+")
    rng = random.Random(6)
    for _ in range(20_000):
        text = "".join(rng.choice(" \t\nab") for _ in range(rng.randint(0, 12)))
        assert _collapse_blank_lines(text) == pattern.sub("\n\n", text), repr(text)
    page = parse_bytes("evasion.html", b"<p>Intro.</p><scr<script>ipt>alert('shown')</script><p>End.</p>").pages[0]
    assert "ipt>alert('shown')" in page  # `<scr<script>` is one odd tag; what follows is text on the page
    nested = b"<div>" * 1500 + b"<p>Deep but within the limit.</p>" + b"</div>" * 1500
    assert "Deep but within the limit." in parse_bytes("nested.html", nested).pages[0]


# -- folio ingest -------------------------------------------------------------------------------------------


def snapshot(settings: Settings) -> dict[str, dict[str, str]]:
    """Every document record (with its pages) and every chunk point (payload and vectors, by point id), grouped
    by document id."""
    with Store.open(settings) as store:
        return _points(store)


def _points(store: Store) -> dict[str, dict[str, str]]:
    by_document: dict[str, dict[str, str]] = {}
    for doc_id, row in document_rows(store).items():
        by_document.setdefault(doc_id, {})["record"] = row
    for chunk in store.index.stored():
        doc = str(chunk.payload.get("doc_id"))
        by_document.setdefault(doc, {})[chunk.id] = json.dumps(
            {"payload": chunk.payload, "dense": chunk.dense.tolist(),
             "sparse": [chunk.sparse.indices, chunk.sparse.values]}, sort_keys=True)
    return by_document


@pytest.fixture
def cli_run(tmp_path: Path) -> Any:
    runner = CliRunner()
    env = {"FOLIO_EMBED_MODEL": "hash-64", "FOLIO_INGEST_WORKERS": "0", "FOLIO_DATA_DIR": str(tmp_path / "data")}

    def invoke(*args: str, **extra_env: str) -> Any:
        return runner.invoke(cli, list(args), env={**env, **extra_env}, catch_exceptions=False)

    return invoke


def test_folio_ingest_names_each_failure_goes_on_and_leaves_the_index_as_it_was(cli_run, tmp_path):
    settings = Settings(data_dir=tmp_path / "data", embed_model="hash-64")
    first = write(tmp_path / "first.pdf", contract_pdf())
    assert cli_run("ingest", str(first)).exit_code == 0
    before = snapshot(settings)
    assert len(before) == 1

    folder = tmp_path / "batch"
    for item in CORPUS:
        write(folder / item.name, item.make())
    good = write(folder / "zz-good.txt", GOOD_TEXT.encode())
    result = cli_run("ingest", str(folder), "--json", FOLIO_INGEST_WORKERS="1",  # the sandbox: see PARSED
                     FOLIO_PARSE_TIMEOUT_S=str(PARSE_TIMEOUT_S))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    by_file = {Path(r["file"]).name: r for r in report["results"]}
    assert report["failed"] == len(REFUSED) and len(by_file) == len(CORPUS) + 1
    lines = result.stderr.splitlines()
    for item in CORPUS:
        row = by_file[item.name]
        if item.code is None:
            assert row["status"] == "ingested", row
            continue
        assert row["status"] == "failed" and row["error"]["code"] == item.code, row
        assert row["error"]["file"] == str(folder / item.name)
        line = next(line for line in lines if f"FAILED {folder / item.name}:" in line)
        assert line.endswith(f"[{item.code}]") and "Traceback" not in result.stderr
    assert by_file["zz-good.txt"]["status"] == "ingested"

    after = snapshot(settings)
    assert {doc: after[doc] for doc in before} == before  # the document ingested first, byte for byte
    read = {document_id((folder / item.name).read_bytes()) for item in CORPUS if item.code is None}
    assert set(after) == set(before) | read | {document_id(good.read_bytes())}  # nothing of the refused
    with Store.open(settings) as store:
        records = {r.file_name: r for r in store.list_documents(status=None)}
        for item in CORPUS:
            if item.code is None:
                assert records[item.name].status == "ready"
                assert store.count_chunks(records[item.name].id) == records[item.name].n_chunks > 0
                text = "\n".join(store.require_document(records[item.name].id, with_pages=True).pages or [])
                assert all(marker not in text for marker in item.must_not_contain)
        assert not any(item.name in records for item in REFUSED)


def test_folio_ingest_refuses_a_file_over_the_size_limit_and_reads_odd_names(cli_run, tmp_path):
    folder = tmp_path / "names"
    write(folder / "long-line.txt", b"x" * 1_500_000)
    odd = ["escape \x1b[31mred\x1b[0m.txt", "line\nbreak.txt", "tab\tand\x7fdel.txt", "n" * 240 + ".txt",
           "rlo \u202egnp.txt"]
    for i, name in enumerate(odd):
        write(folder / name, f"{GOOD_TEXT} Copy {i}.".encode())
    nested = folder / "sub" / "deeper"
    nested.mkdir(parents=True)
    traversal = nested / ".." / ".." / ".." / "names" / "passwd.txt"
    write(folder / "passwd.txt", f"{GOOD_TEXT} Copy passwd.".encode())
    result = cli_run("ingest", str(folder / "long-line.txt"), *(str(folder / n) for n in odd), str(traversal),
                     "--json", FOLIO_MAX_FILE_MB="1")
    assert result.exit_code == 1
    rows = json.loads(result.stdout)["results"]
    assert rows[0]["status"] == "failed" and rows[0]["error"]["code"] == "file_too_large"
    assert "FOLIO_MAX_FILE_MB" in rows[0]["error"]["message"]
    assert [r["status"] for r in rows[1:]] == ["ingested"] * (len(odd) + 1)
    with Store.open(Settings(data_dir=tmp_path / "data")) as store:
        names = [r.file_name for r in store.list_documents()]
    assert len(names) == len(odd) + 1 and "passwd.txt" in names
    assert not any("/" in name or ".." in name for name in names)  # the file's own name: never a path


# -- the upload API -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = service_settings(tmp_path_factory.mktemp("api"), None, ingest_workers=1, parse_timeout_s=PARSE_TIMEOUT_S)
    with service(settings) as client:
        response = client.post("/v1/documents?wait=true", files=[("files", ("first.pdf", contract_pdf()))])
        assert response.status_code == 200 and response.json()["jobs"][0]["status"] == "done"
        yield client


def _api_points(client: TestClient) -> dict[str, dict[str, str]]:
    store: Store = client.app.state.runtime.store
    store.list_documents(status=None)  # opens it, if it was not yet
    return _points(store)


@pytest.mark.parametrize("item", CORPUS, ids=_ids)
def test_upload_answers_with_the_code_and_leaves_the_index_as_it_was(api, item):
    before = _api_points(api)
    response = api.post("/v1/documents?wait=true", files=[("files", (item.name, item.make()))])
    if item.code is not None:
        assert response.status_code == item.status, response.text
        error = response.json()["error"]
        assert error["code"] == item.code and error["file"] == item.name and error["message"]
        assert _api_points(api) == before
        return
    assert response.status_code == 200, response.text
    job = response.json()["jobs"][0]
    assert job["status"] == "done", job
    store: Store = api.app.state.runtime.store
    record = store.require_document(job["document_id"], with_pages=True)
    text = "\n".join(record.pages or [])
    assert record.status == "ready" and store.count_chunks(record.id) == record.n_chunks > 0
    assert item.must_contain is None or item.must_contain in text
    assert not any(marker in text for marker in item.must_not_contain)
    after = _api_points(api)
    assert {doc: after[doc] for doc in before} == before and set(after) == set(before) | {job["document_id"]}
    assert api.delete(f"/v1/documents/{job['document_id']}").status_code == 200
    assert _api_points(api) == before


def test_what_was_ignored_is_told_by_the_job_the_record_and_the_cli(api, cli_run, tmp_path):
    """A PDF's JavaScript and attachments are never run or opened, and the user is told: in the upload's job,
    in the document's record (the UI lists it) and in ``folio ingest``'s line for the file."""
    response = api.post("/v1/documents?wait=true", files=[("files", ("scripted.pdf", hostile.javascript_pdf()))])
    assert response.status_code == 200, response.text
    job = response.json()["jobs"][0]
    assert job["status"] == "done" and any("JavaScript" in w for w in job["warnings"]), job
    listed = api.get(f"/v1/documents/{job['document_id']}").json()
    assert listed["warnings"] == job["warnings"] and any("embedded files" in w for w in listed["warnings"])
    assert api.delete(f"/v1/documents/{job['document_id']}").status_code == 200
    clean = api.post("/v1/documents?wait=true", files=[("files", ("clean.pdf", text_pdf(CONTRACT_PAGES)))])
    assert clean.json()["jobs"][0]["warnings"] == []
    assert api.delete(f"/v1/documents/{clean.json()['jobs'][0]['document_id']}").status_code == 200

    path = write(tmp_path / "scripted.pdf", hostile.javascript_pdf())
    result = cli_run("ingest", str(path))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if "ingested" in line and "scripted.pdf" in line)
    assert lines[at + 1].startswith("  warning: the PDF carries JavaScript, which Folio ignores")


def _raw_upload(client: TestClient, file_name: str, data: bytes) -> Any:
    """A multipart upload whose file name goes over the wire as written (control characters included)."""
    boundary = "folio-hostile-boundary"
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return client.post("/v1/documents?wait=true", content=body,
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})


@pytest.mark.parametrize(("sent", "stored", "status", "code"), [
    ("../../etc/passwd.pdf", "passwd.pdf", 200, None),
    ("..\\..\\windows\\system.ini.pdf", "system.ini.pdf", 200, None),
    ("nul\x00byte.pdf", "nulbyte.pdf", 200, None),
    ("esc\x1b[2Jape\x07.pdf", "esc[2Jape.pdf", 200, None),
    ("rlo\u202efdp.exe.pdf", "rlofdp.exe.pdf", 200, None),
    ("a" * 300 + ".pdf", "a" * 196 + ".pdf", 200, None),  # cut to 200 characters, the extension kept
    ("report.pdf\x00.txt", "report.pdf.txt", 422, "corrupt_file"),  # read as text: binary, refused
    ("..", "upload", 415, "unsupported_format"),
    ("\x01\x02", "upload", 415, "unsupported_format"),
])
def test_upload_names_lose_paths_and_control_characters(api, sent, stored, status, code):
    before = _api_points(api)
    data = text_pdf([*CONTRACT_PAGES, f"Uploaded as {sent!r}."])  # bytes of its own, a document of its own
    response = _raw_upload(api, sent, data)
    assert response.status_code == status, response.text
    body = response.json()
    if code is not None:
        assert body["error"]["code"] == code and body["error"]["file"] == stored
        assert _api_points(api) == before
        return
    job = body["jobs"][0]
    assert job["status"] == "done" and job["file"] == stored
    assert api.get(f"/v1/documents/{job['document_id']}").json()["file_name"] == stored
    assert api.delete(f"/v1/documents/{job['document_id']}").status_code == 200


def test_upload_over_the_size_limit_is_refused_before_it_is_read(tmp_path):
    with service(service_settings(tmp_path, None, max_file_mb=1)) as client:
        response = client.post("/v1/documents?wait=true", files=[("files", ("long-line.txt", b"x" * 1_500_000))])
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "file_too_large"
        assert client.get("/v1/documents?status=all").json()["documents"] == []


def test_content_too_large_is_a_413_in_the_tree():
    assert ContentTooLarge.http_status == http_status_for("content_too_large") == 413
    assert http_status_for("too_complex") == 422 and http_status_for("too_many_pages") == 413
