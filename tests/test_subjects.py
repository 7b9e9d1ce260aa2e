"""Subject words: written once by `init`, plain text only, and blamed by name when they are wrong."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from interinv.cli import main
from interinv.errors import InterInvError
from interinv.data.exemplars import load_interaction, load_subject_images


@pytest.fixture
def folder(tmp_path):
    for name in ("a.png", "b.png"):
        Image.new("RGB", (16, 16), "gray").save(tmp_path / name)
    return tmp_path


def _spec(folder, **spec):
    (folder / "interaction.json").write_text(json.dumps(spec))


def test_init_writes_the_subjects_once_so_a_top_level_edit_takes_effect(folder):
    assert main(["init", str(folder), "--subjects", "person", "person"]) == 0
    spec = json.loads((folder / "interaction.json").read_text())
    assert spec["images"] == {"a.png": {}, "b.png": {}}
    spec["subjects"] = ["man", "woman"]
    (folder / "interaction.json").write_text(json.dumps(spec))
    assert {e.subjects for e in load_interaction(folder).exemplars} == {("man", "woman")}


def test_a_top_level_edit_shadowed_by_every_image_entry_is_refused(folder):
    _spec(folder, subjects=["man", "woman"],
          images={"a.png": {"subjects": ["person", "person"]}, "b.png": {"subjects": ["person", "person"]}})
    with pytest.raises(InterInvError, match=r"top-level 'subjects' are \['man', 'woman'\], but every image entry "
                                            r"sets \['person', 'person'\].*Delete the per-image 'subjects'"):
        load_interaction(folder)


def test_an_image_entry_that_differs_from_the_top_level_still_overrides_it(folder):
    _spec(folder, subjects=["man", "woman"], images={"a.png": {"subjects": ["cat", "dog"]}, "b.png": {}})
    assert [e.subjects for e in load_interaction(folder).exemplars] == [("cat", "dog"), ("man", "woman")]


def test_init_on_a_missing_folder_says_it_does_not_exist(tmp_path, capsys):
    assert main(["init", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "nowhere' does not exist" in err and "holds no images" not in err


@pytest.mark.parametrize("word, character", [
    ("(man:1.5)", "("), ("[man]", "["), ("<lora:style:1>", "<"), ("{o1}", "{"), ("man, tall", ","),
    ("man|woman", "|"), ("man: tall", ":"),
])
def test_subject_words_with_prompt_syntax_are_refused_naming_field_and_character(folder, word, character):
    _spec(folder, subjects=["woman", word])
    with pytest.raises(InterInvError, match=rf"interaction.json subjects\[1\]: the subject '.*' contains "
                                            rf"'\{character}', which the WebUIs read as prompt syntax"):
        load_interaction(folder)


def test_init_refuses_prompt_syntax_in_subjects(folder, capsys):
    assert main(["init", str(folder), "--subjects", "man", "<lora:x:1>"]) == 2
    assert "--subjects subjects[1]: the subject '<lora:x:1>' contains '<'" in capsys.readouterr().err
    assert not (folder / "interaction.json").exists()


def test_a_200_character_subject_is_blamed_on_the_subject_not_the_template(folder):
    _spec(folder, subjects=["man " * 50, "woman"])
    with pytest.raises(InterInvError, match=r"subjects\[0\]: the subject is 199 characters long.*at most 60"):
        load_interaction(folder)


def test_a_stage1_subject_with_prompt_syntax_is_refused(tmp_path):
    for role in ("p1", "p2"):
        (tmp_path / role).mkdir()
        Image.new("RGB", (16, 16)).save(tmp_path / role / "0.png")
    (tmp_path / "stage1.json").write_text(json.dumps({"p1": [{"file": "p1/0.png", "subject": "(man:2)"}],
                                                      "p2": [{"file": "p2/0.png", "subject": "woman"}]}))
    with pytest.raises(InterInvError, match=r"stage1.json 'p1' 'p1/0.png': the subject '\(man:2\)' contains '\('"):
        load_subject_images(tmp_path)
