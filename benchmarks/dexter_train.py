"""Entry point for `torchrun` (DDP) or plain python: `torchrun --nproc_per_node=N benchmarks/dexter_train.py --out runs/x ...`.

Same options as `scg-music dexter-train`; prints the exported model path and the wall time."""
import sys, time
from scg_music.dexter.train import dexter_train_main

if __name__ == '__main__':
    t0 = time.time()
    dexter_train_main(sys.argv[1:])
    print(f'wall {time.time() - t0:.1f} s')
