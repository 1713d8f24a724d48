"""Custom-scalars layouts written by trainscope: parsed with TensorBoard's layout_pb2, served
by TensorBoard's own custom_scalars plugin (CustomScalarsPlugin.layout_impl over an
EventMultiplexer data provider) and compared with PyTorch's SummaryWriter.add_custom_scalars
and its two shorthands.

The C++ side is tests/tools/write_hparams.cpp (see its header for the manifest).
"""

from __future__ import annotations

from pathlib import Path

import tb_helpers
from test_hparams import enc, run_tool

TAG = "custom_scalars__config__"

# PyTorch's own docstring example, plus a multi-tag margin chart and a regex multiline chart.
LAYOUT = {
    "Taiwan": {"twse": ["Multiline", ["twse/0050", "twse/2330"]]},
    "USA": {
        "dow": ["Margin", ["dow/aaa", "dow/bbb", "dow/ccc"]],
        "nasdaq": ["Margin", ["nasdaq/aaa", "nasdaq/bbb", "nasdaq/ccc"]],
    },
    "Loss and more": {"all losses": ["Multiline", [r"loss/.*", "val loss"]]},
}


def layout_lines(layout: dict, closed=()) -> list[str]:
    lines = []
    for category, charts in layout.items():
        lines.append(f"category {enc(category)}" + (" closed" if category in closed else ""))
        for title, (kind, tags) in charts.items():
            tags_token = ",".join(enc(t) for t in tags)
            if kind == "Margin":
                triples = [tags[i : i + 3] for i in range(0, len(tags), 3)]
                tags_token = ";".join(",".join(enc(t) for t in tr) for tr in triples)
                lines.append(f"chart_margin {enc(title)} {tags_token}")
            else:
                lines.append(f"chart_multiline {enc(title)} {tags_token}")
    lines.append("custom_scalars")
    return lines


def config_values(run_dir: Path) -> list:
    """[(step, Summary.Value)] of the layout tag, as written."""
    return tb_helpers.raw_values(run_dir).get(TAG, [])


def torch_config_values(tmp_path: Path, call) -> list:
    from torch.utils.tensorboard import SummaryWriter as TorchWriter

    logdir = tmp_path / "torch"
    with TorchWriter(log_dir=str(logdir)) as w:
        call(w)
    return config_values(logdir)


def parse_layout(value):
    from tensorboard.plugins.custom_scalar import layout_pb2

    assert len(value.tensor.string_val) == 1
    return layout_pb2.Layout.FromString(value.tensor.string_val[0])


def served_layout(logdir: Path):
    """What TensorBoard's custom_scalars plugin serves at /layout (JSON), as a Layout."""
    from google.protobuf import json_format

    from tensorboard.plugins import base_plugin
    from tensorboard.plugins.custom_scalar import custom_scalars_plugin, layout_pb2

    loaded = tb_helpers.load_logdir(logdir)
    assert tb_helpers.log_problems(loaded.log) == []
    ctx = base_plugin.TBContext(
        data_provider=loaded.provider, multiplexer=loaded.multiplexer, logdir=str(logdir), plugin_name_to_instance={}
    )
    plugin = custom_scalars_plugin.CustomScalarsPlugin(ctx)
    served = plugin.layout_impl(loaded.ctx, tb_helpers.EXPERIMENT)
    assert served, "no layout served"
    return json_format.Parse(served, layout_pb2.Layout())


def test_layout_equals_pytorch_and_is_served_by_tensorboard(tmp_path):
    logdir = tmp_path / "ours"
    run_tool(logdir, ["open .", *layout_lines(LAYOUT)])
    ours = config_values(logdir)
    theirs = torch_config_values(tmp_path, lambda w: w.add_custom_scalars(LAYOUT))
    assert len(ours) == len(theirs) == 1
    (o_step, o_value), (t_step, t_value) = ours[0], theirs[0]

    # The whole Summary.Value is PyTorch's: tag, metadata (plugin "custom_scalars", no content),
    # a rank-0 DT_STRING tensor, and the Layout bytes themselves.
    assert o_step == t_step == 0
    assert o_value == t_value
    assert o_value.tensor.string_val[0] == t_value.tensor.string_val[0]
    assert o_value.metadata.plugin_data.plugin_name == "custom_scalars"
    assert list(o_value.tensor.tensor_shape.dim) == []
    layout = parse_layout(o_value)
    assert [c.title for c in layout.category] == list(LAYOUT)
    assert layout.category[1].chart[0].margin.series[0].upper == "dow/ccc"

    served = served_layout(logdir)
    assert served == layout
    assert list(served.category[2].chart[0].multiline.tag) == [r"loss/.*", "val loss"]


def test_shorthands_equal_pytorch(tmp_path):
    def ours(lines):
        d = tmp_path / f"ours{len(list(tmp_path.iterdir()))}"
        run_tool(d, ["open .", *lines], name=f"{d.name}.txt")
        (entry,) = config_values(d)
        return entry

    def theirs(call):
        sub = tmp_path / f"torch{len(list(tmp_path.iterdir()))}"
        sub.mkdir()
        (entry,) = torch_config_values(sub, call)
        return entry

    tags = ["twse/0050", "twse/2330"]
    assert ours([f"multiline default untitled {','.join(tags)}"]) == theirs(
        lambda w: w.add_custom_scalars_multilinechart(tags)
    )
    assert ours([f"multiline {enc('My category')} {enc('My chart')} {','.join(tags)}"]) == theirs(
        lambda w: w.add_custom_scalars_multilinechart(tags, category="My category", title="My chart")
    )
    margin = ["dow/aaa", "dow/bbb", "dow/ccc"]
    assert ours([f"margin default untitled {','.join(margin)}"]) == theirs(
        lambda w: w.add_custom_scalars_marginchart(margin)
    )


def test_margin_chart_extensions_and_refusals(tmp_path):
    # Six tags: two (value, lower, upper) series in one chart (PyTorch takes exactly three).
    logdir = tmp_path / "ours"
    six = ["a/v", "a/lo", "a/hi", "b/v", "b/lo", "b/hi"]
    run_tool(logdir, ["open .", f"margin cat chart {','.join(six)}"])
    (_, value), = config_values(logdir)
    series = parse_layout(value).category[0].chart[0].margin.series
    assert [(s.value, s.lower, s.upper) for s in series] == [("a/v", "a/lo", "a/hi"), ("b/v", "b/lo", "b/hi")]

    # Four tags: refused with a clear message, nothing written.
    bad = tmp_path / "bad"
    proc = run_tool(bad, ["open .", "margin cat chart a,b,c,d"], expect_rc=3, name="bad.txt")
    assert "add_custom_scalars_marginchart" in proc.stderr and "not a multiple of 3" in proc.stderr
    assert config_values(bad) == []


def test_closed_category_and_runs_merge(tmp_path):
    """TensorBoard merges the layouts of all runs by category title; within a run the latest
    layout is the one it serves (as with PyTorch, a later call replaces an earlier one)."""
    logdir = tmp_path / "logs"
    run_tool(
        logdir,
        [
            "open run_a",
            *layout_lines({"old": {"x": ["Multiline", ["x"]]}}),
            *layout_lines({"Losses": {"train": ["Multiline", ["loss/train"]]}}, closed={"Losses"}),
            "open run_b",
            *layout_lines({"Losses": {"val": ["Multiline", ["loss/val"]]}, "Margins": {"m": ["Margin", ["v", "l", "u"]]}}),
        ],
    )
    served = served_layout(logdir)
    assert [c.title for c in served.category] == ["Losses", "Margins"]
    losses = served.category[0]
    assert losses.closed
    assert [c.title for c in losses.chart] == ["train", "val"]
