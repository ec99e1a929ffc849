"""The studio under attack: a web page rebinding its name to 127.0.0.1, hostile files in a shared project
folder (``jobs.json``, cache notes), forged saves and opens of other tools' files, Gradio switches left in
the environment, and addresses and names the system refuses.

The HTTP tests talk to a real studio (``storyboard studio`` as a child process) with ``http.client``, setting
``Host`` and ``Origin`` as a browser on a rebinding page would. The page is opened in Debian's chromium
(Playwright), as in ``test_studio.py``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
from pathlib import Path

import pytest
from helpers import run_cli, write
from test_studio import TINY, WAIT_S, CHROMIUM, Server, browser_or_skip

from storyboard.errors import UsageError
from storyboard.studio.folder import Folder, Refused

SECRET = "github.com:\n  oauth_token: gho_secret_token_123\n"
PLOT = b"\x89PNG\r\n\x1a\n not really a picture"
XSS_IMG = "<img src=x onerror=\"window.__pwned = (window.__pwned || []).concat('{}')\">"
XSS_SCRIPT = "<script>window.__pwned = ['{}']</script>"


def hostile_jobs() -> dict:
    """A ``jobs.json`` a shared folder could carry: one sound job with hostile text in its free-text fields,
    one whose id and one whose state are markup, one whose count is not a number."""
    sound = {"id": "r1", "script": XSS_IMG.format("script") + ".yaml", "model": XSS_SCRIPT.format("model"),
             "state": "failed", "created": 1.7e9, "queued": 1.7e9, "fraction": 0.5,
             "message": XSS_IMG.format("message") + XSS_SCRIPT.format("message")}
    return {"version": 1, "jobs": [
        sound,
        {**sound, "id": XSS_IMG.format("id"), "message": "bad id"},
        {**sound, "id": "r2", "state": XSS_IMG.format("state")},
        {**sound, "id": "r3", "done": "<i>1</i>"},
    ]}


def hostile_cache(root: Path) -> Path:
    """A storyboard cache (tagged) holding one segment whose note's fields are markup."""
    from storyboard.render.segments import CACHE_TAG, CACHE_TAG_TEXT

    cache = root / "out" / ".storyboard-cache"
    cache.mkdir(parents=True)
    (cache / CACHE_TAG).write_text(CACHE_TAG_TEXT)
    key = "ab" * 20
    (cache / f"{key}.mkv").write_bytes(b"\0" * 1000)
    (cache / f"{key}.json").write_text(json.dumps({
        "frames": XSS_IMG.format("frames"), "shot": XSS_SCRIPT.format("shot"), "model": XSS_IMG.format("model"),
        "scenes": [XSS_IMG.format("scenes")], "output": XSS_IMG.format("output")}))
    return cache


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    """A studio (127.0.0.1, its default) serving a folder with a secret in a hidden folder, a plot it may
    serve, a hostile jobs.json and a hostile cache note; (its URL, its port, the folder, the server)."""
    root = tmp_path_factory.mktemp("attacked")
    write(root / "tiny.yaml", TINY)
    write(root / ".config" / "gh" / "hosts.yml", SECRET)
    (root / ".storyboard-studio" / "plots").mkdir(parents=True)
    (root / ".storyboard-studio" / "plots" / "plan.png").write_bytes(PLOT)
    (root / ".storyboard-studio" / "jobs.json").write_text(json.dumps(hostile_jobs()))
    hostile_cache(root)
    server = Server(root, "tiny.yaml")
    try:
        url = server.url()
        yield url, int(re.search(r":(\d+)/$", url)[1]), root, server
    finally:
        server.stop()


def request(port: int, path: str, host: str, origin: str | None = None, method: str = "GET",
            body: bytes | None = None, address: str = "127.0.0.1", read: bool = True) -> tuple[int, bytes]:
    """One real HTTP request to ``address:port`` with these ``Host`` and ``Origin`` headers; (status, body)
    (the body is not read unless ``read``: an event stream stays open)."""
    connection = http.client.HTTPConnection(address, port, timeout=WAIT_S)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        connection.putheader("Host", host)
        if origin is not None:
            connection.putheader("Origin", origin)
        if body is not None:
            connection.putheader("Content-Type", "application/json")
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        return response.status, response.read() if read else b""
    finally:
        connection.close()


# --- fault 1: DNS rebinding ---------------------------------------------------------------------


def routes(root: Path) -> list[tuple[str, str, bytes | None]]:
    """(method, path, body): the page, its config, a file the studio serves, the queue's join and its events."""
    plot = str((root / ".storyboard-studio" / "plots" / "plan.png").resolve())
    join = json.dumps({"data": [], "fn_index": 0, "trigger_id": None, "session_hash": "attacker",
                       "event_data": None}).encode()
    return [("GET", "/", None), ("GET", "/config", None), ("GET", f"/gradio_api/file={plot}", None),
            ("POST", "/gradio_api/queue/join", join), ("GET", "/gradio_api/queue/data?session_hash=attacker", None)]


def test_a_rebinding_page_gets_403_on_every_route(attacked):
    url, port, root, _ = attacked
    for method, path, body in routes(root):
        for host, origin in ((f"evil.example:{port}", None), (f"evil.example:{port}", f"http://evil.example:{port}"),
                             (f"127.0.0.1:{port}", f"http://evil.example:{port}"), (f"127.0.0.1:{port}", "null"),
                             (f"127.0.0.1:{port + 1}", None), (f"localhost:{port}", f"http://localhost:{port + 1}"),
                             (f"127.0.0.1:{port}", f"https://127.0.0.1:{port}")):
            status, said = request(port, path, host, origin, method, body)
            assert status == 403, (method, path, host, origin, status, said[:200])
            assert said.startswith(b"refused: "), said[:200]
            assert b"oauth_token" not in said and b"storyboard studio" not in said
    status, said = request(port, "/", f"evil.example:{port}")
    assert said.decode() == (f"refused: Host 'evil.example:{port}' is not this studio's address; open it as "
                             f"http://127.0.0.1:{port}/ (the studio answers only its own addresses, so other web "
                             "pages cannot reach it)\n")


def test_the_studios_own_names_still_work(attacked):
    url, port, root, _ = attacked
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        for method, path, body in routes(root):
            status, said = request(port, path, host, f"http://{host}" if method == "POST" else None, method, body,
                                   read="queue/data" not in path)
            assert status != 403, (method, path, host, status, said[:200])
            if method == "GET" and path in ("/", "/config"):
                assert status == 200 and b"storyboard studio" in said
            if "file=" in path:
                assert (status, said) == (200, PLOT)


def test_the_guard_closes_a_websocket_from_a_foreign_origin():
    from storyboard.studio.guard import LocalOnly

    called, sent = [], []

    async def app(scope, receive, send):
        called.append(scope["type"])

    async def receive():
        return {"type": "websocket.connect"}

    async def send(message):
        sent.append(message)

    guard = LocalOnly(app)

    def scope(kind: str, host: bytes, origin: bytes | None = None) -> dict:
        headers = [(b"host", host)] + ([(b"origin", origin)] if origin else [])
        return {"type": kind, "server": ("127.0.0.1", 7860), "headers": headers, "method": "GET", "path": "/"}

    asyncio.run(guard(scope("websocket", b"127.0.0.1:7860", b"http://evil.example:7860"), receive, send))
    asyncio.run(guard(scope("websocket", b"evil.example:7860"), receive, send))
    assert called == [] and [m["type"] for m in sent] == ["websocket.close"] * 2 and sent[0]["code"] == 1008
    asyncio.run(guard(scope("websocket", b"[::1]:7860", b"http://[::1]:7860"), receive, send))
    asyncio.run(guard({"type": "lifespan"}, receive, send))
    assert called == ["websocket", "lifespan"]
    wide = LocalOnly(app, listen="0.0.0.0")  # every address: any IP address, never a name
    assert wide.ours("192.168.1.20:7860", 7860) and wide.ours("[fe80::1]:7860", 7860)
    assert not wide.ours("evil.example:7860", 7860) and not wide.ours("192.168.1.20:80", 7860)
    assert LocalOnly(app, listen="studio.lan").ours("studio.lan:7860", 7860)
    assert not LocalOnly(app).ours("192.168.1.20:7860", 7860) and not LocalOnly(app).ours("127.0.0.1.evil:7860", 7860)


@pytest.fixture
def folder(tmp_path: Path) -> Folder:
    root = tmp_path / "studio"
    root.mkdir()
    return Folder.at(root)


def test_save_writes_only_storyboard_scripts_never_in_hidden_folders(folder):
    from storyboard.studio.actions import Studio
    from storyboard.studio.jobs import RenderQueue

    config = write(folder.root / "config.yaml", "database: {password: hunter2}\n")
    compose = write(folder.root / "docker-compose.yml", "services:\n  web: {image: nginx}\n")
    studio = Studio(folder, queue=RenderQueue(folder, run=False))
    try:
        for hidden in (".vscode/tasks.json", ".github/workflows/x.yml", "docs/.hidden.yaml",
                       "sub/../.github/workflows/y.yml"):
            with pytest.raises(Refused, match="is hidden or in a hidden folder"):
                studio.save(hidden, '{"version": 1, "scenes": []}' if hidden.endswith("json") else TINY, None)
        with pytest.raises(Refused, match=r"^not saved: config.yaml is not a storyboard script \(its top-level keys "
                                          r"\(database\) are not a script's"):
            studio.save("config.yaml", TINY, config.read_text())
        with pytest.raises(Refused, match=r"^not saved: the text is not a storyboard script: its top-level keys "
                                          r"\(on, jobs\) are not a script's"):
            studio.save("workflow.yml", "on: push\njobs: {build: {runs-on: ubuntu-latest}}\n", None)
        with pytest.raises(Refused, match="not saved: the text is not a storyboard script: it is not a mapping"):
            studio.save("notes.yaml", "- a list\n- of things\n", None)
        assert config.read_text() == "database: {password: hunter2}\n"
        assert not (folder.root / ".vscode").exists() and not (folder.root / ".github").exists()
        assert sorted(p.name for p in folder.root.iterdir()) == ["config.yaml", "docker-compose.yml"]
        mistaken = TINY.replace("1s", "1 parsec")  # a script with mistakes is still a script
        assert studio.save("mine.yaml", mistaken, None)[1] == "saved mine.yaml"
        assert compose.read_text() == "services:\n  web: {image: nginx}\n"
    finally:
        studio.close()


def test_open_never_shows_hidden_files_or_other_tools_files(folder):
    from storyboard.studio.actions import Studio
    from storyboard.studio.jobs import RenderQueue

    write(folder.root / ".config" / "gh" / "hosts.yml", SECRET)
    write(folder.root / "docker-compose.yml", "services:\n  db: {environment: {POSTGRES_PASSWORD: hunter2}}\n")
    write(folder.root / "tiny.yaml", TINY)
    os.symlink(folder.root / ".config", folder.root / "settings")  # a link that hides where it goes
    studio = Studio(folder, queue=RenderQueue(folder, run=False))
    try:
        for path in (".config/gh/hosts.yml", "settings/gh/hosts.yml", str(folder.root / ".config/gh/hosts.yml")):
            with pytest.raises(Refused, match="is hidden or in a hidden folder"):
                studio.open(path)
        with pytest.raises(Refused) as refused:
            studio.open("docker-compose.yml")
        assert str(refused.value).startswith("'docker-compose.yml' is not a storyboard script: its top-level keys "
                                             "(services) are not a script's")
        assert "hunter2" not in str(refused.value)
        assert studio.open("tiny.yaml").text == TINY
        assert studio.open(None).path == "tiny.yaml"  # listed after docker-compose.yml, but the first script
    finally:
        studio.close()


# --- fault 3: stored XSS -------------------------------------------------------------------------


@pytest.mark.slow
def test_hostile_jobs_and_cache_notes_show_as_text_in_a_browser(attacked):
    """A shared folder's jobs.json and cache notes, with markup that sets ``window.__pwned``: the page shows
    the text, and the marker is never set."""
    url, port, root, server = attacked
    sync_playwright = browser_or_skip()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        page = browser.new_page()
        page.set_default_timeout(WAIT_S * 1000)
        page.goto(url)
        page.get_by_role("tab", name="Render").click()
        jobs = page.wait_for_selector("#jobs-table")
        shown = jobs.inner_text()
        page.wait_for_function("() => document.querySelector('#resume-button:not([disabled])')")  # r1 failed:
        buttons = page.evaluate("() => ['#cancel-button', '#resume-button'].map("  # resume, not cancel
                                "id => document.querySelector(id).disabled)")
        page.get_by_role("tab", name="Cache").click()
        cache = page.wait_for_selector("#cache-table")
        cached = cache.inner_text()
        page.wait_for_timeout(500)  # an <img onerror> fires once the browser has tried to load it
        pwned = page.evaluate("() => window.__pwned")
        browser.close()
    assert pwned is None, pwned
    assert buttons == [True, False]
    assert XSS_IMG.format("script") + ".yaml" in shown and XSS_SCRIPT.format("model") in shown
    assert XSS_IMG.format("message") in shown
    assert [line.split("\t")[0] for line in shown.splitlines()[1:] if line.strip()][:1] == ["r1"]
    assert "r2" not in shown and "r3" not in shown and "onerror" not in shown.replace(XSS_IMG.format("script"), "") \
        .replace(XSS_IMG.format("message"), "")  # the jobs with a markup id, state or numbers were dropped
    row = next(line for line in cached.splitlines() if line.startswith("abababababab"))
    assert row.split("\t")[2:] == ["?", XSS_IMG.format("model"), "?", XSS_IMG.format("scenes"),
                                   XSS_IMG.format("output")], row
    said = "".join(server.stderr)
    assert "jobs.json was set aside as jobs.unreadable-" in said and "the studio keeps 1 sound job from it" in said
    assert [p.name for p in (root / ".storyboard-studio").glob("jobs.unreadable-*.json")]


def test_jobs_json_is_validated_and_a_bad_one_set_aside(folder, capsys):
    from storyboard.studio.jobs import JobFile, RenderJob

    folder.state.mkdir()
    path = folder.state / "jobs.json"
    path.write_text(json.dumps(hostile_jobs()))
    loaded = JobFile(path)
    jobs = loaded.load()
    assert [job.id for job in jobs] == ["r1"]
    aside = list(folder.state.glob("jobs.unreadable-*.json"))
    assert len(aside) == 1 and json.loads(aside[0].read_text()) == hostile_jobs() and not path.exists()
    assert loaded.said is not None and loaded.said in capsys.readouterr().err
    assert "job 2: its id '<img src=x onerror" in loaded.said
    assert "job 3: r2: its state '<img" in loaded.said
    assert "job 4: r3: its done '<i>1</i>' is not a count" in loaded.said
    own = [RenderJob("r7", "a.yaml", "preview", "failed", 1.7e9, 1.7e9, 1.7e9, 1.7e9 + 5, 1, "render", 3, 2, 1.01, 1, 2, 0,
               -1.0, "out/a.mp4", "it said\nthis", None, None, False), RenderJob("r8", "b.yaml", "tiny-random")]
    loaded.save(own)  # what the studio writes, it reads back whole
    assert loaded.load() == own and loaded.said is None
    for bad in ({"id": "r1", "script": "a.yaml", "model": "preview", "created": float("nan")},
                {"id": "r1", "script": "a.yaml", "model": "preview", "fraction": 1e309},
                {"id": "r1", "script": "a.yaml", "model": "preview", "pid": 1},
                {"id": "r1", "script": "a.yaml", "model": "preview", "cancelling": "yes"},
                {"id": "r1 ", "script": "a.yaml", "model": "preview"}, ["r1"]):
        with pytest.raises(ValueError):
            RenderJob.from_json(bad)


def test_every_value_in_the_jobs_and_cache_tables_is_escaped(folder):
    from storyboard.studio import views
    from storyboard.studio.caches import CacheContents, segment_row
    from storyboard.studio.jobs import RenderJob

    job = RenderJob("r1", "<a.yaml", "<m>", state="running", phase="<img src=x>", message="<b>", eta_s=3.0)
    html = views.jobs_table([job])
    assert "<img" not in html and "&lt;img src=x&gt;" in html and "&lt;a.yaml" in html
    row = segment_row(folder, folder.root / ("cd" * 20 + ".mkv"),
                      {"frames": True, "shot": 2.5, "model": 3, "scenes": "'x'", "output": ["a"]})
    assert (row.frames, row.shot, row.model, row.scenes, row.output) == ("?", "?", "?", "?", "?")
    table = views.cache_table(CacheContents("out/<x>", (row,), 1.0, 0, 0.0))
    assert "<x>" not in table and "out/&lt;x&gt;" in table and "1 segment, " in table


# --- fault 5: Gradio's switches from the environment ------------------------------------------------


def test_gradio_switches_in_the_environment_are_cleared(folder, monkeypatch):
    from storyboard.studio.server import quiet_gradio

    for name, value in (("GRADIO_VIBE_MODE", "1"), ("GRADIO_SERVER_NAME", "0.0.0.0"), ("GRADIO_NUM_WORKERS", "2"),
                        ("GRADIO_ALLOWED_PATHS", "/"), ("gradio_share", "True"), ("GRADIO_TEMP_DIR", "/tmp")):
        monkeypatch.setenv(name, value)
    quiet_gradio(folder)
    left = {name: value for name, value in os.environ.items() if name.upper().startswith("GRADIO_")}
    assert left == {"GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_TEMP_DIR": str(folder.served),
                    "GRADIO_EXAMPLES_CACHE": str(folder.examples)}


@pytest.mark.slow
def test_vibe_mode_in_the_environment_cannot_rewrite_code_and_ipv6_any_address_serves(tmp_path):
    """A studio started with GRADIO_VIBE_MODE set (and --host ::): the vibe editor's routes stay off, so a
    request cannot read or rewrite the Python file it names; and the studio serves on every IPv6 address."""
    write(tmp_path / "tiny.yaml", TINY)
    code = write(tmp_path / "app.py", "print('mine')\n")
    server = Server(tmp_path, "tiny.yaml", "--host", "::",
                    env={"GRADIO_VIBE_MODE": "1", "GRADIO_WATCH_DEMO_PATH": str(code)})
    try:
        url = server.url()
        assert url.startswith("http://[::]:"), url
        port = int(re.search(r":(\d+)/$", url)[1])
        host = f"[::1]:{port}"
        status, said = request(port, "/config", host, address="::1")
        assert status == 200 and b"storyboard studio" in said
        status, said = request(port, "/gradio_api/vibe-code", host, f"http://{host}", "POST",
                               json.dumps({"code": "import os; os.system('echo pwned')"}).encode(), address="::1")
        assert status == 403 and b"Vibe editor is not enabled" in said, (status, said)
        status, said = request(port, "/gradio_api/vibe-code", host, address="::1")
        assert status == 403 and b"mine" not in said
        assert request(port, "/config", f"evil.example:{port}", address="::1")[0] == 403
    finally:
        assert server.stop() == 130
    assert code.read_text() == "print('mine')\n"
    assert "warning: listening on ::" in "".join(server.stderr)


# --- issue 25, item 21: addresses and names the system refuses -----------------------------------------


def test_an_empty_or_malformed_host_is_refused_with_exit_2(tmp_path):
    from storyboard.studio.server import host_warning, listen_address

    for host in ("", "  ", "a" * 300, "bad host", "[::1"):
        with pytest.raises(UsageError, match="--host"):
            host_warning(host, tmp_path)
    assert listen_address("[::1]") == "::1" and host_warning("::1", tmp_path) is None
    assert host_warning("[::1]", tmp_path) is None and "anyone who can reach" in host_warning("::", tmp_path)
    said = run_cli("studio", "--host", "", cwd=tmp_path)
    assert said.returncode == 2, said.stderr
    assert said.stderr == ("storyboard: error: --host '': expected an address to listen on, such as 127.0.0.1 (this "
                           "machine only, the default), :: or 0.0.0.0 (every address)\n")


def test_a_name_too_long_for_the_system_is_refused_with_a_message(folder):
    from storyboard.studio import app
    from storyboard.studio.actions import Studio
    from storyboard.studio.jobs import RenderQueue

    write(folder.root / "tiny.yaml", TINY)
    studio = Studio(folder, queue=RenderQueue(folder, run=False))
    long = "a" * 5000 + ".yaml"
    try:
        with pytest.raises(Refused, match=r"a file or folder name is at most 255 bytes long, and one here is 5005 "):
            studio.open(long)
        with pytest.raises(Refused, match=r"a path is at most 4095 bytes long; this one is"):
            studio.save("d/" * 2100 + "x.yaml", TINY, None)
        with pytest.raises(Refused, match="at most 255 bytes"):
            studio.check(long, TINY, None)
        state = {"path": "tiny.yaml", "saved": TINY, "summary": ""}
        _, _, kept, notice = app._open(studio, long, state, text=TINY)  # what the page does with it
        assert kept is state and "at most 255 bytes" in notice and len(notice) < 400
    finally:
        studio.close()


# --- issue 25, item 11: the job picker follows the running job ------------------------------------------


def test_the_job_picker_follows_a_job_that_starts_and_cancel_applies_only_to_unfinished_jobs(folder):
    from storyboard.studio.actions import Studio, pick_job
    from storyboard.studio.jobs import RenderJob, RenderQueue

    failed, running, queued = RenderJob("r1", "a.yaml", "preview", "failed"), RenderJob("r2", "a.yaml", "preview", "running"), \
        RenderJob("r3", "a.yaml", "preview", "queued")
    picked = pick_job([failed], "r1", None)
    assert (picked.job, picked.can_cancel, picked.can_resume) == ("r1", False, True)
    picked = pick_job([running, failed], "r1", None)  # r2 started while the picker showed the failed r1
    assert (picked.job, picked.running, picked.can_cancel, picked.can_resume) == ("r2", "r2", True, False)
    picked = pick_job([running, failed], "r1", "r2")  # then the person picks r1 again, to resume it: it stays
    assert (picked.job, picked.can_cancel, picked.can_resume) == ("r1", False, True)
    picked = pick_job([queued, RenderJob("r2", "a.yaml", "preview", "done"), failed], "r2", "r2")
    assert (picked.job, picked.running, picked.can_cancel) == ("r2", None, False)
    assert pick_job([queued, failed], None, None).job == "r3" and pick_job([], "r1", None).job is None

    write(folder.root / "tiny.yaml", TINY)
    queue = RenderQueue(folder, run=False)
    studio = Studio(folder, queue=queue)
    try:
        job = queue.submit("tiny.yaml", "preview")
        queue.jobs[-1].state = "failed"
        with pytest.raises(UsageError, match=f"^{job.id} is failed: nothing to cancel$"):
            studio.cancel(job.id)
        assert studio.resume(job.id) == f"{job.id} queued to resume"
        with pytest.raises(UsageError, match="only a cancelled, interrupted or failed render resumes"):
            studio.resume(job.id)
        assert studio.cancel(job.id) == f"{job.id} cancelled"
    finally:
        studio.close()


def test_pruning_passes_over_other_tools_files_but_stops_at_a_broken_script(folder):
    from storyboard.studio.caches import plans_to_keep

    write(folder.root / "tiny.yaml", TINY)
    write(folder.root / "docker-compose.yml", "services:\n  web: {image: nginx}\n")
    write(folder.root / "broken.yaml", TINY + "  - {id: c, duration: [\n")
    plans = plans_to_keep(folder, ["docker-compose.yml", "tiny.yaml"], {})
    assert [plan.title for plan in plans] == ["Tiny", "Tiny"]  # its own model and the preview
    with pytest.raises(UsageError, match="^not pruned: broken.yaml has errors"):
        plans_to_keep(folder, ["broken.yaml", "docker-compose.yml", "tiny.yaml"], {})
