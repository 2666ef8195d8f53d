"""Report files (tables, analysis, PNG plots) and the HTML trace viewer, rendered in headless Chromium."""

import os
import shutil
import subprocess
from html.parser import HTMLParser

import pytest

from eval_fixtures import responder
from verl_metaagent.clients import OpenAIChatClient
from verl_metaagent.eval import EvalSettings, evaluate_async, load_problems, parse_systems
from verl_metaagent.eval.records import RunStore
from verl_metaagent.eval.report import write_report
from verl_metaagent.eval.viewer import page_path, render_trace_page, write_trace_pages
from verl_metaagent.testing.openai_server import FakeOpenAIServer

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)
HOSTILE = " <script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


async def finished_run(bench_files, out):
    """single agent, ensemble_vote and MetaAgent-X on the tiny benchmarks; every reply carries hostile HTML."""
    with FakeOpenAIServer(lambda body: responder(body) + HOSTILE) as server:
        client = OpenAIChatClient(server.base_url, "fake", api_key_env=None)
        problems = {n: load_problems(n, p) for n, p in bench_files.items()}
        await evaluate_async(problems, parse_systems("single_agent,ref:ensemble_vote,metaagent"), client, str(out),
                             EvalSettings(), progress=False)
        await client.aclose()
    return RunStore(str(out))


class Elements(HTMLParser):
    """(tag, attrs, text-after) of every element in a DOM dump."""

    def __init__(self, text):
        super().__init__()
        self.elements = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))

    def having(self, cls):
        return [a for t, a in self.elements if cls in (a.get("class") or "").split()]


def dump_dom(path, tmp_path):
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'chromium-profile'}",
           "--dump-dom", "file://" + os.path.abspath(path)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


async def test_report_writes_tables_analysis_and_plots(bench_files, tmp_path):
    store = await finished_run(bench_files, tmp_path / "run")
    paths = write_report(store.out_dir, title="Tiny")
    for name in ("results.md", "results.csv", "results_long.csv", "analysis.md", "patterns_by_benchmark.png",
                 "patterns_by_difficulty.png", "design_size.png", "cost_vs_accuracy.png"):
        assert os.path.getsize(paths[name]) > 0, name
    for name in ("patterns_by_benchmark.png", "cost_vs_accuracy.png"):
        with open(paths[name], "rb") as fh:
            assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    analysis = open(paths["analysis.md"]).read()
    assert "| AIME24 | 4 | 75.0% | 25.0% |" in analysis  # 3 ensemble + 1 invalid design
    assert "![patterns_by_benchmark.png](plots/patterns_by_benchmark.png)" in analysis
    with pytest.raises(ValueError, match="no records"):
        write_report(str(tmp_path / "empty"))


def test_page_escapes_untrusted_ids_and_text():
    record = {"system": "metaagent", "benchmark": "aime24", "problem_id": "\"><script>x()</script>", "sample": 0,
              "correct": False, "reward": 0.0, "answer": "<b>bold</b>", "designs": []}
    trace = {"tree": {"question": "<iframe src=//evil>", "designs": [{"j": 0, "designed": True, "valid": False,
             "invalid_reason": "<svg onload=x()>", "text": "</pre><script>y()</script>", "pattern": "invalid",
             "reward": 0.0, "executions": [],
             "designer_messages": [{"role": "user", "content": "<script>z()</script>"}]}]}}
    page = render_trace_page(record, trace)
    assert "<script" not in page.lower() and "<iframe" not in page and "<svg" not in page and "<b>bold" not in page
    assert "&lt;script&gt;y()&lt;/script&gt;" in page and "Content-Security-Policy" in page
    assert page_path(record).endswith("_s0.html") and "<" not in page_path(record) and '"' not in page_path(record)


async def test_trace_pages_render_in_chromium(bench_files, tmp_path):
    if CHROMIUM is None:
        if os.environ.get("METAAGENT_REQUIRE_CHROMIUM") == "1":
            pytest.fail("METAAGENT_REQUIRE_CHROMIUM=1 but chromium is not installed (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); "
                    "CI installs it and sets METAAGENT_REQUIRE_CHROMIUM=1")
    store = await finished_run(bench_files, tmp_path / "run")
    records = store.load_records()
    pages = write_trace_pages(records, store.load_traces(), str(tmp_path / "view"))
    assert len(pages) == 18 + 1  # 6 problems x 3 systems + index

    by_key = {(r["system"], r["problem_id"]): r for r in records}
    # MetaAgent-X on 2+2: the designed vote script, three voter calls (4, 5, 4), majority 4 -> reward 1
    dom = dump_dom(os.path.join(tmp_path / "view", page_path(by_key[("metaagent", "aime24-1")])), tmp_path)
    els = Elements(dom)
    assert "finish(majority_vote(answers) or \"\")" in dom.replace("&quot;", '"')
    calls = els.having("agent-call")
    assert [c["data-agent"] for c in calls] == ["VoterA", "VoterB", "VoterC"]
    assert [a["data-reward"] for a in els.having("reward")][:1] == ["1"]
    assert 'id="verdict">solved<' in dom and "What is 2+2?" in dom
    assert "I think it is \\boxed{5}" in dom  # VoterB's reply
    # the model's HTML is text, never markup: no script ran, no element was injected
    assert "<title>pwned" not in dom and not [t for t, _ in els.elements if t in ("script", "img", "iframe")]
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom

    # the invalid design of 4+4 shows why it was rejected and has no executions
    dom = dump_dom(os.path.join(tmp_path / "view", page_path(by_key[("metaagent", "aime24-3")])), tmp_path)
    assert "invalid design" in dom and "os" in dom and 'id="verdict">not solved<' in dom
    assert not Elements(dom).having("agent-call")

    # a fixed design: the reference script and its three solver calls
    dom = dump_dom(os.path.join(tmp_path / "view", page_path(by_key[("ref:ensemble_vote", "aime25-0")])), tmp_path)
    assert ("Fixed design 1" in dom
            and [c["data-agent"] for c in Elements(dom).having("agent-call")] == ["Solver1", "Solver2", "Solver3"])

    index = dump_dom(pages[-1], tmp_path)
    links = [a["href"] for t, a in Elements(index).elements if t == "a"]
    assert len(links) == 18 and all(os.path.exists(os.path.join(tmp_path / "view", href)) for href in links)
