"""Released weights from the Hugging Face hub, tested offline against a local cache laid out as huggingface_hub lays it out."""
import hashlib, os
from pathlib import Path
import pytest
import torch

pytest.importorskip('huggingface_hub')
from scg_music.pipeline import RuleGuidedPipeline, hub_files
from scg_music.dit import DIT_CONFIGS
from scg_music.core import BadInputError
from test_pipeline import tiny_models

COMMIT = '9965bf6' + '0' * 33


def _fake_hub_cache(root, files, repo='yjhuangcd/rule-guided-music', commit=COMMIT):
    "`models--owner--name/{blobs,refs/main,snapshots/<commit>/...}` with snapshot files symlinked to their blobs."
    base = root / f"models--{repo.replace('/', '--')}"
    (base / 'refs').mkdir(parents=True); (base / 'refs' / 'main').write_text(commit)
    for rel, obj in files.items():
        tmp = root / 'tmp.bin'; torch.save(obj, tmp); data = tmp.read_bytes(); tmp.unlink()
        blob = base / 'blobs' / hashlib.sha256(data).hexdigest(); blob.parent.mkdir(parents=True, exist_ok=True); blob.write_bytes(data)
        snap = base / 'snapshots' / commit / rel; snap.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(os.path.relpath(blob, snap.parent), snap)
    return root


def test_from_pretrained_hub_id_offline(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    vae, dit = tiny_models(seed=3)
    nd = DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=16).state_dict()
    cache = _fake_hub_cache(tmp_path / 'hub', {
        'trained_models/VAE/epoch_14.ckpt': {'epoch': 14, 'state_dict': dict(vae.state_dict(), **{'loss.logvar': torch.zeros(())})},
        'trained_models/diffusion/ema_0.9999_1200000.pt': dict(dit.state_dict()),
        'trained_models/classifier/nd/model004999.pt': dict(nd), 'trained_models/classifier/nd/model009999.pt': dict(nd),
        'trained_models/classifier/chord/model004999.pt': dict(DIT_CONFIGS['DiTRotary-T/8-chord-cls']().state_dict())})
    v, d, cls = hub_files(cache_dir=cache, local_files_only=True)
    assert v.name == 'epoch_14.ckpt' and d.name.startswith('ema') and cls['nd'].name == 'model009999.pt' and set(cls) == {'nd', 'chord'}
    p = RuleGuidedPipeline.from_pretrained('yjhuangcd/rule-guided-music', cache_dir=cache, local_files_only=True, device='cpu')
    assert sorted(p.classifiers) == ['chord', 'nd'] and all(torch.equal(a, b) for a, b in zip(p.dit.state_dict().values(), dit.state_dict().values()))
    assert p.sample(1, steps=2, seed=0, progress=False, frames=128).shape == (1, 3, 128, 128)


def test_hub_offline_without_cache_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    with pytest.raises(BadInputError, match='not in the hub cache') as e:
        RuleGuidedPipeline.from_pretrained('yjhuangcd/rule-guided-music', cache_dir=tmp_path / 'empty', local_files_only=True)
    assert '\n' not in str(e.value) and 'yjhuangcd/rule-guided-music' in str(e.value)
    with pytest.raises(FileNotFoundError):                            # a local folder stays a folder, never a hub id
        RuleGuidedPipeline.from_pretrained(str(tmp_path))
