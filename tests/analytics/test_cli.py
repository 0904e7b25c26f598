import json

from typer.testing import CliRunner

from analytics.cli import app


def test_cluster_command_prints_json_with_pseudonymous_members(tmp_path):
    result = CliRunner().invoke(app, ["cluster", "--homes", "20", "--reports-dir",
                                      str(tmp_path), "--clusters-dir", str(tmp_path / "st")])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output.strip().splitlines()[-1])
    assert payload["households"] == 20 and payload["k"] >= 2
    members = [m for ids in payload["members"].values() for m in ids]
    assert len(members) == 20 and all(m.startswith("HH-") for m in members)
    assert "Building" not in result.output
    assert (tmp_path / "clustering.pdf").exists()
    # the stored result, for the API: counts only, no member ids or pseudonyms
    stored = json.loads((tmp_path / "st" / "latest.json").read_text())
    assert stored["k"] == payload["k"]
    assert sum(c["size"] for c in stored["clusters"]) == 20
    for text in ((tmp_path / "st" / "latest.json").read_text(),
                 (tmp_path / "st" / "latest.html").read_text()):
        assert "HH-" not in text and "Building" not in text and "synthetic" not in text


def test_unknown_metric_is_a_usage_error():
    result = CliRunner().invoke(app, ["cluster", "--metric", "cosine", "--no-report"])
    assert result.exit_code != 0
