"""Generator, face generator and discriminators: shapes, configs, presets."""

from __future__ import annotations

import pytest
import torch

from train.models import (
    DiscriminatorConfig,
    FaceConfig,
    FaceGenerator,
    Generator,
    GeneratorConfig,
    MultiscaleDiscriminator,
    ResBlock,
    count_parameters,
    evenly_spaced,
    load_thinned,
    temporal_state_from_global,
)
from train.presets import PRESETS, get_preset


def test_temporal_generator_takes_label_and_previous_frame() -> None:
    cfg = GeneratorConfig(resolution=64, ngf=8, n_downsample=2, n_blocks=1, max_channels=32)
    g = Generator(cfg).eval()
    assert cfg.in_channels == 6
    label = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        out = g(label)
        assert out.shape == (2, 3, 64, 64) and out.abs().max() <= 1
        # No previous frame means zeros; a different previous frame changes the output.
        assert torch.allclose(out, g(label, torch.zeros_like(label)))
        assert not torch.allclose(out, g(label, torch.ones_like(label)))


def test_global_generator_has_no_temporal_input() -> None:
    g = Generator(GeneratorConfig(resolution=64, ngf=8, n_downsample=2, n_blocks=1,
                                  temporal=False))
    assert next(m for m in g.net if isinstance(m, torch.nn.Conv2d)).in_channels == 3
    assert g(torch.randn(1, 3, 64, 64)).shape == (1, 3, 64, 64)


@pytest.mark.parametrize("variant", [dict(padding="reflect"), dict(padding="zeros"),
                                     dict(padding="zeros", io_stride=2)])
def test_temporal_generator_from_global_weights_starts_as_the_global_one(variant) -> None:
    cfg = GeneratorConfig(resolution=64, ngf=8, n_downsample=2, n_blocks=1, max_channels=32,
                          **variant)
    torch.manual_seed(1)
    global_g = Generator(GeneratorConfig(**{**cfg.to_dict(), "temporal": False})).eval()
    temporal = Generator(cfg).eval()
    temporal.load_state_dict(temporal_state_from_global(global_g.state_dict(), temporal))
    label = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = global_g(label)
        for previous in (None, torch.rand(2, 3, 64, 64) * 2 - 1):
            assert torch.allclose(temporal(label, previous), expected, atol=1e-6)
    other = Generator(GeneratorConfig(**{**cfg.to_dict(), "n_blocks": 2}))
    with pytest.raises(ValueError, match="differ in architecture"):
        temporal_state_from_global(global_g.state_dict(), other)


def test_evenly_spaced_keeps_the_first_and_the_last() -> None:
    assert evenly_spaced(4, 2) == [0, 3]
    assert evenly_spaced(4, 4) == [0, 1, 2, 3]
    assert evenly_spaced(9, 3) == [0, 4, 8]
    assert evenly_spaced(4, 1) == [0]
    for wanted in (0, 5):
        with pytest.raises(ValueError, match="cannot keep"):
            evenly_spaced(4, wanted)


def _trunk_without(g: Generator, dropped: set[int]) -> torch.nn.Sequential:
    """`g`'s layers without the residual blocks numbered in `dropped` (0 = the first)."""
    blocks = [i for i, m in enumerate(g.net) if isinstance(m, ResBlock)]
    gone = {blocks[k] for k in dropped}
    return torch.nn.Sequential(*[m for i, m in enumerate(g.net) if i not in gone])


@pytest.mark.parametrize("variant", [dict(padding="zeros", io_stride=2),
                                     dict(padding="reflect", outer_kernel=7)])
def test_a_thinned_generator_is_the_trained_one_without_the_dropped_blocks(variant) -> None:
    cfg = GeneratorConfig(resolution=32, ngf=4, n_downsample=2, n_blocks=4, max_channels=16,
                          **variant)
    torch.manual_seed(2)
    trained = Generator(cfg).eval()
    thin = Generator(GeneratorConfig(**{**cfg.to_dict(), "n_blocks": 2})).eval()
    assert load_thinned(thin, trained.state_dict(), cfg) == [0, 3]
    x = torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        assert torch.allclose(thin.net(x), _trunk_without(trained, {1, 2})(x), atol=1e-6)
        assert not torch.allclose(thin.net(x), trained.net(x), atol=1e-3)
    same = Generator(cfg).eval()
    assert load_thinned(same, trained.state_dict(), cfg) == [0, 1, 2, 3]
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(),
                                                 trained.state_dict().values(), strict=True))


def test_a_global_generator_starts_a_thinner_temporal_one() -> None:
    cfg = GeneratorConfig(resolution=32, ngf=4, n_downsample=2, n_blocks=3, max_channels=16,
                          temporal=False, padding="zeros", io_stride=2)
    torch.manual_seed(3)
    trained = Generator(cfg).eval()
    thin = Generator(GeneratorConfig(**{**cfg.to_dict(), "n_blocks": 1, "temporal": True}))
    assert load_thinned(thin.eval(), trained.state_dict(), cfg) == [0]
    label = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        expected = torch.tanh(_trunk_without(trained, {1, 2})(label))
        for previous in (None, torch.rand(1, 3, 32, 32)):
            assert torch.allclose(thin(label, previous), expected, atol=1e-6)


def test_thinning_refuses_what_does_not_fit() -> None:
    cfg = GeneratorConfig(resolution=32, ngf=4, n_downsample=2, n_blocks=2, max_channels=16)
    trained = Generator(cfg).state_dict()
    more = Generator(GeneratorConfig(**{**cfg.to_dict(), "n_blocks": 3}))
    with pytest.raises(ValueError, match="fewer than the 3 wanted"):
        load_thinned(more, trained, cfg)
    wider = Generator(GeneratorConfig(**{**cfg.to_dict(), "ngf": 8, "n_blocks": 1}))
    with pytest.raises(ValueError, match="does not fit"):
        load_thinned(wider, trained, cfg)
    deeper = Generator(GeneratorConfig(**{**cfg.to_dict(), "n_downsample": 3, "n_blocks": 1}))
    with pytest.raises(ValueError, match="differ beyond"):
        load_thinned(deeper, trained, cfg)
    single = Generator(GeneratorConfig(**{**cfg.to_dict(), "temporal": False}))
    with pytest.raises(ValueError, match="cannot start a global"):
        load_thinned(single, trained, cfg)


@pytest.mark.parametrize("variant", [dict(outer_kernel=7, padding="reflect", upsample="nearest"),
                                     dict(outer_kernel=3, padding="zeros",
                                          upsample="transposed"),
                                     dict(norm="batch"), dict(norm="none")])
def test_generator_variants_keep_the_shape(variant) -> None:
    g = Generator(GeneratorConfig(resolution=32, ngf=4, n_downsample=2, n_blocks=1, **variant))
    assert g(torch.randn(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_io_stride_runs_the_network_at_half_the_resolution() -> None:
    g = Generator(GeneratorConfig(resolution=32, ngf=4, n_downsample=2, n_blocks=1,
                                  io_stride=2)).eval()
    sizes: list[int] = []
    convs = [m for m in g.net if isinstance(m, torch.nn.Conv2d)]
    hooks = [c.register_forward_hook(lambda m, i, o: sizes.append(o.shape[-1])) for c in convs]
    label = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        out = g(label)
    for h in hooks:
        h.remove()
    assert out.shape == (1, 3, 32, 32) and out.abs().max() <= 1
    assert max(sizes) == 16  # no convolution at 32x32
    assert convs[-1].out_channels == 3 * 4  # each output pixel's 2x2 block as channels
    # Every output pixel of a 2x2 block has its own value (not an upsampled copy).
    assert not torch.allclose(out[..., 0::2, 0::2], out[..., 1::2, 1::2])


def test_bad_config_values_are_rejected() -> None:
    with pytest.raises(ValueError, match="io_stride"):
        GeneratorConfig(io_stride=3)
    with pytest.raises(ValueError, match="norm"):
        Generator(GeneratorConfig(norm="group"))
    with pytest.raises(ValueError, match="padding"):
        Generator(GeneratorConfig(padding="circular"))


def test_face_generator_outputs_a_residual() -> None:
    f = FaceGenerator(FaceConfig(crop=16, ngf=4, n_downsample=1, n_blocks=1))
    crop = torch.randn(3, 3, 16, 16)
    res = f(torch.randn(3, 3, 16, 16), crop)
    assert res.shape == (3, 3, 16, 16)
    # The output is the residual alone: a zeroed last layer adds nothing to the crop.
    last = [m for m in f.net if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    assert torch.equal(f(torch.randn(3, 3, 16, 16), crop), torch.zeros_like(crop))


def test_discriminator_returns_features_per_scale() -> None:
    d = MultiscaleDiscriminator(6, DiscriminatorConfig(ndf=8, n_layers=2, num_d=3))
    out = d(torch.randn(1, 6, 64, 64))
    assert len(out) == 3 and all(len(s) == 4 for s in out)
    assert out[0][-1].shape[1] == 1 and out[1][-1].shape[-1] < out[0][-1].shape[-1]


def test_configs_roundtrip_through_dicts() -> None:
    cfg = get_preset("hd").generator
    assert GeneratorConfig.from_dict({**cfg.to_dict(), "unknown_future_field": 1}) == cfg
    assert FaceConfig.from_dict(FaceConfig().to_dict()) == FaceConfig()


def test_presets_build_and_grow() -> None:
    sizes = {}
    for name, p in PRESETS.items():
        sizes[name] = count_parameters(Generator(p.generator))
        assert p.description
    assert sizes["tiny"] < sizes["cpu-rt"] < sizes["balanced"] < sizes["hd"]
    assert sizes["cpu-live"] < sizes["cpu-rt"]
    live, rt = get_preset("cpu-live").generator, get_preset("cpu-rt").generator
    assert live.n_blocks < rt.n_blocks  # and only that: it is fine-tuned from a cpu-rt run
    assert GeneratorConfig(**{**live.to_dict(), "n_blocks": rt.n_blocks}) == rt
    assert get_preset("cpu-rt").generator.resolution == 256
    assert get_preset("hd").generator.resolution == 512
