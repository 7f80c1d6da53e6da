"""The shapes of what the API takes and answers: one Pydantic model per thing, declared as each route's
``response_model``.

``query`` (the question asked), ``common`` (usage, cost, citations, retrieved chunks, errors), ``plan`` (the plan
and its estimates, the coverage plan), ``answer`` (the answer and the coverage report), ``documents`` (document
records, pages, jobs), ``ledger`` (the spend summary), ``search``, ``health`` and ``openai`` (the OpenAI-compatible
shim). The models import nothing else of Folio's, so every module may use them.
"""
