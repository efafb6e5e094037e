"""Convert between notebooks and percent-format scripts (a handy way to author notebooks).

    python tools/nbpy.py to-nb  nbs_src/00_pianoroll.py nbs/00_pianoroll.ipynb
    python tools/nbpy.py to-py  nbs/00_pianoroll.ipynb   nbs_src/00_pianoroll.py

Script format: cells start with `# %%` (code) or `# %% [markdown]` (markdown; every line of the
markdown cell starts with `# `). The committed `.ipynb` is the source of truth; the scripts are scratch.
"""
import json, sys
from pathlib import Path

def py_to_nb(src, dst):
    text = Path(src).read_text()
    cells, cur, kind = [], [], None
    def flush():
        if kind is None: return
        lines = cur[:]
        while lines and not lines[-1].strip(): lines.pop()
        while lines and not lines[0].strip(): lines.pop(0)
        if kind == 'markdown':
            lines = [l[2:] if l.startswith('# ') else (l[1:] if l.startswith('#') else l) for l in lines]
        if not lines and kind == 'markdown': return
        src_lines = [l + '\n' for l in lines]
        if src_lines: src_lines[-1] = src_lines[-1].rstrip('\n')
        cell = {'cell_type': kind, 'metadata': {}, 'source': src_lines}
        if kind == 'code': cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    for line in text.splitlines():
        if line.startswith('# %%'):
            flush(); cur = []
            kind = 'markdown' if '[markdown]' in line else 'code'
        else:
            if kind is None: kind = 'code'
            cur.append(line)
    flush()
    nb = {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    for i, c in enumerate(cells): c['id'] = f'c{i:03d}'
    Path(dst).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

def nb_to_py(src, dst):
    nb = json.loads(Path(src).read_text())
    out = []
    for c in nb['cells']:
        s = ''.join(c['source'])
        if c['cell_type'] == 'markdown':
            out.append('# %% [markdown]\n' + '\n'.join('# ' + l if l else '#' for l in s.splitlines()))
        else:
            out.append('# %%\n' + s)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_text('\n\n'.join(out) + '\n')

if __name__ == '__main__':
    cmd, a, b = sys.argv[1:4]
    (py_to_nb if cmd == 'to-nb' else nb_to_py)(a, b)
