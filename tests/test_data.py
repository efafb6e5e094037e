"Real-data tests of scg_music.data: corpus cache, piece-level split, bad input, datasets and augmentation."
import json
import numpy as np
import pytest
import torch

from scg_music.pianoroll import BadInputError, midi_to_raw, raw_to_unit, piano_like, CLASS_NAMES
from scg_music.data import (find_shared, build_corpus, three_class_recipe, RollDataset, ChunkDataset, time_stretch,
                            pitch_shift, piece_id, split_pieces, load_manifest, build_corpus_main)


@pytest.fixture(scope='module')
def small_corpus(tmp_path_factory, shared_dir):
    "A real mini corpus: 6 ASAP pieces (performances + score MIDI), 8 POP909 songs, one corrupt and one empty file."
    tmp = tmp_path_factory.mktemp('corpus')
    rec = three_class_recipe(shared_dir)
    asap_dirs = sorted({str(__import__('pathlib').Path(f).parent) for f in rec[1]['files']})[::30][:6]
    perf = [f for f in rec[0]['files'] if any(f.startswith(d + '/') for d in asap_dirs)]
    perf = [f for d in asap_dirs for f in [g for g in perf if g.startswith(d + '/')][:2]]
    score = [f for f in rec[1]['files'] if any(f.startswith(d + '/') for d in asap_dirs)]
    bad = tmp / 'bad'; bad.mkdir()
    (bad / 'corrupt.mid').write_bytes(b'MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff')
    (bad / 'empty.mid').write_bytes(b'')
    pop = rec[2]['files'][:8] + [str(bad / 'corrupt.mid'), str(bad / 'empty.mid')]
    srcs = [dict(name='perf', label=0, group='folder', files=perf), dict(name='score', label=1, group='folder', files=score),
            dict(name='pop', label=2, group='file', files=pop)]
    with pytest.warns(UserWarning, match='skipped'):
        man = build_corpus(srcs, tmp / 'c', hop=512, test_fraction=0.3, seed=3, workers=2, files_per_shard=4, progress=False)
    return tmp / 'c', man, srcs


def test_find_shared(shared_dir, monkeypatch, tmp_path):
    assert find_shared() == shared_dir.resolve()
    (tmp_path / 'data').mkdir()
    monkeypatch.setenv('SCG_SHARED', str(tmp_path))
    assert find_shared() == tmp_path.resolve()


def test_recipe_lists_real_files(shared_dir):
    rec = three_class_recipe(shared_dir)
    n = {s['name']: len(s['files']) for s in rec}
    assert n['asap_performance'] > 900 and n['asap_score'] > 200 and n['pop909'] > 800
    assert all(f.endswith('midi_score.mid') for f in rec[1]['files'])
    assert not any(f.endswith('midi_score.mid') for f in rec[0]['files'])


def test_manifest_and_skipped(small_corpus):
    d, man, srcs = small_corpus
    assert load_manifest(d) == man
    reasons = {s['path'].rsplit('/', 1)[-1]: s['reason'] for s in man['skipped']}
    assert set(reasons) == {'corrupt.mid', 'empty.mid'} and 'corrupt.mid' in reasons['corrupt.mid']
    n_in = sum(len(s['files']) for s in srcs)
    assert len(man['files']) + len(man['skipped']) == n_in      # nothing silently dropped
    for sp in ('train', 'test'):
        assert sum(man['counts'][sp].values()) == len(man['windows'][sp])
    assert all(man['counts'][sp][c] > 0 for sp in ('train', 'test') for c in CLASS_NAMES)


def test_split_has_no_shared_piece(small_corpus):
    d, man, _ = small_corpus
    by = {}
    for f in man['files']: by.setdefault(f['piece'], set()).add(f['split'])
    assert all(len(v) == 1 for v in by.values())
    # ASAP performances and the score MIDI of a piece share its split
    scores = [f for f in man['files'] if f['label'] == 1]
    assert scores and all(any(g['piece'] == s['piece'] and g['label'] == 0 for g in man['files']) for s in scores)
    assert piece_id('/x/Beethoven/Piano_Sonatas/17-1_no_repeat/a.mid') == piece_id('/x/Beethoven/Piano_Sonatas/17-1/b.mid')


def test_split_determinism():
    pl = {f'p{i}': {i % 3} for i in range(50)}
    a, b, c = split_pieces(pl, 0.2, 0), split_pieces(pl, 0.2, 0), split_pieces(pl, 0.2, 1)
    assert a == b and a != c and sum(v == 'test' for v in a.values()) == 9   # 17,17,16 pieces -> 3+3+3


def test_windows_match_source_rolls(small_corpus):
    "A cached window equals the slice of the directly converted roll (rows outside the piano cleared)."
    d, man, _ = small_corpus
    ds = RollDataset(d, 'train', augment=False)
    for i in (0, len(ds) // 2, len(ds) - 1):
        fi, sb = ds.items[i]; f = man['files'][fi]
        raw = midi_to_raw(f['path']); raw[:, :21] = 0; raw[:, 109:] = 0
        ref = np.zeros((3, 128, 1024), np.uint8); seg = raw[..., sb * 128: sb * 128 + 1024]; ref[..., :seg.shape[-1]] = seg
        x, y = ds[i]
        assert torch.equal(x, torch.from_numpy(raw_to_unit(ref))) and y == f['label']


def test_windows_not_silent(small_corpus):
    d, man, _ = small_corpus
    ds = RollDataset(d, 'test', augment=False)
    for i in range(0, len(ds), max(1, len(ds) // 10)):
        x, _ = ds[i]
        chunks = (x[0] > -1).any(0).reshape(8, 128).float().mean(1) >= 0.01
        assert chunks.sum() >= 5


def test_dataset_shapes_ranges_augmentation(small_corpus):
    d, man, _ = small_corpus
    ds = RollDataset(d, 'train', augment=True, seed=0)
    loader = torch.utils.data.DataLoader(ds, batch_size=8, shuffle=True, num_workers=2)
    x, y = next(iter(loader))
    assert x.shape == (8, 3, 128, 1024) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() >= -1 and x.max() <= 1
    assert (x[:, :, :21] == -1).all() and (x[:, :, 109:] == -1).all()
    plain = RollDataset(d, 'train', augment=False)
    diff = [not torch.equal(ds[i][0], plain[i][0]) for i in range(6)]
    assert sum(diff) >= 5                                     # augmentation changes items
    # onsets stay binary and lie on sounding frames
    on = x[:, 1] > 0
    assert (x[:, 1][~on] == -1).all() and (x[:, 0][on] > -1).all()
    x2 = RollDataset(d, 'train', length=2048, augment=False)[0][0]
    assert x2.shape == (3, 128, 2048)


def test_chunk_dataset(small_corpus):
    d, man, _ = small_corpus
    cd = ChunkDataset(d, 'train', augment=False)
    n_active = sum(f['active'].count('1') for f in man['files'] if f['split'] == 'train')
    assert len(cd) == n_active
    x, y = cd[len(cd) // 2]
    assert x.shape == (3, 128, 128) and (x[0] > -1).any()
    xa = torch.stack([ChunkDataset(d, 'test', augment=True, seed=1)[i][0] for i in range(4)])
    assert xa.shape == (4, 3, 128, 128) and xa.min() >= -1 and xa.max() <= 1


def test_resume_and_plan_mismatch(small_corpus, tmp_path):
    d, man, srcs = small_corpus
    shards = sorted(d.glob('shard_*.bin')); mt = [p.stat().st_mtime_ns for p in shards]
    shards[0].unlink()                                          # simulate an interrupted build
    with pytest.warns(UserWarning):
        man2 = build_corpus(srcs, d, hop=512, test_fraction=0.3, seed=3, workers=1, files_per_shard=4, progress=False)
    assert man2['windows'] == man['windows'] and man2['files'] == man['files']
    assert [p.stat().st_mtime_ns for p in shards[1:]] == mt[1:]  # untouched shards were not rewritten
    with pytest.raises(BadInputError, match='other files'):
        build_corpus(srcs[:1], d, files_per_shard=4, progress=False)


def test_bad_config(tmp_path):
    with pytest.raises(BadInputError): build_corpus([(str(tmp_path), 0)], tmp_path / 'o')          # no files
    with pytest.raises(BadInputError): build_corpus([(str(tmp_path), 0)], tmp_path / 'o', hop=100)
    with pytest.raises(BadInputError, match='manifest'): RollDataset(tmp_path / 'nothing')


def test_time_stretch_onsets():
    x = -torch.ones(3, 128, 110); x[0, 60, 10:30] = 0.2; x[1, 60, 10] = 1; x[0, 62, 50:90] = 0.4; x[1, 62, 50] = 1
    for n in (90, 95, 100, 105, 110):                          # stretch, identity and compress crops to 100 frames
        y = time_stretch(x[..., :n], 100)
        assert y.shape == (3, 128, 100)
        assert ((y[1] > 0).sum(-1)[[60, 62]] == 1).all(), n    # exactly one onset per note, never duplicated
        assert (y[1] > 0).sum() == 2
        sound = (y[0, 62] > -1).sum().item()
        assert abs(sound - 40 * 100 / n) <= 1.5                # durations scale with the stretch
    yb = time_stretch(x[None].repeat(2, 1, 1, 1), 120)
    assert torch.equal(yb[0], time_stretch(x, 120))
    assert np.array_equal(time_stretch(x.numpy(), 97), time_stretch(x, 97).numpy())


def test_pitch_shift_range():
    x = -torch.ones(3, 128, 4); x[0, 100] = 0.5; x[2, 21:109, 1] = 0.3
    y = piano_like(pitch_shift(x, -6))
    assert (y[0, 106] == 0.5).all() and torch.equal(y[2], x[2])
    z = piano_like(pitch_shift(torch.ones(3, 128, 2), -6))
    assert (z[:2, 21:27] == 1).all() and (z[:2, :21] == -1).all()   # filled rows never invent notes in range
    assert (pitch_shift(torch.ones(3, 128, 2), 6)[:2, 122:] == -1).all()


def test_cli_custom_source(tmp_path, shared_dir):
    out = tmp_path / 'c'
    assert build_corpus_main(['--out', str(out), '--source', str(shared_dir / 'data/pop909/00[1-4].mid') + ':2:file',
                              '--workers', '1', '--test-fraction', '0.25']) == 0
    man = json.loads((out / 'manifest.json').read_text())
    assert len(man['files']) == 4 and man['pieces'] == {'train': 3, 'test': 1}


def test_workers_draw_different_augmentations(small_corpus):
    d, man, _ = small_corpus
    ds = RollDataset(d, 'train', augment=True, seed=0)
    idx = [0] * 4
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(ds, idx), batch_size=1, num_workers=2)
    xs = [b[0][0] for b in loader]
    # items 0,2 come from worker 0 and 1,3 from worker 1: same window, but different random crops/shifts
    assert not torch.equal(xs[0], xs[1])
    a, b = RollDataset(d, 'train', augment=True, seed=5), RollDataset(d, 'train', augment=True, seed=5)
    assert torch.equal(a[1][0], b[1][0])                       # seeded in the main process: reproducible


def test_real_corpus_cache_if_built():
    "The 3-class corpus in cache/corpus (built by `scg-music build-corpus`): split by piece, all classes, no skips."
    from pathlib import Path
    d = Path(__file__).resolve().parents[1] / 'cache' / 'corpus'
    if not (d / 'manifest.json').exists(): pytest.skip('cache/corpus not built')
    man = load_manifest(d)
    by = {}
    for f in man['files']: by.setdefault(f['piece'], set()).add(f['split'])
    assert all(len(v) == 1 for v in by.values())
    assert all(man['counts'][sp][c] > 500 for sp in ('train', 'test') for c in CLASS_NAMES)
    ds = RollDataset(d, 'test', augment=False)
    x, y = ds[len(ds) // 2]
    assert x.shape == (3, 128, 1024) and -1 <= x.min() and x.max() <= 1 and y in (0, 1, 2)
