"""The sdist builds a wheel, and the wheel works outside the repository (licences, configs and bundled models inside)."""
import os, subprocess, sys, sysconfig, tarfile, zipfile
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_sdist_wheel_and_install_outside_repo(tmp_path):
    sd, wh, tgt = tmp_path / 'sdist', tmp_path / 'wheel', tmp_path / 'site'
    subprocess.run([sys.executable, 'setup.py', '-q', 'sdist', '-d', str(sd)], cwd=ROOT, check=True, capture_output=True)
    tgz = next(sd.glob('*.tar.gz'))
    names = tarfile.open(tgz).getnames()
    assert any(n.endswith('/settings.ini') for n in names) and any(n.endswith('/LICENSE') for n in names)
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation', '-w', str(wh), str(tgz)],
                   cwd=tmp_path, check=True, capture_output=True)
    whl = next(wh.glob('*.whl'))
    files = zipfile.ZipFile(whl).namelist()
    for need in ('licenses/LICENSE', 'licenses/MODEL_LICENSE.md', 'scg_music/assets/models/dit.safetensors',
                 'scg_music/configs/cond_demo/demo1.yml', 'scg_music/assets/models/LICENSE.md'):
        assert any(f.endswith(need) for f in files), need
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--target', str(tgt), str(whl)], check=True, capture_output=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(tgt), sysconfig.get_paths()['purelib']]))
    out = subprocess.run([sys.executable, '-c', 'import scg_music, sys; from scg_music.cli import main; print(scg_music.__file__); '
                          'sys.exit(main(["--version"]))'], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith('scg-music 0.1.0') and str(tgt) in out.stdout, out.stderr
    out = subprocess.run([sys.executable, '-c', 'from scg_music.pipeline import RuleGuidedPipeline; print(RuleGuidedPipeline.from_pretrained())'],
                         cwd=tmp_path, env=env, capture_output=True, text=True)
    assert out.returncode == 0 and 'classifiers=' in out.stdout, out.stderr[-500:]
