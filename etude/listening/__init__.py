"""Listening tests in the browser: MUSHRA (ITU-R BS.1534), MOS (ITU-T P.800 ACR) and A/B preference.

A test is a folder: `plan.json` (what is rated, how, and the opaque ids the stimuli are served by), `stimuli/`
(the copied, checked audio), `ratings.sqlite` (every submitted page) and, after `results`, `results/`. The modules:

- `plan`: the plan's structure, the pages, and each listener's seeded order;
- `design`: `create_test` pairs files across folders, checks and copies them, builds anchors and writes the plan;
- `stimuli`: the signal processing behind it (low-pass anchors, loudness normalisation, trimming);
- `storage`: the SQLite database (WAL, one transaction per page);
- `submission`: what a page submission must hold, checked before anything is stored;
- `server`: the Starlette app and `serve` on uvicorn; the page itself is in `static/`;
- `stats`, `results`, `report`: the statistics, `results.csv` / `summary.json`, and `report.html`;
- `demo`: a MUSHRA test built from rendered Bach chorales; `command`: `etude listen ...`.

Nothing heavy is imported here: the web stack, scipy and matplotlib load only in the modules that use them.
"""
