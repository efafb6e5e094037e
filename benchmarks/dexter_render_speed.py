"""Rendering speed of DExter on this CPU: a score of about 1,000 notes (issue 15's bar: at most 10 s).

    python benchmarks/dexter_render_speed.py [--model PATH] [--threads 2]

Times `dexter.render` (score loading, 50 DDIM steps with guidance, decoding to a performance) on an ASAP
score of 1,198 notes (Bach BWV 864 fugue), after one warm-up render."""
import argparse, json, time
import torch
from scg_music.dexter.render import render
from scg_music.dexter.codec import load_score
from scg_music.dexter.data import find_shared_data

if __name__ == '__main__':
    ap = argparse.ArgumentParser()
    ap.add_argument('--model', default=None); ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--score', default='Bach/Fugue/bwv_864/xml_score.mxl')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    path = find_shared_data() / 'asap' / a.score
    n = len(load_score(str(path)).note_array())
    render(str(path), a.model, steps=5)                 # warm-up
    t = time.perf_counter(); perf = render(str(path), a.model); sec = time.perf_counter() - t
    print(json.dumps(dict(score=a.score, notes=n, performed_notes=len(perf.note_array()), seconds=round(sec, 2),
                          threads=a.threads, model=a.model or 'bundled')))
