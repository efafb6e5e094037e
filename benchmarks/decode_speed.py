"""Decode speed of the bundled VAE decoder and preview decoder under the generic options: which of them win on this machine.

    python benchmarks/decode_speed.py                 # 64 chunks (n = 8 candidates x 8 chunks: one SCG step of one sample)
    python benchmarks/decode_speed.py --chunks 256 --threads 2 --compile

Variants, each timed on the same random chunk latents, interleaved round-robin over `--rounds` rounds (so a background
load hits every variant alike), median of the rounds reported:
  baseline        torch.no_grad in `--precision` (bf16 autocast, or plain fp32), one batched call
  fp32 / bf16     torch.no_grad in the other precision
  inference_mode  torch.inference_mode instead of no_grad (+ the precision)
  channels_last   weights and input in channels_last memory format (+ the precision), alone and with chunks=K
  chunks=K        the batch decoded K chunks at a time (+ the precision)
  compile         torch.compile(decoder) (+ the precision), with `--compile`; its compile time is reported apart
`--precision` defaults to what the pipeline uses on this CPU (`scg_music.core.default_bf16`: bf16 where the CPU has
native bf16 (avx512_bf16 / amx_bf16), fp32 elsewhere).
Writes `<out>.json` and `<out>.md`.
"""
import argparse, json, statistics, time
from contextlib import nullcontext
from pathlib import Path
import torch
from scg_music.checkpoints import load_model
from scg_music.core import MODELS_DIR, default_bf16


def variants(name, fn, z, a):
    "(label, callable) pairs for a decoder `fn` on chunk latents `z`."
    bf16 = lambda: torch.autocast('cpu', dtype=torch.bfloat16)
    prec, other = (bf16, nullcontext) if a.precision == 'bf16' else (nullcontext, bf16)
    def run(ctx, f=fn, x=z, chunks=None):
        def go():
            with ctx[0](), ctx[1]():
                return f(x) if not chunks else torch.cat([f(c) for c in x.split(chunks)])
        return go
    out = [('baseline', run((torch.no_grad, prec))), ('fp32' if a.precision == 'bf16' else 'bf16', run((torch.no_grad, other))),
           ('inference_mode', run((torch.inference_mode, prec)))]
    out += [(f'chunks={k}', run((torch.no_grad, prec), chunks=k)) for k in a.chunk_sizes if k < len(z)]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--models', default=str(MODELS_DIR)); ap.add_argument('--chunks', type=int, default=64)
    ap.add_argument('--threads', type=int, default=None); ap.add_argument('--rounds', type=int, default=5)
    ap.add_argument('--chunk-sizes', default='4,8,16,32'); ap.add_argument('--compile', action='store_true')
    ap.add_argument('--out', default=str(Path(__file__).with_suffix('')))
    ap.add_argument('--precision', choices=['bf16', 'fp32'], default='bf16' if default_bf16('cpu') else 'fp32')
    a = ap.parse_args(argv)
    a.chunk_sizes = [int(k) for k in a.chunk_sizes.split(',') if k]
    if a.threads: torch.set_num_threads(a.threads)
    vae = load_model(Path(a.models) / 'vae').eval().requires_grad_(False)
    decoders = {'vae': lambda x: vae.decode_chunks(x)}
    pv_path = Path(a.models) / 'preview_decoder.safetensors'
    pv = load_model(pv_path).eval().requires_grad_(False) if pv_path.is_file() else None
    if pv is not None: decoders['preview'] = lambda x: pv.decode_chunks(x)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(a.chunks, 4, 16, 16, generator=g)
    table, compile_s = {}, {}
    for name, fn in decoders.items():
        vs = variants(name, fn, z, a)
        module = vae if name == 'vae' else pv
        cl = module.to(memory_format=torch.channels_last)          # channels_last copy of the weights, same values
        zcl = z.contiguous(memory_format=torch.channels_last)
        vs.append(('channels_last', variants(name, fn, zcl, a)[0][1]))
        vs += [(f'channels_last+chunks={k}', v) for k, v in ((k, dict(variants(name, fn, zcl, a))[f'chunks={k}'])
                                                           for k in a.chunk_sizes if k < len(z))]
        if a.compile:
            t0 = time.perf_counter()
            cfn = torch.compile(module.decode_chunks)
            with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=a.precision == 'bf16'): cfn(z)
            compile_s[name] = time.perf_counter() - t0
            vs.append(('compile', variants(name, cfn, z, a)[0][1]))
        module.to(memory_format=torch.contiguous_format)
        times = {k: [] for k, _ in vs}
        for k, f in vs:                                             # warm-up
            if k.startswith('channels_last'): module.to(memory_format=torch.channels_last)
            f(); module.to(memory_format=torch.contiguous_format)
        for _ in range(a.rounds):
            for k, f in vs:
                if k.startswith('channels_last'): module.to(memory_format=torch.channels_last)
                t0 = time.perf_counter(); f(); times[k].append(time.perf_counter() - t0)
                if k.startswith('channels_last'): module.to(memory_format=torch.contiguous_format)
        table[name] = {k: statistics.median(v) for k, v in times.items()}
        base = table[name]['baseline']
        for k, v in table[name].items(): print(f'{name:>8} {k:>15}: {v * 1e3:8.1f} ms  ({base / v:.2f}x baseline)', flush=True)
    info = dict(chunks=a.chunks, precision=a.precision, cpu_capability=torch.backends.cpu.get_cpu_capability(), threads=torch.get_num_threads(), rounds=a.rounds, torch=torch.__version__, ms={d: {k: v * 1e3 for k, v in t.items()} for d, t in table.items()},
                compile_seconds=compile_s)
    out = Path(a.out); out.with_suffix('.json').write_text(json.dumps(info, indent=1))
    md = [f'Decoding {a.chunks} chunk latents on {info["threads"]} CPU threads ({info["cpu_capability"]}, baseline {a.precision}; median of {a.rounds} interleaved rounds), ms:', '',
          '| variant | ' + ' | '.join(table) + ' |', '|---|' + '---|' * len(table)]
    for k in table['vae']:
        md.append(f'| {k} | ' + ' | '.join(f"{t[k] * 1e3:.1f} ({t['baseline'] / t[k]:.2f}x)" if k in t else '-' for t in table.values()) + ' |')
    if compile_s: md += ['', 'Compile time: ' + ', '.join(f'{k} {v:.0f} s' for k, v in compile_s.items())]
    out.with_suffix('.md').write_text('\n'.join(md) + '\n')
    print('wrote', out.with_suffix('.json'), out.with_suffix('.md'))


if __name__ == '__main__': main()
