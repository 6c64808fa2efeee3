"""Numbers in prose come from the notebook (issue 28): every number written in a markdown cell must appear in a code
cell's source or a printed text output ABOVE that cell, or be a convention listed below.

How a markdown cell is read:
- A number is a run of digits with an optional decimal part and exponent: "3.9 s" is 3.9, "95.8%" is 95.8, "1e-5"
  is 0.00001, "10,000" is 10000 (commas between groups of three digits; code may write 10000 or 10_000). Numbers
  are compared by value, so "0.90" matches a printed 0.9, and "96%" does not match a printed 95.8%.
- Signs are ignored: a range "0.86-0.99" or "2 to 26" is its two ends, and "-0.74" matches a printed -0.74.
- "28x28" and "(8, 16, 24, 24)" are their numbers, each checked.
- Not numbers: digits inside a name ("conv2", "fc1", "resnet18", "F.conv2d", "03_training"), link targets and
  HTML tags, list and heading markers ("1. ", "## 3. "), notebook numbers ("04"), model names ("ResNet-18"),
  and a number named as a reference by the word before it
  (section, notebook, exercise, step, ...; also "§5" and "NN[k]" cell references, which are never evidence).
- Code spans (`...`) count as prose: a number in `maps[2, 4:8]` must be in the code above too.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT

# The conventions a notebook may write without printing them first. Keep this list short: each is a fixed fact of
# the course's model and data, not a measurement.
CONVENTIONS = {
    0.0, 1.0,  # zero and one: ranges such as [0, 1], "one channel", the identity
    255.0,  # the largest value of an 8-bit pixel
    2.0,  # the pool's size and stride; "2x2"
    3.0, 5.0,  # kernel sizes (3x3, 5x5)
    6.0, 16.0, 32.0, 64.0, 84.0, 120.0, 512.0,  # layer widths and channel counts of the SimpleCNN and LeNet
    10.0,  # MNIST's ten classes
    28.0, 224.0,  # image sizes: MNIST's 28x28, ImageNet's 224x224
}
# The word before a number that makes it a reference, not a measurement.
REFERENCE_WORDS = ("section", "sections", "notebook", "notebooks", "exercise", "exercises", "step", "steps",
                   "part", "chapter", "myth", "mistake", "question", "§", "python", "pytorch", "torch",
                   "torchvision", "version", "ipywidgets", "jupyterlab", "matplotlib", "numpy")
NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:,\d{3})+|\d+(?:_\d+)*)(\.\d+)?([eE][-+]?\d+)?(?:st|nd|rd|th)?(?!\w|\.\d)|"
                    r"(?<![\w.])(\d+)(?=x\d)|(?<=\dx)(\d+)(?![\w])")
CODE_NUMBER = re.compile(r"(?<![\w.])(\d+(?:[_,]\d+)*)(\.\d+)?([eE][-+]?\d+)?")
YEAR_CITATION = re.compile(r"(?:et al\.?,?|\(|,)\s*((?:19|20)\d\d)[a-z]?\)?|\b((?:19|20)\d\d)[a-z]?\)")


def _value(whole: str, fraction: str | None, exponent: str | None) -> float:
    return float(whole.replace(",", "").replace("_", "") + (fraction or "") + (exponent or ""))


def _strip(markdown: str) -> str:
    """The markdown without what is not prose: link targets, HTML tags, list and heading markers, URLs."""
    text = re.sub(r"\]\([^)]*\)", "]", markdown)
    text = re.sub(r"<[^>]+>", " ", text)
    text = re.sub(r"https?://\S+", " ", text)
    text = re.sub(r"^\s*(?:#+\s*)?\d+[.)]\s", " ", text, flags=re.M)  # "1. item", "## 3. Title"
    text = re.sub(r"\*\*\d+\.", " ", text)  # "**4.** ..." numbers an exercise
    text = re.sub(r"\b\d\d\[\d+\]", " ", text)  # cell references such as 05[42]
    text = re.sub(r"\b0\d\b", " ", text)  # notebook numbers: 00 to 09, as in "04 · Capturing"
    text = re.sub(r"(?<=[A-Za-z])-\d+", " ", text)  # names such as ResNet-18
    return text


def prose_numbers(markdown: str) -> list[tuple[str, float]]:
    """(as written, value) for every number in a markdown cell's prose, references and citation years left out."""
    text = _strip(markdown)
    years = {m.start(1) if m.group(1) else m.start(2) for m in YEAR_CITATION.finditer(text)}
    found = []
    for match in NUMBER.finditer(text):
        if match.start() in years:
            continue
        before = text[:match.start()].rstrip().lower()
        if before.endswith(REFERENCE_WORDS):
            continue
        if match.group(1) is not None:
            value = _value(match.group(1), match.group(2), match.group(3))
        else:
            value = float(match.group(4) or match.group(5))
        found.append((match.group(0), value))
    return found


def source_numbers(text: str) -> set[float]:
    """Every number value in code or printed text (signs ignored; 10_000 and 10,000 read as 10000)."""
    values = set()
    for match in CODE_NUMBER.finditer(text):
        whole = match.group(1)
        parts = [whole] if "," not in whole or re.fullmatch(r"\d{1,3}(,\d{3})+", whole) else whole.split(",")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            values.add(_value(part, match.group(2) if last else None, match.group(3) if last else None))
    return values


def _outputs_text(cell) -> str:
    texts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            texts.append(output.get("text", ""))
        elif "data" in output:
            texts.append(output["data"].get("text/plain", ""))
    return "\n".join(texts)


def unsupported_numbers(notebook) -> list[tuple[int, str]]:
    """(cell index, number as written) for every prose number that nothing above it supports."""
    seen: set[float] = set()
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "markdown":
            problems += [(index, written) for written, value in prose_numbers(cell.source)
                         if value not in seen and value not in CONVENTIONS]
        elif cell.cell_type == "code":
            seen |= source_numbers(cell.source) | source_numbers(_outputs_text(cell))
    return problems


def _notebooks() -> list[Path]:
    notebooks = ROOT / "notebooks"
    return sorted(notebooks.glob("[0-9][0-9]_*.ipynb")) + sorted((notebooks / "solutions").glob("[0-9][0-9]_*.ipynb"))


def _param(path: Path):
    return pytest.param(path, id=path.relative_to(ROOT / "notebooks").as_posix())


@pytest.mark.parametrize("path", [_param(p) for p in _notebooks()])
def test_every_number_in_prose_is_printed_above(path):
    problems = unsupported_numbers(nbformat.read(path, as_version=4))
    lines = [f"{path.relative_to(ROOT).as_posix()} cell {index}: {written!r}" for index, written in problems]
    assert not problems, ("Numbers in prose that no code or printed output above supports (print them in a cell "
                          "above, or write the sentence without them):\n" + "\n".join(lines))


def _tiny(*cells):
    notebook = nbformat.v4.new_notebook()
    for kind, text, printed in cells:
        if kind == "code":
            cell = nbformat.v4.new_code_cell(text)
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)] if printed else []
        else:
            cell = nbformat.v4.new_markdown_cell(text)
        notebook.cells.append(cell)
    return notebook


def test_checker_fails_on_a_number_that_was_not_printed():
    """The issue's example: "9 of the 9216" after a cell that printed 10 (of 9216) fails, naming the cell and 9."""
    notebook = _tiny(("code", "count = (spiky > limit).sum().item()", "10 of 9216\n"),
                     ("markdown", "Clipping changes 9 of the 9216 values.", None))
    assert unsupported_numbers(notebook) == [(1, "9")]
    assert unsupported_numbers(_tiny(("code", "print(n)", "10 of 9216\n"),
                                     ("markdown", "Clipping changes 10 of the 9216 values.", None))) == []


def test_checker_reads_only_what_is_above():
    notebook = _tiny(("markdown", "It takes 3.9 s per epoch.", None), ("code", "x", "3.9 s per epoch\n"))
    assert unsupported_numbers(notebook) == [(0, "3.9")]


@pytest.mark.parametrize("prose, printed, unsupported", [
    ("95.8% of the digits", "95.8%", []),
    ("clipped at the 99.9th percentile", "clip=(0, 99.9)", []),
    ("about 96% of the digits", "95.8%", ["96"]),
    ("a learning rate of 1e-5", "lr = 1e-5", []),
    ("10,000 digits", "n = 10_000", []),
    ("from 0.86 to 0.99, or 0.86-0.99", "0.86 0.99", []),
    ("mean -0.74 and std 0.62", "-0.74 0.62", []),
    ("a 24x24 map and a 7x7 one", "24", ["7", "7"]),
    ("conv2 and fc1 of resnet18, `F.conv2d`", "", []),
    ("see section 4, notebook 03 and exercise 2; 05[42]; # 04 · Hooks", "", []),
    ("a ResNet-18 and a VGG-16", "", []),
    ("Adebayo et al. (2018) showed it, in (NeurIPS 2018)", "", []),
    ("in 2018 digits", "", ["2018"]),
    ("1. first\n2. second\n## 3. Title\n**4.** An exercise. **5. A titled one.**", "", []),
    ("a [link](https://example.org/a/123) to 7", "7", []),
    ("`maps[2, 4:8]`", "maps[3, :4]", ["8"]),
])
def test_checker_reads_numbers_as_the_docstring_says(prose, printed, unsupported):
    notebook = _tiny(("code", "", printed), ("markdown", prose, None))
    assert [written for _, written in unsupported_numbers(notebook)] == unsupported
