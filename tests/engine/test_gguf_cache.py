"""The GGUF -> trainable folder cache (engine.models): keyed by the file's content, so every checkout shares one."""

import os
import shutil

from engine import models


def gguf(path, size=3 * models.MIB + 123, fill=b"w"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + fill * (size - 4))
    return path


def test_the_same_file_in_two_checkouts_is_converted_once(tmp_path, monkeypatch):
    """#14: each checkout (its own venv, its own copy of the demo) converted the demo again (~260 MB each)."""
    monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path / "home"))
    a = gguf(tmp_path / "checkout-a" / ".venv" / "demo" / "Model.Q4_1.gguf")
    b = tmp_path / "checkout-b" / ".venv" / "demo" / "Model.Q4_1.gguf"
    b.parent.mkdir(parents=True)
    shutil.copyfile(a, b)
    os.utime(b, (1_000_000_000, 1_000_000_000))  # installed at another time too
    converted = []

    def convert(src, out):
        converted.append(src)
        out.mkdir(parents=True)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(models, "_convert_gguf", convert)
    ref_a = models.ModelRef("gguf", str(a.parent), "a", gguf_file=a.name)
    ref_b = models.ModelRef("gguf", str(b.parent), "b", gguf_file=b.name)
    assert models.materialize(ref_a) == models.materialize(ref_b)
    assert converted == [a] and not models.needs_conversion(ref_b)
    assert models.converted_dir(ref_a).parent == tmp_path / "home" / "models"


def test_another_file_of_the_same_size_gets_its_own_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("TUNEWIZ_HOME", str(tmp_path / "home"))
    one = gguf(tmp_path / "one" / "m.gguf")
    two = gguf(tmp_path / "two" / "m.gguf")
    data = bytearray(two.read_bytes())
    data[-10] ^= 1  # another weight near the end
    two.write_bytes(bytes(data))
    three = gguf(tmp_path / "three" / "m.gguf")
    with open(three, "r+b") as f:  # another header value
        f.seek(100)
        f.write(b"x")

    def key(p):
        return models.converted_dir(models.ModelRef("gguf", str(p.parent), str(p), gguf_file=p.name))

    assert len({key(one), key(two), key(three)}) == 3
    assert key(one).name.startswith("m-")
