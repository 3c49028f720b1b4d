import pytest

from scribe.notes.templates import Template, TemplateError, available_templates, load_template, templates_dir
from scribe.types import Role


def test_shipped_templates_listed():
    names = available_templates()
    assert "soap" in names and "hp" in names


@pytest.mark.parametrize("name", available_templates())
def test_every_shipped_template_loads(name):
    t = load_template(name)
    assert isinstance(t, Template)
    assert t.title and t.loinc and t.sections
    for sec in t.sections:
        assert sec.id and sec.title and sec.roles and sec.empty_text
        assert all(c == c.lower() for c in sec.cues)
    assert len({s.id for s in t.sections}) == len(t.sections)


def test_soap_codes():
    t = load_template("soap")
    assert t.loinc == "11506-3"
    assert [(s.id, s.loinc) for s in t.sections] == [
        ("subjective", "10164-2"),
        ("objective", "29545-1"),
        ("assessment", "51848-0"),
        ("plan", "18776-5"),
    ]
    assert t.section("objective").roles == (Role.CLINICIAN,)


def test_hp_codes():
    t = load_template("hp")
    assert t.loinc == "34117-2"
    codes = {s.id: s.loinc for s in t.sections}
    assert codes == {
        "chief_complaint": "10154-3",
        "hpi": "10164-2",
        "review_of_systems": "10187-3",
        "medications": "10160-0",
        "allergies": "48765-2",
        "physical_exam": "29545-1",
        "results": "30954-2",
        "assessment": "51848-0",
        "plan": "18776-5",
    }


def test_frozen():
    t = load_template("soap")
    with pytest.raises(Exception):
        t.title = "x"  # type: ignore[misc]


def test_load_by_path_and_env_dir(tmp_path, monkeypatch):
    src = templates_dir() / "soap.toml"
    copy = tmp_path / "clinic.toml"
    copy.write_text(src.read_text().replace('title = "SOAP progress note"', 'title = "Clinic SOAP"'))
    assert load_template(str(copy)).title == "Clinic SOAP"
    monkeypatch.setenv("SCRIBE_TEMPLATES_DIR", str(tmp_path))
    assert available_templates() == ["clinic"]
    assert load_template("clinic").title == "Clinic SOAP"


def _one_line_naming(err: TemplateError, path) -> str:
    msg = str(err)
    assert "\n" not in msg
    assert str(path) in msg
    return msg


def test_missing_file(tmp_path):
    path = tmp_path / "nope.toml"
    with pytest.raises(TemplateError) as e:
        load_template(str(path))
    assert "not found" in _one_line_naming(e.value, path)


def test_missing_name(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRIBE_TEMPLATES_DIR", str(tmp_path))
    with pytest.raises(TemplateError) as e:
        load_template("soapy")
    _one_line_naming(e.value, tmp_path / "soapy.toml")


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[template\nid = "x"\n')
    with pytest.raises(TemplateError) as e:
        load_template(str(path))
    assert "not valid TOML" in _one_line_naming(e.value, path)


@pytest.mark.parametrize(
    "body, reason",
    [
        ('[[sections]]\nid="a"\ntitle="A"\nroles=["patient"]\n', "[template]"),
        ('[template]\nid="x"\ntitle="X"\nloinc="1"\n', "[[sections]]"),
        ('[template]\nid="x"\nloinc="1"\n[[sections]]\nid="a"\ntitle="A"\nroles=["patient"]\n', "'title'"),
        ('[template]\nid="x"\ntitle="X"\nloinc="1"\n[[sections]]\nid="a"\ntitle="A"\n', "'roles'"),
        ('[template]\nid="x"\ntitle="X"\nloinc="1"\n[[sections]]\nid="a"\ntitle="A"\nroles=["nurse"]\n', "unknown role"),
        ('[template]\nid="x"\ntitle="X"\nloinc="1"\n[[sections]]\ntitle="A"\nroles=["patient"]\n', "'id'"),
    ],
)
def test_missing_keys(tmp_path, body, reason):
    path = tmp_path / "broken.toml"
    path.write_text(body)
    with pytest.raises(TemplateError) as e:
        load_template(str(path))
    assert reason in _one_line_naming(e.value, path)


def test_template_error_is_value_error():
    assert issubclass(TemplateError, ValueError)


def test_kinds_and_verbosity(tmp_path):
    soap, hp = load_template("soap"), load_template("hp")
    assert soap.verbosity == "brief" and hp.verbosity == "full"
    # Every kind the drafter's model predicts has a home in each shipped template.
    from scribe.notes.templates import KINDS

    for name in available_templates():
        t = load_template(name)
        homes = {k for s in t.sections for k in s.kinds}
        assert homes == set(KINDS), (name, set(KINDS) - homes)
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[template]\nid="x"\ntitle="X"\nloinc="1"\nverbosity="short"\n'
        '[[sections]]\nid="a"\ntitle="A"\nroles=["patient"]\n'
    )
    with pytest.raises(TemplateError, match="verbosity"):
        load_template(str(bad))
    bad.write_text(
        '[template]\nid="x"\ntitle="X"\nloinc="1"\n'
        '[[sections]]\nid="a"\ntitle="A"\nroles=["patient"]\nkinds=["gossip"]\n'
    )
    with pytest.raises(TemplateError, match="unknown kind 'gossip'"):
        load_template(str(bad))
