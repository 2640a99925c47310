"""sam-audio-predict: table and JSON output, pictures, one clear line per unreadable file, exit codes."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from feature_extraction_sam_audio import SamAudioFeatureExtractor
from pipeline_sam_audio import save_pretrained_with_pipeline
from sam_audio_raga import predict as predict_sam_audio
from sam_audio_raga.predict import RESULT_JSON_SCHEMA, main, output_paths
from sam_audio_raga.synthetic import RAGA_NAMES, generate_clip


JSON_TYPES = {
    "object": dict,
    "array": list,
    "string": str,
    "number": (int, float),
    "integer": int,
    "boolean": bool,
}


def schema_errors(instance, schema: dict, path: str = "$") -> list[str]:
    """The JSON Schema keywords RESULT_JSON_SCHEMA uses, checked by hand (jsonschema is not a dependency)."""
    errors = []
    expected = schema.get("type")
    if expected is not None:
        is_bool = isinstance(instance, bool)
        if not isinstance(instance, JSON_TYPES[expected]) or (is_bool and expected != "boolean"):
            return [f"{path}: expected {expected}, got {type(instance).__name__}"]
    if "minimum" in schema and instance < schema["minimum"]:
        errors.append(f"{path}: {instance} < {schema['minimum']}")
    if "maximum" in schema and instance > schema["maximum"]:
        errors.append(f"{path}: {instance} > {schema['maximum']}")
    if isinstance(instance, dict):
        properties = schema.get("properties", {})
        errors += [f"{path}: missing {key!r}" for key in schema.get("required", []) if key not in instance]
        for key, value in instance.items():
            if key in properties:
                errors += schema_errors(value, properties[key], f"{path}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{path}: unexpected {key!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += schema_errors(value, schema["additionalProperties"], f"{path}.{key}")
    if isinstance(instance, list):
        if len(instance) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        for index, item in enumerate(instance):
            errors += schema_errors(item, schema.get("items", {}), f"{path}[{index}]")
    return errors


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, make_tiny_model):
    directory = tmp_path_factory.mktemp("model")
    save_pretrained_with_pipeline(make_tiny_model(), SamAudioFeatureExtractor(), directory)
    return directory


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("audio")
    rng = np.random.default_rng(0)
    sf.write(directory / "kalyani.wav", generate_clip("Kalyani", 146.8, "violin", seconds=25.0, rng=rng), 16000)
    todi = generate_clip("Todi", 130.0, "voice", seconds=12.0, sampling_rate=22050, rng=rng)
    sf.write(directory / "todi.flac", np.stack([todi, todi], axis=1), 22050)
    (directory / "broken.mp3").write_bytes(b"ID3 this is no mp3 at all " * 100)
    return directory


def test_json_output_validates_and_a_corrupt_file_gets_one_line(model_dir, audio_dir, tmp_path, capfd):
    files = [str(audio_dir / "kalyani.wav"), str(audio_dir / "broken.mp3"), str(audio_dir / "todi.flac")]
    argv = [*files, "--model", str(model_dir), "--json", "--top-k", "3", "--timeline", str(tmp_path / "t.png")]
    exit_code = main([*argv, "--attention", str(tmp_path / "a.png"), "--window-seconds", "10"])
    out, err = capfd.readouterr()

    assert exit_code == 1
    document = json.loads(out)
    assert schema_errors(document, RESULT_JSON_SCHEMA) == []
    assert [result["file"] for result in document["results"]] == [files[0], files[2]]
    assert document["errors"] == [{"file": files[1], "error": document["errors"][0]["error"]}]
    first = document["results"][0]
    assert [len(result["labels"]) for result in document["results"]] == [3, 3]
    assert [(entry["start"], entry["end"]) for entry in first["timeline"]] == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert set(first["timeline"][0]["scores"]) == set(RAGA_NAMES)

    error_lines = [line for line in err.splitlines() if line.strip()]
    assert error_lines == [f"sam-audio-predict: error: {files[1]}: {document['errors'][0]['error']}"]
    assert "Traceback" not in err
    # Several inputs: one picture per good file, named after it.
    for name in ("t-kalyani.png", "t-todi.png", "a-kalyani.png", "a-todi.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob("*broken*"))
    assert first["timeline_png"] == str(tmp_path / "t-kalyani.png")


def test_table_output_mentions_each_file(model_dir, audio_dir, capfd):
    files = [str(audio_dir / "kalyani.wav"), str(audio_dir / "todi.flac")]
    exit_code = main([*files, "--model", str(model_dir), "--top-k", "2", "--batch-size", "1"])
    out, err = capfd.readouterr()
    assert exit_code == 0
    assert all(path in out for path in files)
    assert "raga" in out and "score" in out
    rows = [line for line in out.splitlines() if re.match(r"^\s+\S+\s+\d\.\d{4}$", line)]
    assert len(rows) == 4 and all(line.split()[0] in RAGA_NAMES for line in rows)
    assert "error" not in err


def test_unloadable_model_exits_2_with_one_line(audio_dir, tmp_path, capfd):
    audio = str(audio_dir / "kalyani.wav")
    assert main([audio, "--model", str(tmp_path / "no-such-model")]) == 2
    empty = tmp_path / "empty-model"
    empty.mkdir()
    assert main([audio, "--model", str(empty)]) == 2
    out, err = capfd.readouterr()
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 2 and all(line.startswith("sam-audio-predict: error: could not load model") for line in lines)
    assert "Traceback" not in err and out == ""


def test_schema_in_docstring_matches_the_constant():
    block = re.search(r"```json\n(.*?)```", predict_sam_audio.__doc__, flags=re.DOTALL).group(1)
    assert json.loads(block) == RESULT_JSON_SCHEMA


def test_validator_catches_a_malformed_document():
    document = {"model": "m", "results": [{"file": "a", "duration": -1, "labels": [], "timeline": []}], "errors": []}
    errors = schema_errors(document, RESULT_JSON_SCHEMA)
    assert any("duration" in error for error in errors) and any("labels" in error for error in errors)
    assert schema_errors({"model": "m", "results": [], "errors": [], "extra": 1}, RESULT_JSON_SCHEMA)


def test_output_paths():
    template = Path("out/t.png")
    assert output_paths(template, ["x/concert.mp3"]) == [template]
    assert output_paths(template, ["a/x.wav", "b/x.flac", "y.mp3"]) == [
        Path("out/t-x.png"),
        Path("out/t-x-2.png"),
        Path("out/t-y.png"),
    ]


def test_a_folder_goes_to_json_lines_with_an_error_line_per_bad_file_and_resumes(
    model_dir, audio_dir, tmp_path, capfd
):
    folder = tmp_path / "recordings"
    (folder / "nested" / "deeper").mkdir(parents=True)
    (folder / ".hidden").mkdir()
    for name, target in (("kalyani.wav", "kalyani.wav"), ("todi.flac", "nested/deeper/todi.flac")):
        (folder / target).write_bytes((audio_dir / name).read_bytes())
    (folder / "nested" / "broken.mp3").write_bytes((audio_dir / "broken.mp3").read_bytes())
    (folder / "nested" / "KALYANI-COPY.WAV").write_bytes((audio_dir / "kalyani.wav").read_bytes())
    (folder / "notes.txt").write_text("not audio")
    (folder / ".hidden" / "skipped.wav").write_bytes((audio_dir / "kalyani.wav").read_bytes())
    output = tmp_path / "results.jsonl"
    argv = [str(folder), "--model", str(model_dir), "--output", str(output), "--window-seconds", "10"]

    assert main([*argv, "--workers", "2", "--top-k", "2"]) == 1
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    by_file = {Path(line["file"]).relative_to(folder).as_posix(): line for line in lines}
    assert sorted(by_file) == [
        "kalyani.wav",
        "nested/KALYANI-COPY.WAV",
        "nested/broken.mp3",
        "nested/deeper/todi.flac",
    ]
    assert set(by_file["nested/broken.mp3"]) == {"file", "error"}
    item_schema = RESULT_JSON_SCHEMA["properties"]["results"]["items"]
    for name in ("kalyani.wav", "nested/KALYANI-COPY.WAV", "nested/deeper/todi.flac"):
        assert schema_errors(by_file[name], item_schema) == [], name
        assert len(by_file[name]["labels"]) == 2
    assert len(by_file["kalyani.wav"]["timeline"]) == 3 and by_file["kalyani.wav"]["duration"] == pytest.approx(25.0)
    # Decoded by a worker, classified as an array: the scores of the file read by the pipeline itself.
    direct = predict_sam_audio.load_classifier(str(model_dir))(str(folder / "kalyani.wav"), top_k=2, window_seconds=10)
    assert [item["label"] for item in direct] == [item["label"] for item in by_file["kalyani.wav"]["labels"]]
    assert direct[0]["score"] == pytest.approx(by_file["kalyani.wav"]["labels"][0]["score"], abs=1e-4)
    err = capfd.readouterr().err
    assert [line for line in err.splitlines() if "error:" in line] == [
        f"sam-audio-predict: error: {by_file['nested/broken.mp3']['file']}: {by_file['nested/broken.mp3']['error']}"
    ]
    assert re.search(r"4 files in [\d.]+ s \([\d.]+ files/s\), 1 failed, 0 already in", err)

    # A rerun adds nothing; after a crash that cut the last line short, only that file is done again.
    before = output.read_bytes()
    assert main([*argv, "--workers", "0"]) == 0
    assert output.read_bytes() == before
    assert "0 files in" in capfd.readouterr().err
    last = before.rstrip(b"\n").rsplit(b"\n", 1)[-1]
    output.write_bytes(before[: len(before) - len(last) // 2 - 1])
    main([*argv, "--workers", "0"])
    assert output.read_bytes().count(b"\n") == 4
    assert [json.loads(line)["file"] for line in output.read_text().splitlines()] == [line["file"] for line in lines]
    assert "1 files in" in capfd.readouterr().err


def test_a_folder_without_audio_is_an_argument_error(model_dir, tmp_path, capfd):
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit) as raised:
        main([str(tmp_path / "empty"), "--model", str(model_dir), "--output", str(tmp_path / "r.jsonl")])
    assert raised.value.code == 2
    assert "no audio files" in capfd.readouterr().err
