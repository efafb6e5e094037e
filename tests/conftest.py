import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]

def _shared():
    p = Path(os.environ.get('SCG_SHARED', ROOT.parent / 'shared'))
    return p if (p / 'data').is_dir() else None

@pytest.fixture(scope='session')
def shared_dir():
    "Path to ../shared (corpora, specs, reference); tests that need it skip cleanly when it is absent."
    p = _shared()
    if p is None: pytest.skip('../shared is absent (set SCG_SHARED to point at it)')
    return p

@pytest.fixture(scope='session')
def data_dir(shared_dir): return shared_dir / 'data'
