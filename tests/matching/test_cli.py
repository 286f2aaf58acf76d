import csv
from pathlib import Path

import typer
from typer.testing import CliRunner

from contactsync.cli.match import register


def app() -> typer.Typer:
    a = typer.Typer()
    register(a)

    @a.command("version")  # a second command, so typer keeps "match" as a subcommand name
    def version() -> None:
        pass

    return a


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_match_writes_links(tmp_path: Path) -> None:
    left = write(
        tmp_path / "left.csv",
        "id,name,tax_number,city,postal_code,country,extra\n"
        "a1,Müller Bau G.m.b.H.,DE 136 695 976,Berlin,10115,DE,x\n"
        "a2,Acme Ltd,,London,NW1 6XE,GB,y\n",
    )
    right = write(
        tmp_path / "right.csv",
        "\ufeffcountry;id;name;tax_number;postal_code;city\n"
        "Deutschland;b7;Mueller Bau GmbH;136695976;10115;Berlin\n"
        "DE;b8;Schneider Elektro AG;DE811569869;80331;München\n",
    )
    out = tmp_path / "links.csv"
    result = CliRunner().invoke(app(), ["match", str(left), str(right), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert [(r["left_id"], r["right_id"], r["decision"]) for r in rows] == [("a1", "b7", "link")]
    assert list(rows[0]) == ["left_id", "right_id", "score", "decision"]
    assert 0.0 <= float(rows[0]["score"]) <= 1.0


def test_missing_id_column_is_a_clear_error(tmp_path: Path) -> None:
    left = write(tmp_path / "left.csv", "name,city\nAcme,London\n")
    right = write(tmp_path / "right.csv", "id,name\n1,Acme\n")
    result = CliRunner().invoke(app(), ["match", str(left), str(right), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "no 'id' column" in result.output
    assert not (tmp_path / "o.csv").exists()


def test_unreadable_file_is_a_clear_error(tmp_path: Path) -> None:
    right = write(tmp_path / "right.csv", "id,name\n1,Acme\n")
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01id")
    for bad, message in ((tmp_path / "missing.csv", "no such file"), (binary, "not UTF-8")):
        result = CliRunner().invoke(app(), ["match", str(bad), str(right), "--out", str(tmp_path / "o.csv")])
        assert result.exit_code == 2
        assert message in result.output


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    left = write(tmp_path / "left.csv", "id,name\n1,Acme\n1,Beta\n")
    right = write(tmp_path / "right.csv", "id,name\n1,Acme\n")
    result = CliRunner().invoke(app(), ["match", str(left), str(right), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 2
    assert "duplicate id" in result.output


def test_match_calibrate_on_files_too_small_to_fit_keeps_the_default_decisions(tmp_path: Path) -> None:
    left = write(tmp_path / "left.csv", 'id,name,street,postal_code,city\nl1,"Müller, Hans",Kirchweg 5,50667,Köln\n')
    right = write(tmp_path / "right.csv", "id,name,street,postal_code,city\nr1,Hans Mueller,Kirchwg 5,50667,Köln\n")
    outputs = []
    for flags in ([], ["--calibrate"]):
        out = tmp_path / f"links{len(flags)}.csv"
        result = CliRunner().invoke(app(), ["match", str(left), str(right), "--out", str(out), *flags])
        assert result.exit_code == 0, result.output
        outputs.append(out.read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1] and "l1,r1" in outputs[0] and "link" in outputs[0]
