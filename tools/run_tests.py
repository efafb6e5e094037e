"""The project's whole test suite, as `make test` runs it.

1. `nbdev_export` must leave `scg_music/` unchanged (the notebooks are the source).
2. `nbdev_test` on every notebook, one notebook at a time so each counts as one test
   (cells flagged `slow` or `gpu` are skipped unless `--flags` names them).
3. `pytest tests/`.
The last line printed is `N passed, N failed` summed over the three parts.
"""
import argparse, filecmp, os, re, shutil, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

def run(cmd, **kw):
    print('$', ' '.join(map(str, cmd)), flush=True)
    return subprocess.run(cmd, cwd=ROOT, **kw)

def tree_diff(a, b):
    "Files that differ between two folders (ignoring caches)."
    out = []
    cmp = filecmp.dircmp(a, b, ignore=['__pycache__'])
    def walk(c, pre=''):
        out.extend(pre + f for f in c.left_only + c.right_only + c.diff_files)
        for name, sub in c.subdirs.items(): walk(sub, pre + name + '/')
    walk(cmp)
    return out

def check_export():
    with tempfile.TemporaryDirectory() as tmp:
        snap = Path(tmp) / 'lib'
        shutil.copytree(ROOT / 'scg_music', snap, ignore=shutil.ignore_patterns('__pycache__'))
        r = run([BIN / 'nbdev_export'])
        diff = tree_diff(snap, ROOT / 'scg_music')
        if r.returncode or diff:
            print(f'FAILED export check: nbdev_export changed scg_music/: {diff}', flush=True)
            return False
    print('ok export check: scg_music/ matches nbs/', flush=True)
    return True

def notebooks():
    return sorted(p for p in (ROOT / 'nbs').rglob('*.ipynb')
                  if not any(part.startswith(('_', '.')) for part in p.relative_to(ROOT / 'nbs').parts))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--flags', default='', help='nbdev test flags to run (e.g. "slow")')
    ap.add_argument('--skip-pytest', action='store_true')
    ap.add_argument('pytest_args', nargs='*')
    args = ap.parse_args()
    passed = failed = skipped = 0
    t0 = time.time()
    if check_export(): passed += 1
    else: failed += 1
    for nb in notebooks():
        cmd = [BIN / 'nbdev_test', '--path', nb, '--do_print']
        if args.flags: cmd += ['--flags', args.flags]
        r = run(cmd, capture_output=True, text=True)
        rel = nb.relative_to(ROOT)
        if r.returncode == 0: passed += 1; print(f'ok notebook {rel}', flush=True)
        else:
            failed += 1
            print(f'FAILED notebook {rel}\n{r.stdout[-4000:]}\n{r.stderr[-6000:]}', flush=True)
    if not args.skip_pytest:
        r = run([BIN / 'python', '-m', 'pytest', 'tests', '-q', '-rs', *args.pytest_args], capture_output=True, text=True)
        print(r.stdout[-20000:], r.stderr[-5000:], flush=True)
        tail = r.stdout.strip().splitlines()[-1] if r.stdout.strip() else ''
        counts = {k: int(v) for v, k in re.findall(r'(\d+) (passed|failed|error|errors|skipped)', tail)}
        passed += counts.get('passed', 0)
        failed += counts.get('failed', 0) + counts.get('error', 0) + counts.get('errors', 0)
        skipped += counts.get('skipped', 0)
        if r.returncode not in (0, 1, 5) and not counts.get('failed') and not counts.get('error') and not counts.get('errors'):
            failed += 1; print(f'pytest exited {r.returncode}', flush=True)
    print(f'(whole suite took {time.time() - t0:.0f} s)')
    print(f'{passed} passed, {failed} failed' + (f', {skipped} skipped' if skipped else ''), flush=True)
    sys.exit(1 if failed else 0)

if __name__ == '__main__': main()
