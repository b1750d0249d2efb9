"""The papers' own tables beside cnnzoo's summary (analysis/paper.py): `cnnzoo summary --paper`."""
from __future__ import annotations

import json

import pytest

from cnnzoo.analysis.paper import compare_rows, format_paper, paper_table, papers_with_tables
from cnnzoo.analysis.summary import summary
from cnnzoo.errors import CnnzooError, UnknownNameError


def rows(name: str) -> dict[str, dict]:
    return {r["layer"]: r for r in compare_rows(summary(name), paper_table(name))}


def test_lenet5_parameters_and_connections_agree_row_by_row():
    # SPECS.md section 1 [V]: every per-layer figure and both totals.
    r = rows("lenet5")
    assert all(row["agrees"] for row in r.values()), [k for k, v in r.items() if not v["agrees"]]
    assert r["C3"]["ours"] == {"output": "16@10x10", "params": 1516, "connections": 151_600}
    assert r["S2"]["ours"]["connections"] == 5_880  # 6 x 14 x 14 x (4 inputs + bias)
    assert sum(v["ours"].get("connections", 0) for v in r.values()) == 340_908
    assert sum(v["ours"].get("params", 0) for v in r.values()) == 60_000


def test_alexnet_neurons_and_the_papers_inconsistency():
    r = rows("alexnet")
    for layer in ("conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"):
        assert r[layer]["agrees"], layer
    assert r["conv1"]["ours"]["neurons"] == 55 * 55 * 96
    assert r["conv1"]["diff"]["neurons"] == 290_400 - 253_440
    assert "inconsistency" in r["conv1"]["note"]


def test_googlenet_table1_both_columns_shown_and_explained():
    r = rows("googlenet")
    conv1 = r["convolution 7x7/2"]
    assert conv1["paper"]["params"] == 2_700 and conv1["ours"]["params"] == 7 * 7 * 3 * 64 + 64
    assert "9,408" in conv1["note"]
    assert r["inception (4c)"]["ours"]["params"] - 128 - 128 - 256 - 24 - 64 - 64 == 509_440
    assert r["inception (5a)"]["ours"]["params"] < r["inception (5a)"]["paper"]["params"]
    for name in ("inception (4c)", "inception (5a)"):
        assert r[name]["note"] and "give" in r[name]["note"]
    # the ops column is multiply-adds and follows the filter counts (SPECS.md section 5 [V])
    for name, macs in (("inception (3a)", 128.0e6), ("inception (4e)", 170.0e6),
                       ("inception (5b)", 70.7e6)):
        assert abs(r[name]["ours"]["macs"] - macs) / macs < 0.005
    assert all(v["paper"]["output"] == v["ours"]["output"] for v in r.values())
    text = format_paper("googlenet")
    assert "multiply-adds" in text and "2.7K" in text


@pytest.mark.parametrize("name", ["vgg11", "vgg11_lrn", "vgg13", "vgg16c", "vgg16", "vgg19"])
def test_vgg_table1_layers_and_table2_parameters(name):
    r = compare_rows(summary(name), paper_table(name))
    layers = [row for row in r if "layer" in row["paper"]]
    assert layers and all(row["agrees"] for row in layers)
    total = next(row for row in r if row["layer"] == "total (Table 2)")
    assert round(total["ours"]["params"] / 1e6) == total["paper"]["params"] / 1e6


def test_resnet_flops_are_multiply_adds():
    for name, flops in (("resnet18", 1.8e9), ("resnet50", 3.8e9), ("resnet152", 11.3e9)):
        r = compare_rows(summary(name), paper_table(name))
        total = r[-1]
        assert total["paper"]["macs"] == flops
        assert abs(total["ours"]["macs"] - flops) / flops < 0.02  # 2 significant digits
        assert all(row["agrees"] for row in r[:-1])  # output sizes
    text = format_paper("resnet50")
    assert "multiply-adds" in text and "not 2 x MACs" in text


def test_vgg_and_resnet_notes_follow_the_numbers():
    vgg16 = compare_rows(summary("vgg16"), paper_table("vgg16"))[-1]
    conv_macs = sum(r.macs for r in summary("vgg16").layers if r.type == "Conv2d")
    assert round(vgg16["ours"]["macs"] / 1e9, 1) == 15.5 and round(conv_macs / 1e9, 1) == 15.3
    assert "15.35G" in vgg16["note"] and "rounds 15.47G down" not in vgg16["note"]
    r50 = compare_rows(summary("resnet50"), paper_table("resnet50"))[-1]
    assert int(r50["ours"]["macs"] / 1e8) / 10 == 3.8 != round(r50["ours"]["macs"] / 1e9, 1)
    assert "truncated" in r50["note"]


def test_vgg_layer_names_not_printed_twice():
    header = format_paper("vgg16").splitlines()[0].split()
    assert header.count("layer") == 2  # "Paper layer" (the row) and "cnnzoo layer"
    doc = json.loads(format_paper("vgg16", "json"))
    assert doc["rows"][0]["paper"]["layer"] == "conv3-64"  # still in the machine-readable form


@pytest.mark.parametrize("name", ["resnet20", "resnet56", "plain56", "resnet110"])
def test_cifar_parameters_of_table6(name):
    r = compare_rows(summary(name), paper_table(name))
    total = r[-1]
    assert abs(total["diff"]["params"]) / total["paper"]["params"] < 0.03
    assert all(row["agrees"] for row in r[:-1])


def test_zfnet_map_sizes_of_fig3():
    for name in ("zfnet", "zfnet_wide"):
        r = compare_rows(summary(name), paper_table(name))
        assert all(row["agrees"] for row in r), [row for row in r if not row["agrees"]]


def test_formats_and_errors():
    table = format_paper("lenet5")
    assert "C3" in table and "151,600" in table and "connections" in table.lower()
    md = format_paper(summary("lenet5"), "markdown")
    assert md.startswith("| Paper layer |")
    doc = json.loads(format_paper("alexnet", "json"))
    assert doc["model"] == "alexnet" and doc["rows"][0]["layer"] == "input"
    with pytest.raises(UnknownNameError) as err:
        paper_table("lenet5_modern")
    assert "lenet5" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(CnnzooError):
        paper_table("lenet6")
    with pytest.raises(CnnzooError):
        format_paper("lenet5", "csv")


def test_every_faithful_network_has_a_table():
    have = set(papers_with_tables())
    assert {"lenet5", "alexnet", "zfnet", "googlenet", "vgg16", "resnet152", "resnet20",
            "plain20"} <= have
    assert not {"lenet5_modern", "alexnet_tv", "googlenet_tv"} & have
