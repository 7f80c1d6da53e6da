"""The Ask panel as a chat: the conversations list (a sidebar; on a phone a list that folds away), a thread of
turns with the answer first and "How this was answered" folded under it, the open conversation kept in the URL
hash across a reload, rename and delete, and the Spend tab's dollars per conversation. Debian's Chromium,
headless, against a real `folio serve` and the provider test double; screenshots in `test-output/ui/`."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.service_helpers import SAMPLES
from tests.ui_helpers import Screenshots, folio_server, open_how

try:
    from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
except ImportError:  # chromium_executable() makes this a skip, or a failure under CI
    sync_playwright = None

pytestmark = pytest.mark.timeout(120)

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
MSA = SAMPLES / "northwind-brightwater-msa.pdf"
QUESTIONS = ["What is the governing law of the agreement?", "And which courts hear disputes?",
             "What notice does it require for termination?"]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Screenshots:
    return Screenshots(tmp_path_factory.mktemp("ui-chat-screenshots"))


@pytest.fixture(scope="module")
def server(double, tmp_path_factory) -> Iterator[str]:
    """Folio with a model (the provider double) and the MSA ingested."""
    with folio_server(
            tmp_path_factory.mktemp("ui-chat-server"), FOLIO_LLM_BASE_URL=double.base_url,
            FOLIO_LLM_API_KEY="sk-double", FOLIO_LLM_MODEL="deepseek-chat",
            FOLIO_PRICING_PROFILE="deepseek-v4-flash-compat") as base:
        response = httpx.post(f"{base}/v1/documents?wait=true", timeout=60,
                              files=[("files", (MSA.name, MSA.read_bytes()))])
        assert response.status_code == 200, response.text
        yield base


def _page(browser: Browser, url: str, viewport: dict[str, int]) -> Page:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.errors = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda error: page.errors.append(str(error)))  # type: ignore[attr-defined]
    page.goto(url)
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    return page


def _usd(text: str | None) -> float:
    """A dollar amount as the page shows it ("$0.000888")."""
    match = re.search(r"\$(\d+(?:\.\d+)?)", text or "")
    assert match, text
    return float(match.group(1))


def _close(shown: str | None, dollars: float) -> bool:
    """The page rounds to 3 significant digits (or cents)."""
    return abs(_usd(shown) - dollars) <= max(dollars * 0.006, 0.000001)


def _ask(page: Page, question: str, n: int) -> Locator:
    page.locator("#question").fill(question)
    page.get_by_role("button", name="Ask", exact=True).click()
    turns = page.locator("#thread-turns .turn")
    expect(turns).to_have_count(n)
    turn = turns.nth(n - 1)
    expect(turn).to_have_attribute("data-state", "done")
    return turn


def test_a_three_turn_thread_survives_a_reload_and_is_renamed_and_deleted(browser, server, shots):
    page = _page(browser, server, DESKTOP)
    expect(page.locator("#thread-title")).to_have_text("New conversation")
    expect(page.locator("#thread-scope")).to_have_text("All documents (1)")
    page.get_by_label("Route", exact=True).select_option("full")

    for n, question in enumerate(QUESTIONS, 1):
        turn = _ask(page, question, n)
        expect(page.locator("#question")).to_have_value("")  # the box is ready for the next one
        expect(turn.locator(".turn-meta")).to_contain_text(f"Turn {n}")
    match = re.search(r"#c=([0-9a-f]+)$", page.url)
    assert match, page.url
    conversation_id = match.group(1)
    detail = httpx.get(f"{server}/v1/conversations/{conversation_id}").json()
    assert detail["turns"] == 3 and [t["question"] for t in detail["history"]] == QUESTIONS

    # each turn: the question, the answer first, then "How this was answered" folded under it; its dollars
    turns = page.locator("#thread-turns .turn")
    shown = []
    for n, recorded in enumerate(detail["history"]):
        view = turns.nth(n)
        expect(view.locator(".turn-question")).to_have_text(QUESTIONS[n])
        assert view.evaluate("""(t) => {
            const answer = t.querySelector('.answer'), how = t.querySelector('details.how');
            return !how.open && Boolean(answer.compareDocumentPosition(how) & Node.DOCUMENT_POSITION_FOLLOWING);
        }""")
        expect(view.locator(".answer-text")).not_to_be_empty()
        dollars_text = view.locator(".turn-dollars").text_content()
        assert _close(dollars_text, recorded["dollars"]), (dollars_text, recorded["dollars"])
        shown.append(dollars_text)
    total = page.locator("#thread-total")
    expect(total).to_contain_text("for 3 turns")
    assert _close(total.locator(".thread-dollars").text_content(), detail["dollars"])
    assert detail["dollars"] == pytest.approx(sum(t["dollars"] for t in detail["history"]))

    # the third turn re-sent the two before it, and the provider read them from its cache
    third = turns.nth(2)
    expect(third.locator(".how-gist")).to_contain_text("read 2 earlier turns from the cache")
    open_how(third)
    expect(third.locator(".thread-words")).to_contain_text("Read 2 earlier turns from the cache")
    expect(third.locator(".route-card")).to_contain_text("Model: deepseek-chat")
    expect(third.locator(".route-card tr.total td").nth(1)).to_have_text(re.compile(r"^\$0\.\d+$"))
    expect(third.locator(".plan .route-badge")).to_have_text("whole documents")

    # the list: this conversation, its turns and dollars, marked as the open one
    item = page.locator(f'#conversations-list li[data-id="{conversation_id}"]')
    expect(item.locator(".c-title")).to_have_text(detail["title"])
    expect(item.locator(".c-turns")).to_have_text("3 turns")
    assert _close(item.locator(".c-dollars").text_content(), detail["dollars"])
    expect(item.locator(".conversation-open")).to_have_attribute("aria-current", "true")

    # a citation opens its page
    turns.nth(1).locator(".answer-text a.cite").first.click()
    expect(page.locator("#page-dialog")).to_be_visible()
    expect(page.locator("#page-text")).not_to_contain_text("Loading")
    page.keyboard.press("Escape")
    expect(page.locator("#page-dialog")).to_be_hidden()

    # Spend: the conversation's dollars, by its title
    ledger = httpx.get(f"{server}/v1/ledger").json()["by_conversation"][conversation_id]
    assert ledger["dollars"] == pytest.approx(detail["dollars"])
    spend = page.locator("#spend-ledger table", has_text="By conversation")
    row = spend.locator("tbody tr", has_text=detail["title"])
    assert _close(row.locator("td.dollars").text_content(), ledger["dollars"])
    shots(page, "chat-desktop")

    # an estimate of the next turn: priced as the thread's fourth, shown provisionally, never recorded
    page.locator("#question").fill("Can either party assign it?")
    page.get_by_role("button", name="Estimate only").click()
    estimate = turns.nth(3)
    expect(estimate).to_have_attribute("data-state", "estimate")
    expect(estimate.locator(".turn-meta")).to_contain_text("estimate for turn 4, not recorded")
    expect(estimate.locator(".route-card")).to_contain_text("Only estimated")
    expect(estimate.locator(".thread-words")).to_contain_text("3 earlier turns")
    assert httpx.get(f"{server}/v1/conversations/{conversation_id}").json()["turns"] == 3

    # a reload opens the same conversation with every turn and its dollars (from GET /v1/conversations/{id})
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(turns).to_have_count(3)
    expect(page.locator("#thread-title")).to_have_text(detail["title"])
    expect(total).to_contain_text("for 3 turns")
    expect(page.locator("#thread-cache")).to_contain_text("chance it is still cached")
    for n in range(3):
        expect(turns.nth(n).locator(".turn-question")).to_have_text(QUESTIONS[n])
        expect(turns.nth(n).locator(".turn-dollars")).to_have_text(shown[n])
        expect(turns.nth(n).locator(".answer-text a.cite").first).to_be_visible()
    expect(turns.nth(2).locator(".how-gist")).to_contain_text("read 2 earlier turns from the cache")

    # rename in the list: the thread's head and the Spend tab follow
    item.get_by_role("button", name=f"Rename {detail['title']}").click()
    field = item.get_by_role("textbox", name=f"New title for {detail['title']}")
    field.fill("Law and courts")
    field.press("Enter")
    expect(item.locator(".c-title")).to_have_text("Law and courts")
    expect(page.locator("#thread-title")).to_have_text("Law and courts")
    expect(row.filter(has_text="Law and courts")).to_have_count(0)  # the old title's row is gone ...
    expect(spend.locator("tbody tr", has_text="Law and courts")).to_have_count(1)  # ... renamed
    assert httpx.get(f"{server}/v1/conversations/{conversation_id}").json()["title"] == "Law and courts"

    # delete, after a confirmation; its spend stays in the ledger
    item.get_by_role("button", name="Delete Law and courts").click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("Delete the conversation?")
    expect(confirm).to_contain_text("“Law and courts” and its 3 turns")
    confirm.get_by_role("button", name="Keep it").click()
    expect(confirm).to_be_hidden()
    expect(item).to_have_count(1)
    item.get_by_role("button", name="Delete Law and courts").click()
    confirm.get_by_role("button", name="Delete").click()
    expect(item).to_have_count(0)
    expect(page.locator("#conversations-status")).to_contain_text("Deleted “Law and courts”")
    expect(page.locator("#thread-title")).to_have_text("New conversation")
    expect(turns).to_have_count(0)
    assert "#c=" not in page.url
    assert httpx.get(f"{server}/v1/conversations/{conversation_id}").status_code == 404
    expect(spend.locator("tbody tr", has_text="Law and courts (deleted)")).to_have_count(1)

    # the documents ticked when a conversation starts are its scope, shown as chips; it can be widened to all
    msa = httpx.get(f"{server}/v1/documents").json()["documents"][0]
    page.locator(f'#documents-body tr[data-id="{msa["id"]}"] td.select input').check()
    expect(page.locator("#thread-scope .chip")).to_have_text([msa["title"]])
    page.get_by_label("Route", exact=True).select_option("rag")
    _ask(page, "Who are the parties?", 1)
    scoped = httpx.get(f"{server}/v1/conversations/{page.url.split('#c=')[1]}").json()
    assert scoped["scope"] == "documents" and [d["id"] for d in scoped["documents"]] == [msa["id"]]
    expect(page.locator("#thread-scope .chip")).to_have_text([msa["title"]])
    page.get_by_role("button", name="Ask about all documents").click()
    expect(page.locator("#thread-notice")).to_contain_text("Scope changed: the next retrieval turns search")
    expect(page.locator("#thread-scope .chip")).to_have_text(["All documents (1 now)"])
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_phone_width_shows_the_answer_above_the_plan(browser, server, shots):
    made = httpx.post(f"{server}/v1/conversations", json={"title": "Termination"}).json()
    first = httpx.post(f"{server}/v1/conversations/{made['id']}/messages", timeout=60,
                       json={"question": "Who may terminate the agreement for convenience?", "mode": "rag"})
    assert first.status_code == 200, first.text
    page = _page(browser, f"{server}/#c={made['id']}", PHONE)
    turns = page.locator("#thread-turns .turn")
    expect(turns).to_have_count(1)
    expect(page.locator("#thread-title")).to_have_text("Termination")

    # the list folds away on a phone; its button says how many there are
    toggle = page.get_by_role("button", name=re.compile(r"^Conversations \(\d+\)$"))
    expect(toggle).to_have_attribute("aria-expanded", "false")
    expect(page.locator("#conversations-list")).to_be_hidden()

    # a follow-up from the keyboard
    page.locator("#question").focus()
    page.keyboard.type("How much notice does that take?")
    page.keyboard.press("Control+Enter")
    expect(turns).to_have_count(2)
    turn = turns.nth(1)
    expect(turn).to_have_attribute("data-state", "done")
    expect(turn.locator(".turn-meta")).to_contain_text("Turn 2")
    open_how(turn)
    answer = turn.locator(".answer-text").bounding_box()
    how = turn.locator("details.how").bounding_box()
    plan = turn.locator(".plan").bounding_box()
    assert answer and how and plan
    assert answer["y"] + answer["height"] <= how["y"] <= plan["y"], (answer, how, plan)
    width, client = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width <= client, f"the page scrolls sideways: {width} > {client}"

    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    item = page.locator(f'#conversations-list li[data-id="{made["id"]}"]')
    expect(item.locator(".c-turns")).to_have_text("2 turns")
    expect(item.locator(".conversation-open")).to_have_attribute("aria-current", "true")
    shots(page, "chat-phone")
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()


def test_a_collection_scopes_a_question_in_one_click(browser, server, shots):
    """Collections (ui/js/collections.js), on this module's server: the last test here, as it adds a document."""
    board = SAMPLES / "q3-2025-board-update.md"
    response = httpx.post(f"{server}/v1/documents?wait=true", timeout=60,
                          files=[("files", (board.name, board.read_bytes()))])
    assert response.status_code == 200, response.text
    board_id = response.json()["jobs"][0]["document_id"]
    msa_id = next(d["id"] for d in httpx.get(f"{server}/v1/documents").json()["documents"] if d["id"] != board_id)
    made = httpx.post(f"{server}/v1/collections", json={"name": "Board pack", "documents": [board_id]})
    assert made.status_code == 201, made.text
    page = _page(browser, server, DESKTOP)

    chip = page.get_by_role("button", name="Board pack (1)")
    chip.click()  # one click: the next question asks about the collection
    expect(chip).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#ask-scope")).to_contain_text("collection “Board pack”")
    page.get_by_label("Route", exact=True).select_option("full")
    _ask(page, "What did the board decide?", 1)
    expect(page.locator("#thread-scope")).to_contain_text("Q3 2025")  # the board update, not the MSA
    shots(page, "collections-question")
    conversation = httpx.get(f"{server}/v1/conversations").json()["conversations"][0]
    assert conversation["scope"] == "collection" and conversation["collection"]["name"] == "Board pack"
    detail = httpx.get(f"{server}/v1/conversations/{conversation['id']}").json()
    assert [d["id"] for d in detail["history"][0]["answer"]["plan"]["scope"]] == [board_id]

    # a collection made from the ticked documents is picked at once
    page.locator(f"#select-{msa_id}").check()
    page.get_by_role("button", name="New collection").click()
    page.locator("#collection-name").fill("Contracts")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("button", name="Contracts (1)")).to_have_attribute("aria-pressed", "true")
    listed = {c["name"]: c["documents"] for c in httpx.get(f"{server}/v1/collections").json()["collections"]}
    assert listed == {"Board pack": 1, "Contracts": 1}
    assert page.errors == []  # type: ignore[attr-defined]
    page.context.close()
