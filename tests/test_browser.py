"""The widgets notebook in a real browser: JupyterLab (headless, token-less, 127.0.0.1, random free port, temporary
root holding a copy of nbs/30_widgets.ipynb) driven by Debian's Chromium through Playwright (system binary via
`executable_path`; Playwright never downloads a browser). Runs the notebook, sets targets (including a bad one,
which must show a message), clicks Generate with the bundled models (tiny random ones while none ship) and a few
steps, and checks that a piano-roll image, an audio element, the rule table and a MIDI link appear; then renders a
score with the DExter widget. Screenshots go to tests/artifacts/ (git-ignored).

Set-up: `bash tools/browser_setup.sh` (apt-get chromium, as root) and the `playwright` Python package. The test
skips, naming the reason, only when one of them cannot be had."""
import json, os, shutil, signal, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
NB = ROOT / 'nbs' / '30_widgets.ipynb'
ART = ROOT / 'tests' / 'artifacts'
CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                  '--disable-background-networking', '--disable-component-update', '--disable-sync']

def _chromium():
    for name in ('chromium', 'chromium-browser'):
        p = shutil.which(name)
        if p: return p
    for p in ('/usr/bin/chromium', '/usr/lib/chromium/chromium'):
        if os.access(p, os.X_OK): return p
    return None

def _a_midi_file():
    "A real MIDI file for the upload control (first POP909 song), or None without ../shared."
    sh = Path(os.environ.get('SCG_SHARED', ROOT.parent / 'shared')) / 'data' / 'pop909'
    files = sorted(sh.rglob('*.mid')) if sh.is_dir() else []
    return files[0] if files else None

def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0)); return s.getsockname()[1]

def _get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r: return r.status, r.read()

def _start_lab(root, port, log):
    cfg = root.parent / 'jupyter'
    (cfg / 'config' / 'labconfig').mkdir(parents=True)
    # no news / update pop-ups over the notebook (and no network requests for them)
    (cfg / 'config' / 'labconfig' / 'page_config.json').write_text(json.dumps(
        {'disabledExtensions': {'@jupyterlab/apputils-extension:announcements': True}}))
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(cfg / 'config'), JUPYTER_RUNTIME_DIR=str(cfg / 'runtime'),
               JUPYTERLAB_SETTINGS_DIR=str(cfg / 'settings'), JUPYTERLAB_WORKSPACES_DIR=str(cfg / 'workspaces'),
               JUPYTER_PLATFORM_DIRS='1', PYTHONUNBUFFERED='1')
    env.setdefault('OMP_NUM_THREADS', '1')            # the kernel's torch: no thread oversubscription on a small shared CPU
    cmd = [sys.executable, '-m', 'jupyterlab', '--no-browser', '--ip=127.0.0.1', f'--port={port}', '--ServerApp.port_retries=0',
           '--IdentityProvider.token=', '--ServerApp.password=', '--ServerApp.disable_check_xsrf=True',
           f'--ServerApp.root_dir={root}', '--ServerApp.open_browser=False', '--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate',
           '--LabApp.extension_manager=readonly', '--ServerApp.terminals_enabled=False']
    if hasattr(os, 'geteuid') and os.geteuid() == 0: cmd.append('--allow-root')
    return subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

def _stop_lab(proc, port):
    try:       # shut the kernels down through the API, then the server
        _, body = _get(f'http://127.0.0.1:{port}/api/kernels')
        for k in json.loads(body):
            req = urllib.request.Request(f'http://127.0.0.1:{port}/api/kernels/{k["id"]}', method='DELETE')
            urllib.request.urlopen(req, timeout=10).read()
    except Exception: pass
    if proc.poll() is None:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: pass
    try: os.killpg(proc.pid, signal.SIGKILL)      # the server's own process group (kernels it started)
    except (ProcessLookupError, PermissionError): pass

def test_widgets_notebook_in_chromium(tmp_path):
    chromium = _chromium()
    if chromium is None: pytest.skip('no chromium binary (run `bash tools/browser_setup.sh` as root to apt-get it)')
    try: from playwright.sync_api import sync_playwright, expect
    except ImportError: pytest.skip('the playwright Python package is not installed (pip install playwright)')
    ART.mkdir(parents=True, exist_ok=True)
    root = tmp_path / 'lab'; root.mkdir()
    shutil.copy(NB, root / NB.name)
    port = _free_port()
    log = open(tmp_path / 'jupyterlab.log', 'w')
    proc = _start_lab(root, port, log)
    t0 = time.time()
    try:
        while True:
            if proc.poll() is not None: pytest.fail(f'JupyterLab exited: {(tmp_path / "jupyterlab.log").read_text()[-3000:]}')
            try:
                if _get(f'http://127.0.0.1:{port}/api/status')[0] == 200: break
            except Exception: pass
            if time.time() - t0 > 60: pytest.fail('JupyterLab did not answer within 60 s')
            time.sleep(0.5)
        # start the notebook's kernel session through the REST API, so the page attaches to it (no kernel dialog)
        req = urllib.request.Request(f'http://127.0.0.1:{port}/api/sessions', method='POST', headers={'Content-Type': 'application/json'},
                                     data=json.dumps({'path': NB.name, 'type': 'notebook', 'name': NB.name, 'kernel': {'name': 'python3'}}).encode())
        urllib.request.urlopen(req, timeout=60).read()
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(str(tmp_path / 'chromium-profile'), executable_path=chromium, headless=True,
                                                       args=CHROMIUM_FLAGS, viewport={'width': 1280, 'height': 2800})
            try:
                page = ctx.new_page()
                errors = []
                page.on('pageerror', lambda e: errors.append(str(e)))
                page.goto(f'http://127.0.0.1:{port}/lab/tree/{NB.name}', timeout=60_000)
                page.locator('.jp-NotebookPanel').first.wait_for(timeout=60_000)
                page.locator('.jp-Notebook .jp-Cell').first.wait_for(timeout=60_000)
                dialog = page.locator('.jp-Dialog')                      # "Select Kernel": accept the notebook's kernel
                try: dialog.wait_for(timeout=3_000)
                except Exception: pass
                if dialog.count(): dialog.locator('.jp-Dialog-button.jp-mod-accept').click()
                page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"], .jp-StatusBar-TextItem:has-text("Idle")').first.wait_for(timeout=60_000)
                # Run > Run All Cells
                print(f'notebook open and kernel idle: {time.time() - t0:.0f} s')
                page.locator('.lm-MenuBar-itemLabel', has_text='Run').first.click()
                page.locator('.lm-Menu-itemLabel', has_text='Run All Cells').first.click()
                tuner = page.locator('.scg-rule-tuner')
                tuner.wait_for(timeout=int(os.environ.get('SCG_BROWSER_TIMEOUT', 180)) * 1000)
                tuner.scroll_into_view_if_needed()
                print(f'notebook ran, tuner shown: {time.time() - t0:.0f} s')
                # a bad value shows a message next to its control, not a traceback
                hist = tuner.locator('.scg-hist-text input')
                hist.fill('0,0,0,0,0,0,0,0,0,0,0,0'); hist.press('Enter')
                expect(tuner.get_by_text('all 12 weights are 0')).to_be_visible(timeout=20_000)
                # targets: a pitch-class histogram typed in, density and chord presets picked
                hist.fill('2, 0, 1, 0, 1.5, 1, 0, 2, 0, 1, 0, 0.5'); hist.press('Enter')
                expect(tuner.get_by_text('all 12 weights are 0')).to_have_count(0, timeout=20_000)
                tuner.locator('.scg-nd-preset select').select_option('sparse to dense')
                for cls, v in (('.scg-steps', '3'), ('.scg-n', '2'), ('.scg-seed', '7')):
                    box = tuner.locator(f'{cls} input'); box.fill(v); box.press('Enter')
                page.wait_for_timeout(500)
                tuner.locator('button.scg-generate').click()
                print(f'targets set, Generate clicked: {time.time() - t0:.0f} s')
                roll = tuner.locator('img.scg-roll')
                roll.wait_for(timeout=120_000)
                expect(tuner.locator('audio.scg-audio')).to_have_count(1, timeout=30_000)
                table = tuner.locator('table.scg-rule-table')
                expect(table).to_be_visible(timeout=30_000)
                for label in ('pitch-class histogram', 'note density', 'chord progression'):
                    expect(table).to_contain_text(label)
                expect(tuner.locator('a.scg-download')).to_have_attribute('download', 'scg_sample_0.mid')
                page.wait_for_function('el => el.complete && el.naturalWidth > 100', arg=roll.element_handle(), timeout=30_000)
                # the audio element holds the 10.24 s WAV (a blob: URL made by the Audio widget)
                page.wait_for_function('a => a.src && a.readyState >= 1 && a.duration > 9', arg=tuner.locator('audio.scg-audio').element_handle(), timeout=30_000)
                expect(tuner.locator('.scg-status')).to_contain_text('done in', timeout=30_000)
                expect(tuner.locator('img.scg-preview')).to_be_visible()           # the live x0 preview was drawn
                tuner.screenshot(path=str(ART / 'rule_tuner.png'))
                print(f'result checked: {time.time() - t0:.0f} s')
                # edit mode: regenerate windows 3-4 of that result
                tuner.locator('button.scg-edit').click()
                expect(table).to_contain_text('edited windows 3-4', timeout=90_000)
                expect(tuner.locator('a.scg-download')).to_have_attribute('download', 'scg_edit_1.mid')
                # targets from a MIDI file, through the real file input of the upload control
                midi = _a_midi_file()
                if midi is not None:
                    with page.expect_file_chooser(timeout=30_000) as chooser:
                        tuner.locator('.scg-upload').first.click()
                    chooser.value.set_files(str(midi))
                    expect(tuner.get_by_text(f'targets set from {midi.name}')).to_be_visible(timeout=60_000)
                    assert tuner.locator('.scg-hist-text input').input_value() != '0.222, 0.000, 0.111, 0.000, 0.167, 0.111, 0.000, 0.222, 0.000, 0.111, 0.000, 0.056'
                print(f'edit and upload checked: {time.time() - t0:.0f} s')
                # the DExter renderer: render the example score with a few steps
                dx = page.locator('.dx-renderer')
                if dx.count() and dx.locator('select').first.evaluate('s => s.options.length') > 0 \
                        and 'upload' not in dx.locator('select').first.input_value():
                    dx.scroll_into_view_if_needed()
                    dx.locator('button.dx-render').click()
                    dx.locator('img.dx-curves').wait_for(timeout=90_000)
                    expect(dx.locator('audio.dx-audio')).to_have_count(1)
                    expect(dx.locator('a.scg-download')).to_have_attribute('download', 'mozart_k265_var1_dexter.mid')
                    dx.screenshot(path=str(ART / 'renderer.png'))
                    print(f'DExter render checked: {time.time() - t0:.0f} s')
                assert not [e for e in errors if 'widget' in e.lower()], errors
            except Exception:
                try: page.screenshot(path=str(ART / 'browser_failure.png'))
                except Exception: pass
                print('JupyterLab log:', (tmp_path / 'jupyterlab.log').read_text()[-4000:], 'page errors:', errors, sep='\n')
                raise
            finally:
                ctx.close()
    finally:
        _stop_lab(proc, port)
        log.close()
