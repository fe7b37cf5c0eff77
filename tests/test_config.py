"""Config and preset validation: errors name the key and the allowed values."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ebm_studio.core.config import (
    SECTIONS,
    Config,
    ConfigError,
    changed_keys,
    field_meta,
    structural_changes,
)
from ebm_studio.core.presets import (
    Preset,
    list_presets,
    load_preset,
    parse_preset,
    preset_to_toml,
    save_preset,
)


def test_every_field_has_complete_metadata():
    for name, klass in SECTIONS.items():
        for key, val in vars(klass()).items():
            m = field_meta(name, key)
            assert isinstance(m["live"], bool)
            assert m["help"], f"{name}.{key} has no help text"
            if isinstance(val, (int, float)) and not isinstance(val, bool):
                assert m["lo"] is not None and m["hi"] is not None, f"{name}.{key}"
                assert m["lo"] <= val <= m["hi"], f"default of {name}.{key} out of range"
            if m["choices"]:
                assert val in m["choices"]


def test_unknown_key_names_key_and_allowed():
    with pytest.raises(ConfigError, match=r"sampler\.stepsize.*allowed keys.*step_size"):
        Config.from_dict({"sampler": {"stepsize": 0.1}}, source="p.toml")


def test_unknown_section():
    with pytest.raises(ConfigError, match=r"unknown section \[samplr\]"):
        Config.from_dict({"samplr": {}})


def test_out_of_range_names_range():
    with pytest.raises(ConfigError, match=r"optim\.lr = 5.0.*\[1e-07, 1\]"):
        Config.from_dict({"optim": {"lr": 5.0}})


def test_bad_choice_lists_choices():
    with pytest.raises(ConfigError, match=r"objective\.start = 'nowhere'.*'buffer'"):
        Config.from_dict({"objective": {"start": "nowhere"}})


@pytest.mark.parametrize(
    "section,key,value",
    [
        ("train", "steps", 1.5),
        ("train", "steps", True),
        ("model", "spectral_norm", 1),
        ("optim", "lr", "fast"),
        ("optim", "lr", float("nan")),
        ("data", "name", 3),
    ],
)
def test_wrong_types_refused(section, key, value):
    with pytest.raises(ConfigError, match=rf"{section}\.{key}"):
        Config.from_dict({section: {key: value}})


def test_round_trip_dict():
    c = Config().with_value("sampler.step_size", 0.05).with_value("objective.start", "data")
    assert Config.from_dict(c.to_dict()) == c
    assert changed_keys(Config(), c) == [
        ("objective.start", "buffer", "data"),
        ("sampler.step_size", 0.01, 0.05),
    ]
    assert structural_changes(Config(), c) == []
    assert structural_changes(Config(), c.with_value("model.width", 64)) == ["model.width"]


def test_shipped_presets_load_and_round_trip(tmp_path):
    presets = list_presets()
    assert len(presets) >= 5
    for p in presets:
        assert p.description, f"{p.name} has no description"
        path = tmp_path / f"{p.name}.toml"
        save_preset(p, path)
        q = load_preset(path)
        assert q.config == p.config
        assert q.kl_bound == p.kl_bound
        assert (q.description, q.explanation, q.hint) == (p.description, p.explanation, p.hint)
        assert q.guide == p.guide


def test_preset_errors_name_file_and_key():
    with pytest.raises(ConfigError, match=r"my\.toml: unknown key 'preset\.colour'"):
        parse_preset('[preset]\ncolour = "red"\n', source="my.toml")
    with pytest.raises(ConfigError, match=r"my\.toml: not valid TOML"):
        parse_preset("[data\n", source="my.toml")
    with pytest.raises(ConfigError, match=r"no preset named 'nope'"):
        load_preset("nope")


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([*SECTIONS, "preset", "junk"]),
        st.dictionaries(
            st.text(min_size=1, max_size=12),
            st.one_of(st.integers(), st.floats(), st.text(max_size=8), st.booleans()),
            max_size=4,
        ),
        max_size=4,
    )
)
def test_fuzzed_presets_either_load_or_fail_cleanly(d):
    import tomli_w

    try:
        text = tomli_w.dumps(d)
    except (TypeError, ValueError):
        return
    try:
        p = parse_preset(text, source="fuzz.toml")
    except ConfigError as e:
        assert str(e).startswith("fuzz.toml")
        return
    assert isinstance(p, Preset)
    assert parse_preset(preset_to_toml(p)).config == p.config


def test_share_string_round_trips_every_preset():
    from ebm_studio.core import share

    for p in list_presets():
        s = share.encode(p.config)
        assert s.startswith("ebm1:") and len(s) < 400
        assert share.decode(s) == p.config
    assert share.decode(share.encode(Config())) == Config()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "ebm1:",
        "ebm1:!!!!",
        "ebm1:eJyrVkrOzy0oSi0uTk1RsiopKk2tBQA",
        "ebm1:" + "A" * 30000,
    ],
)
def test_share_string_garbage_is_refused(text):
    from ebm_studio.core import share

    with pytest.raises(ConfigError, match="share string"):
        share.decode(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_share_string_fuzz(text):
    from ebm_studio.core import share

    with contextlib.suppress(ConfigError):
        share.decode("ebm1:" + text)
