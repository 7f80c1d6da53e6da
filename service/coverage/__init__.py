"""Coverage: a question that needs every page of a scope too large for one context, as a cached map-reduce.

Windows (``packing``). The scope, in its own order, is packed into windows of whole documents; a
document larger than a window is cut at page boundaries (its slices keep their own page numbers). Each window is
rendered with ``full``'s byte-stable layout, so a window is one cacheable prefix: the same collection gives the
same windows and a later question hits window by window; a window holding whole documents is byte-identical to
``full`` over them (same prefix key, same warm-up). Window size: the context window less the output reserve, the
system prompt and a fixed question budget (``FOLIO_COVERAGE_WINDOW_TOKENS`` caps it), so windows do not depend on
the question's length.

Plan (``plan``). Every window is priced on its own cache state, plus the reduce. Coverage never spends more than
``max_cost_usd``: when every window would cost more, it reads the windows with the best retrieval hits first, as
many as the budget holds, and names the documents left out.

Map (``runner``). Every window gets ``[system, documents, assistant: Ready., user: map instructions + question]``
(``prompts``) under a concurrency limit; a cold window is warmed first with ``full``'s warm-up (DESIGN.md: finish
one request on a cold prefix before others use it). A window answers with its findings and page citations, or
that it holds nothing relevant. A failed window is retried once after the others, then reported, never dropped
silently.

Reduce (``reduce``). The findings are merged into one answer with citations; when they are too long for one call
they are merged in rounds (groups of at least two, so every round shrinks them).

Report (``report``). Pages read, windows that found nothing or failed, cache hits and the bill per window.
"""
