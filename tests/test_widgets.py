"""Widgets without a browser: targets from real MIDI / score files (also through the upload control), the buttons'
background runs (progress, Stop keeps the last result, edit), classifier guidance with latent classifiers, and
the DExter renderer on a Vienna 4x22 score uploaded as bytes. Tiny random models throughout."""
import datetime, time
import numpy as np
import pytest
import torch
from scg_music.widgets import (RuleTuner, RendererWidget, tiny_pipeline, tiny_dexter, guided_sample, make_targets,
                               HIST_PRESETS, DENSITY_PRESETS, CHORD_PRESETS, ND_MAX, RULES3)
from scg_music.rules import extract_rules
from scg_music.dit import DIT_CONFIGS

@pytest.fixture(scope='module')
def pipe(): return tiny_pipeline(seed=0, device='cpu')

def _upload_value(path):
    data = path.read_bytes()
    return ({'name': path.name, 'type': 'audio/midi', 'size': len(data), 'content': memoryview(data),
             'last_modified': datetime.datetime.now(datetime.timezone.utc)},)

def test_targets_from_real_files(pipe, data_dir):
    tuner = RuleTuner(pipe, background=False)
    song = sorted((data_dir / 'pop909').rglob('*.mid'))[3]
    tuner.upload.value = _upload_value(song)                     # what the FileUpload control receives
    assert 'targets set from' in tuner.upload_msg.value, tuner.upload_msg.value
    ref = extract_rules(song, names=list(RULES3))
    t = tuner.targets()
    assert torch.allclose(t['pitch_hist'], ref['pitch_hist'] / ref['pitch_hist'].sum(), atol=1e-5)
    nd = ref['note_density']
    assert torch.allclose(t['note_density'], torch.cat([nd[:8].clamp(max=ND_MAX), (nd[8:] * 5).clamp(max=ND_MAX) / 5]), atol=1e-4)
    assert t['chord_progression'].tolist() == ref['chord_progression'].tolist()
    # a compressed MusicXML score (ASAP) works too
    score = sorted((data_dir / 'asap').rglob('xml_score.mxl'))[0]
    vals = tuner.targets_from_file(score)
    assert float(vals['pitch_hist'].sum()) > 0.99 and tuner.hist.msg.value == ''
    # garbage bytes: a message next to the control, the previous targets untouched
    bad = song.parent / 'not_midi.mid'
    before = tuner.targets()
    tuner.upload.value = ({'name': bad.name, 'type': 'audio/midi', 'size': 4, 'content': memoryview(b'nope'),
                           'last_modified': datetime.datetime.now(datetime.timezone.utc)},)
    assert 'not_midi.mid' in tuner.upload_msg.value and 'color:#b00020' in tuner.upload_msg.value
    assert all(torch.equal(before[k], v) for k, v in tuner.targets().items())

def test_buttons_run_in_background_stop_keeps_result(pipe):
    tuner = RuleTuner(pipe, n=2, steps=2, every=1, background=True)
    tuner.nd_preset.value = 'dense to sparse'
    tuner.b_gen.click()
    first = tuner.wait(120)
    assert first is not None and tuner.error is None, tuner.error
    assert tuner.progress.value == 2 and 'done in' in tuner.status.value and tuner.out_roll.value[:4] == b'\x89PNG'
    # a long run, stopped from "outside" while it runs: the kernel thread is free, the last result stays
    tuner.w_steps.value = 200
    tuner.b_gen.click()
    for _ in range(600):
        if tuner.progress.value >= 1 and tuner.progress.max == 200: break
        time.sleep(0.05)
    tuner.b_stop.click()
    tuner.wait(120)
    assert 'stopped' in tuner.status.value and tuner.result is first and tuner.progress.value < 200
    # edit through the button: windows 2-3 regenerated, the others kept
    tuner.w_steps.value = 2; tuner.w_windows.value = (2, 3); tuner.w_noise.value = 400
    tuner.b_edit.click()
    ed = tuner.wait(120)
    assert ed is not first and ed['edit']['windows'] == (2, 3) and tuner.history[-1] is ed
    kept = np.r_[0:128, 384:1024]
    assert np.abs(ed['roll'][..., kept] - first['roll'][..., kept]).max() < 0.05
    dz = (ed['z'] - first['z']).abs()[0].mean((0, 2))              # per latent row: only rows 16..47 move
    assert float(dz[16:48].mean()) > 10 * float(torch.cat([dz[:16], dz[48:]]).max()), dz

def test_bad_values_are_messages(pipe):
    tuner = RuleTuner(pipe, background=False)
    tuner.hist.text.value = '1, 2, x'
    assert 'not a list of numbers' in tuner.hist.msg.value
    tuner.hist.text.value = '1, 0, 1, 0, 1, 1, 0, 1, 0, 1, 0, 1'      # weights > 1 are fine: normalised into the sliders
    assert tuner.hist.msg.value == '' and abs(sum(tuner.hist.values) - 1) < 1e-6
    tuner.nd_h.text.value = '1, 2, 3, -1, 5, 6, 7, 8'
    assert 'horizontal' in tuner.nd_msg.value and 'window 4' in tuner.nd_msg.value
    assert tuner.generate() is None and 'fix the marked targets' in tuner.status.value
    tuner.nd_preset.value = 'medium'                                  # fixed: the messages go away
    assert tuner.nd_msg.value == '' and tuner.status.value == ''
    for r in RULES3: tuner.use[r].value = False
    assert 'no rule targets' in tuner.status.value
    tuner.w_method.value = 'none'
    res = tuner.generate(steps=2)
    assert res is not None and res['targets'] == {} and 'no rule targets' in tuner.out_table.value

def test_classifier_guidance_with_latent_classifiers():
    p = tiny_pipeline(seed=1, device='cpu')
    torch.manual_seed(0)
    p.classifiers = {'nd': DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=16).eval(),
                     'pitch': DIT_CONFIGS['DiTRotary-T/8-cls'](num_classes=12).eval(),
                     'chord': DIT_CONFIGS['DiTRotary-T/8-chord-cls']().eval()}
    t = make_targets(HIST_PRESETS['G major'], *DENSITY_PRESETS['sparse'], CHORD_PRESETS['II-V-I'])
    base = guided_sample(p, t, method='none', steps=3, seed=4)
    cls = guided_sample(p, t, method='classifier', steps=3, seed=4)
    both = guided_sample(p, t, method='both', n=2, steps=3, seed=4)
    assert not cls['notes'] and not both['notes']
    assert (cls['z'] - base['z']).abs().max() > 1e-3 and (both['z'] - cls['z']).abs().max() > 1e-3
    # a pipeline with only some classifiers: the others are reported, not silently dropped
    del p.classifiers['chord']
    part = guided_sample(p, t, method='classifier', steps=2, seed=4)
    assert any('chord progression' in n for n in part['notes'])

def test_renderer_on_uploaded_vienna_score(data_dir):
    rw = RendererWidget(tiny_dexter(), scores={}, steps=3, device='cpu', background=False)
    score = data_dir / 'vienna4x22' / 'musicxml' / 'Chopin_op10_no3.musicxml'
    rw.upload.value = _upload_value(score)
    assert rw.w_score.value == score.name and 'uploaded' in rw.msg.value
    rw.use_perc.value = True
    assert not any(s.disabled for s in rw.perc)
    rw.perc[0].value = 0.9
    rw.b_render.click()
    res = rw.result
    assert res is not None and rw.error is None, rw.error
    assert res['perceptual'][0] == 0.9 and res['n_notes'] > 100 and res['wav'][:4] == b'RIFF' and res['midi'][:4] == b'MThd'
    o, tempo, vel = res['curves']['DExter']
    od, td, vd = res['curves']['deadpan score (120 bpm, velocity 64)']
    assert np.array_equal(o, od) and np.all(td == 120) and np.std(tempo) > 0
    assert rw.out_curves.value[:4] == b'\x89PNG' and 'download="Chopin_op10_no3_dexter.mid"' in rw.out_dl.value


def test_a_registered_rule_gets_tuner_controls(pipe):
    "One `register_rule` call: the tuner lists the rule, parses its field, guides toward it and shows it."
    from scg_music.rules import register_rule, unregister_rule, _sounding
    from scg_music.widgets import extra_rules, rule_table_html
    def top_pitch(rolls):
        b = _sounding(rolls)
        idx = torch.arange(128)[None, :, None].expand_as(b)
        return torch.where(b, idx, -1).amax((1, 2)).clamp(min=0).float()[:, None]
    register_rule('top_pitch_t', top_pitch, 'mse', dim=1, label='top pitch')
    try:
        assert extra_rules() == ['top_pitch_t']
        tuner = RuleTuner(pipe, background=False)
        assert 'top_pitch_t' in tuner.extra.use and not tuner.extra.use['top_pitch_t'].value   # listed, off by default
        assert 'top_pitch_t' not in tuner.targets()
        tuner.extra.use['top_pitch_t'].value = True
        tuner.extra.text['top_pitch_t'].value = '72, 1'                   # the rule measures one value
        assert 'top pitch' in tuner.extra.msg.value and tuner.generate(steps=2) is None
        tuner.extra.text['top_pitch_t'].value = '72'
        assert tuner.extra.msg.value == '' and tuner.targets()['top_pitch_t'].tolist() == [72.0]
        res = tuner.generate(method='SCG', n=2, steps=2, seed=1)
        assert res is not None and set(res['losses']) >= {'top_pitch_t'} and 'top pitch' in tuner.out_table.value
        assert 'top pitch' in rule_table_html({'top_pitch_t': [72.0]}, {'top_pitch_t': [60.0]}, {'top_pitch_t': 144.0})
    finally:
        unregister_rule('top_pitch_t')
    assert extra_rules() == [] and not RuleTuner(pipe, background=False).extra.use

def test_scoring_control_picks_the_candidate_decoder():
    "The tuner offers preview scoring only when the pipeline has a preview decoder; the run reports the scorer used,"
    "and with both scorers the returned roll is the full decoder's decode of the returned latents."
    from scg_music.pipeline import RuleGuidedPipeline
    from scg_music.preview import PreviewDecoder
    base = tiny_pipeline(seed=0, device='cpu')
    assert [v for _, v in RuleTuner(base, background=False).w_scorer.options] == ['full']
    torch.manual_seed(0)
    pipe = RuleGuidedPipeline(base.vae, base.dit, device='cpu', bf16=False, preview=PreviewDecoder(ch=16, blocks=1, hidden=32))
    tuner = RuleTuner(pipe, n=3, steps=3, background=False)
    assert tuner.w_scorer.value == 'preview' and [v for _, v in tuner.w_scorer.options] == ['preview', 'full']
    got = {}
    for scorer in ('preview', 'full'):
        tuner.w_scorer.value = scorer
        tuner.b_gen.click()
        got[scorer] = tuner.result
        assert tuner.error is None and got[scorer]['scorer'] == scorer
        assert np.allclose(got[scorer]['roll'], pipe.decode(got[scorer]['z'], threshold=True)[0].numpy(), atol=1e-5)
    assert not torch.equal(got['preview']['z'], got['full']['z'])      # another decoder picks other candidates
