"""Beat-anchored ASAP alignment vs parangonar's full AutomaticNoteMatcher: agreement and speed.

    nice -n 5 python benchmarks/asap_alignment.py            # writes benchmarks/asap_alignment.{json,md}

For one performance of each listed ASAP piece (several composers), both aligners align the same
MusicXML part (the unfolding the beat-anchored link chose), and we compare their matched
(score note -> performance note) pairs:
- agreement = share of parangonar's matched pairs that the beat-anchored alignment also has (bar: >= 95 %);
- the converse share (of the beat-anchored pairs, how many parangonar has);
- speed: parangonar's matcher call vs the whole beat-anchored alignment *including* parsing the MusicXML,
  reading the score MIDI, the annotations and the performance, and linking the score MIDI to the MusicXML
  (bar: >= 20x); parangonar is timed without any file reading.
parangonar's alignments (minutes each) are cached under cache/asap_alignment_parangonar/ and reused on a rerun
(--fresh recomputes them); the beat-anchored side is always recomputed.
"""
import argparse, contextlib, io, json, os, time, warnings
from pathlib import Path
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PIECES = ['Bach/Fugue/bwv_848', 'Beethoven/Piano_Sonatas/11-3', 'Brahms/Six_Pieces_op_118/2', 'Chopin/Berceuse_op_57',
          'Debussy/Images_Book_1/1_Reflets_dans_lEau', 'Glinka/The_Lark', 'Haydn/Keyboard_Sonatas/31-1',
          'Liszt/Transcendental_Etudes/3', 'Mozart/Piano_Sonatas/12-2', 'Rachmaninoff/Preludes_op_23/4',
          'Ravel/Pavane', 'Schumann/Kreisleriana/7', 'Scriabin/Etudes_op_8/11']


def matched_pairs(alignment):
    "{score id: performance id} of the matches of a partitura-style alignment."
    return {a['score_id']: a['performance_id'] for a in alignment if a['label'] == 'match'}


def parangonar_pairs(part, pna, cache_file):
    "parangonar's matched pairs and matcher seconds for `part` / `pna`, cached in `cache_file` (it takes minutes)."
    if cache_file.exists():
        c = json.loads(cache_file.read_text())
        if c['score_ids'] == len(part.note_array()) and c['perf_ids'] == len(pna): return c['pairs'], c['seconds']
    import parangonar as pa
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter('ignore')
        t = time.perf_counter(); ref = pa.AutomaticNoteMatcher()(part.note_array(), pna); sec = time.perf_counter() - t
    pairs = matched_pairs(ref)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    cache_file.write_text(json.dumps(dict(pairs=pairs, seconds=sec, score_ids=len(part.note_array()), perf_ids=len(pna))))
    return pairs, sec


def compare_pairs(ours, theirs, link, part, pna, src):
    """`(exact, equivalent, deviations)`: parangonar pairs the beat-anchored alignment shares, exactly and up to
    interchangeable score notes (equal pitch and onset: a unison written in two voices is played once, and either
    aligner may name either note); and, over the pairs that differ, the median distance (in beats) of each
    aligner's performed note from the position the annotated beats predict for the score note."""
    from scg_music.dexter.data import read_beats, to_beats
    na = part.note_array()
    key = dict(zip(na['id'].tolist(), zip(np.round(na['onset_quarter'] * 48).astype(int).tolist(), na['pitch'].tolist())))
    by_perf = {p: s for s, p in ours.items()}
    exact = sum(ours.get(s) == p for s, p in theirs.items())
    same = {s: ours.get(s) == p or (p in by_perf and key[by_perf[p]] == key[s]) for s, p in theirs.items()}
    equiv = sum(same.values())
    # where each aligner's note sits relative to the beat-interpolated position of the score note
    midi_of = {int(x): m for m, x in enumerate(link['x_of_m']) if x >= 0}
    xi = {s: k for k, s in enumerate(link['na']['id'].tolist())}
    bs = to_beats(link['midi']['onset_sec'], read_beats(src['score_beats']))
    bp = dict(zip(pna['id'].tolist(), to_beats(pna['onset_sec'], read_beats(src['beats']))))
    pos = lambda s: bs[midi_of[xi[s]]] if xi.get(s) in midi_of else np.nan
    diff = [s for s, p in theirs.items() if not same[s]]
    near = [s for s, p in theirs.items() if abs(bp[p] - pos(s)) < 0.5]      # parangonar pairs the beats support
    dev_p = [abs(bp[theirs[s]] - pos(s)) for s in diff]
    dev_b = [abs(bp[ours[s]] - pos(s)) for s in diff if s in ours]
    med = lambda d: round(float(np.nanmedian(d)), 3) if np.isfinite(d).any() else None
    return exact, equiv, dict(parangonar_near_beats=len(near), agree_near_beats=sum(same[s] for s in near),
                              beat_dev_differing_parangonar=med(np.array(dev_p + [np.nan])),
                              beat_dev_differing_beats=med(np.array(dev_b + [np.nan])))


def compare_one(asap, folder, cache_dir):
    "Align the first performance of `folder` both ways; a dict of counts and seconds."
    from scg_music.dexter.codec import load_score
    from scg_music.dexter.data import asap_sources, align_beats, score_midi_link
    name = folder.replace('/', '_')
    src = asap_sources(asap, pieces=[f'^{name}$'])[name][0]
    t = time.perf_counter(); load_score(src['score']); t_xml = time.perf_counter() - t
    score_midi_link.cache_clear()
    t = time.perf_counter(); link = score_midi_link(src['score'], src['midi_score']); t_link = time.perf_counter() - t
    t = time.perf_counter(); part, perf, al, st = align_beats(src); t_perf = time.perf_counter() - t
    pna = perf.note_array()
    theirs, t_pa = parangonar_pairs(part, pna, cache_dir / f'{name}.json')
    ours = matched_pairs(al)
    agree, agree_eq, dev = compare_pairs(ours, theirs, link, part, pna, src)
    return dict(piece=name, performance=Path(src['perf']).name, composer=folder.split('/')[0], unfolding=st['unfolding'],
                n_perfs_of_piece=len(asap_sources(asap, pieces=[f'^{name}$'])[name]),
                n_score=int(len(part.note_array())), n_perf=int(len(pna)), beats_matched=len(ours),
                parangonar_matched=len(theirs), agree=agree_eq, agree_exact=agree,
                agree_of_parangonar=agree_eq / max(len(theirs), 1), agree_exact_of_parangonar=agree / max(len(theirs), 1),
                agree_of_beats=agree_eq / max(len(ours), 1), beats_ratio=round(st['ratio'], 4), **dev,
                seconds_link=round(t_link, 3), seconds_perf=round(t_perf, 3), seconds_beats=round(t_link + t_perf, 3),
                seconds_parangonar=round(t_pa, 2), seconds_musicxml=round(t_xml, 2))


def summary(rows):
    "Pooled agreement and speed over all compared performances."
    agree, theirs, ours = (sum(r[k] for r in rows) for k in ('agree', 'parangonar_matched', 'beats_matched'))
    tb, tp = sum(r['seconds_beats'] for r in rows), sum(r['seconds_parangonar'] for r in rows)
    # in a dataset build the per-piece link is shared by all performances of the piece
    ta = sum(r['seconds_perf'] + r['seconds_link'] / r['n_perfs_of_piece'] for r in rows)
    return dict(performances=len(rows), composers=len({r['composer'] for r in rows}),
                agreement=agree / theirs, agreement_of_beats=agree / ours,
                agreement_exact=sum(r['agree_exact'] for r in rows) / theirs,
                agreement_near_beats=sum(r['agree_near_beats'] for r in rows) / sum(r['parangonar_near_beats'] for r in rows),
                min_agreement=min(r['agree_of_parangonar'] for r in rows),
                seconds_beats_total=round(tb, 2), seconds_parangonar_total=round(tp, 1), speedup=tp / tb,
                speedup_link_shared=tp / ta,
                median_seconds_beats=float(np.median([r['seconds_beats'] for r in rows])),
                median_seconds_parangonar=float(np.median([r['seconds_parangonar'] for r in rows])),
                agreement_bar_met=agree / theirs >= 0.95, speed_bar_met=tp / tb >= 20)


def write_markdown(path, rows, s):
    "The report as a markdown table."
    L = ['# Beat-anchored ASAP alignment vs parangonar', '',
         'One performance per piece; both aligners align the same MusicXML part.',
         '- *agree*: share of parangonar\'s matched pairs that the beat-anchored alignment has too, counting two score notes',
         '  of equal pitch and onset (a unison written in two voices, played once) as the same note; *exact*: without that;',
         '  *agree (beats)*: the converse share, of the beat-anchored pairs;',
         '- *near beats*: agreement on the parangonar pairs whose performed note lies within 0.5 beat of where the annotated',
         '  beats put the score note; *dev. p / b*: over the pairs that differ, median distance (beats) of parangonar\'s /',
         '  the beat-anchored performed note from that position;',
         '- *link*: parsing the MusicXML, reading the score MIDI and linking the two (once per piece); *perf.*: reading the',
         '  annotations and the performance and matching it; *parangonar s*: its matcher call alone, no file reading.', '',
         '| piece | unfolding | score / perf. notes | matched beats / parangonar | agree | exact | agree (beats) | near beats | dev. p / b | link s | perf. s | parangonar s | speedup |',
         '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        L.append(f"| {r['piece']} ({r['performance']}) | {r['unfolding']} | {r['n_score']} / {r['n_perf']} | "
                 f"{r['beats_matched']} / {r['parangonar_matched']} | {r['agree_of_parangonar']:.1%} | "
                 f"{r['agree_exact_of_parangonar']:.1%} | {r['agree_of_beats']:.1%} | "
                 f"{r['agree_near_beats'] / max(r['parangonar_near_beats'], 1):.1%} | "
                 f"{r['beat_dev_differing_parangonar']} / {r['beat_dev_differing_beats']} | "
                 f"{r['seconds_link']:.2f} | {r['seconds_perf']:.2f} | {r['seconds_parangonar']:.1f} | "
                 f"{r['seconds_parangonar'] / r['seconds_beats']:.0f}x |")
    L += ['', f"**Pooled over {s['performances']} performances ({s['composers']} composers):** agreement "
          f"{s['agreement']:.1%} of parangonar's pairs (exact {s['agreement_exact']:.1%}; lowest piece {s['min_agreement']:.1%}; "
          f"{s['agreement_near_beats']:.1%} of the pairs the beats support), {s['agreement_of_beats']:.1%} "
          f"of the beat-anchored pairs; {s['seconds_beats_total']:.1f} s vs {s['seconds_parangonar_total']:.0f} s, "
          f"**{s['speedup']:.0f}x faster** with the link counted in full (median {s['median_seconds_beats']:.2f} s vs "
          f"{s['median_seconds_parangonar']:.0f} s per performance), {s['speedup_link_shared']:.0f}x with the link shared by "
          f"the piece's ASAP performances as in a dataset build. Bars: agreement >= 95 %: "
          f"{'met' if s['agreement_bar_met'] else 'NOT met'}; speed >= 20x: {'met' if s['speed_bar_met'] else 'NOT met'}.", '']
    Path(path).write_text('\n'.join(L))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--pieces', nargs='*', default=PIECES, help='ASAP folders (composer/.../piece)')
    ap.add_argument('--out', default=str(ROOT / 'benchmarks' / 'asap_alignment'), help='report path without suffix')
    ap.add_argument('--cache', default=str(ROOT / 'cache' / 'asap_alignment_parangonar'), help="parangonar's alignments")
    ap.add_argument('--fresh', action='store_true', help="recompute parangonar's alignments too")
    a = ap.parse_args(argv)
    from scg_music.dexter.data import find_shared_data
    d = find_shared_data()
    if d is None or not (d / 'asap').is_dir(): raise SystemExit('ASAP not found: ../shared/data/asap (or $SCG_SHARED)')
    js, cache_dir = Path(a.out + '.json'), Path(a.cache)
    if a.fresh and cache_dir.exists(): [f.unlink() for f in cache_dir.glob('*.json')]
    rows = []
    for folder in a.pieces:
        r = compare_one(d / 'asap', folder, cache_dir)
        rows.append(r)
        print(f"{r['piece']}: agree {r['agree_of_parangonar']:.1%} / {r['agree_of_beats']:.1%}, "
              f"{r['seconds_link']:.2f} + {r['seconds_perf']:.2f} s vs {r['seconds_parangonar']:.1f} s", flush=True)
        js.write_text(json.dumps(dict(rows=rows, summary=summary(rows)), indent=1))
    s = summary(rows)
    js.write_text(json.dumps(dict(rows=rows, summary=s), indent=1))
    write_markdown(a.out + '.md', rows, s)
    print(json.dumps(s, indent=1))


if __name__ == '__main__':
    main()
