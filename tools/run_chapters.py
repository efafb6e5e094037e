"""Execute chapter notebooks in place and save their outputs (figures as image/png), so committed chapters show results.

    python tools/run_chapters.py nbs/02_vae.ipynb [more.ipynb ...]

Each notebook runs in one fresh `execnb.shell.CaptureShell` with `nbs/` (the notebook's folder) as working directory,
as `nbdev_test` runs it. Cells that `nbdev_test` skips are skipped here too: cells flagged with one of the settings.ini
`tst_flags` (`#| slow`, `#| gpu`), cells with `#| eval: false` and cells calling `nbdev_export(`; their outputs are
left empty. A failing cell stops the run with an error naming the cell (`#N` counts all cells from 1, as nbdev does); that notebook file is left untouched.
On success the notebook is cleaned as `nbdev_clean` cleans it (no execution counts, no metadata) and written
atomically (a temporary file in the same folder, then `os.replace`). Figures are PNG at `--dpi` (default 80).
"""
import argparse, os, subprocess, sys, tempfile, time, traceback
from pathlib import Path

from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell
from fastcore.xtras import working_directory
from nbdev.clean import clean_nb
from nbdev.config import get_config
from nbdev.process import extract_directives

class CellError(Exception): pass

def skip_reason(cell, flags):
    "Why `nbdev_test` would not run this code cell (None: it runs)."
    if 'nbdev_export' + '(' in cell.source: return 'nbdev_export'
    d = extract_directives(cell, remove=False)
    if d.get('eval:', [''])[0].lower() == 'false': return 'eval: false'
    hit = flags & d.keys()
    return ' '.join(sorted(hit)) if hit else None

def make_shell(nb_dir, dpi):
    "A capture shell with the inline backend storing PNGs at `dpi` (no backend switch in notebook code)."
    sh = CaptureShell(nb_dir, mpl_format='png')
    sh.run(f"import matplotlib as _mpl; _mpl.rcParams['figure.dpi'] = {dpi}; _mpl.rcParams['savefig.dpi'] = {dpi}; del _mpl")
    if sh.exc: raise RuntimeError(f'could not set up matplotlib: {sh.exc!r}')
    return sh

def first_line(src):
    code = [l for l in src.splitlines() if l.strip() and not l.lstrip().startswith('#|')]
    return (code[0] if code else src.splitlines()[0] if src else '')[:80]

def execute(path, flags, dpi=80, verbose=False):
    "Run the notebook at `path`; return it (with outputs) and counts. Raises `CellError` on the first failing cell."
    path = Path(path).resolve()
    nb = read_nb(path)
    sh = make_shell(path.parent, dpi)
    sh._fname = path
    n_run = n_skip = 0
    with working_directory(path.parent):
        for cell in nb.cells:
            if cell.cell_type != 'code': continue
            why = skip_reason(cell, flags)
            if why:
                cell.outputs = []; n_skip += 1
                if verbose: print(f'  skip cell #{cell.idx_ + 1} ({why})')
                continue
            t0 = time.time()
            sh.cell(cell)
            n_run += 1
            if verbose: print(f'  ran cell #{cell.idx_ + 1} in {time.time() - t0:.1f}s')
            if sh.exc:
                tb = ''.join(traceback.format_exception(type(sh.exc), sh.exc, sh.exc.__traceback__))
                raise CellError(f'{path.name}: cell #{cell.idx_ + 1} (id {cell.get("id", "?")}) failed: '
                                f'{type(sh.exc).__name__}: {sh.exc}\n  first line: {first_line(cell.source)}\n{tb}')
    return nb, n_run, n_skip

def save_clean(nb, path):
    "Clean like `nbdev_clean` and replace `path` atomically."
    cfg = get_config()
    clean_nb(nb, cfg.clear_all, cfg.get('allowed_metadata_keys', '').split(),
             cfg.get('allowed_cell_metadata_keys', '').split(), cfg.clean_ids)
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix='.' + path.stem + '.', suffix='.ipynb.tmp', dir=path.parent)
    os.close(fd)
    try:
        write_nb(nb, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp): os.remove(tmp)

def n_images(nb):
    return sum(any(k.startswith('image/') for k in o.get('data', {})) for c in nb.cells for o in c.get('outputs', []))

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('notebooks', nargs='+')
    ap.add_argument('--flags', default='', help='space-separated tst_flags to run anyway (as nbdev_test --flags)')
    ap.add_argument('--dpi', type=int, default=80)
    ap.add_argument('-v', '--verbose', action='store_true', help='print each cell as it runs or is skipped')
    a = ap.parse_args(argv)
    flags = set(get_config().get('tst_flags', '').split()) - set(a.flags.split())
    if len(a.notebooks) > 1:   # one process per notebook, so no state leaks from one chapter into the next
        opts = ['--flags', a.flags, '--dpi', str(a.dpi)] + (['-v'] if a.verbose else [])
        failed = [p for p in a.notebooks if subprocess.run([sys.executable, __file__, p] + opts).returncode]
        if failed: sys.exit(f'{len(failed)} notebook(s) failed, left untouched: {" ".join(failed)}')
        return
    failed = []
    for p in a.notebooks:
        t0 = time.time()
        try: nb, n_run, n_skip = execute(p, flags, a.dpi, a.verbose)
        except CellError as e:
            print(f'FAILED {e}', file=sys.stderr); failed.append(p); continue
        save_clean(nb, p)
        print(f'ok {p}: {n_run} cells run, {n_skip} skipped, {n_images(nb)} figures, {time.time() - t0:.0f}s', flush=True)
    if failed: sys.exit(1)

if __name__ == '__main__': main()
