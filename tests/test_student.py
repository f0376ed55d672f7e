"""Exercises and student versions of the notebooks (issue 15 point 4; generator: ``python -m adlib.student``)."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from adlib import student

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["00_metrics.ipynb", "01_rd_variance_loss.ipynb", "02_mrkd.ipynb", "03_daf.ipynb", "04_mhkd.ipynb",
         "05_dm_grd.ipynb", "10_your_data.ipynb", "90_reproduce_tables.ipynb"]


def read(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", NAMES)
def test_every_exercise_has_a_solution_and_an_answer(name):
    nb = read(name)
    found = student.exercises(nb, name)  # raises ExerciseError on a cell without a solution block
    assert 2 <= len(found) <= 4, (name, len(found))
    assert [e["number"] for e in found] == list(range(1, len(found) + 1))
    for e in found:
        assert e["solution"].strip(), (name, e["number"])
        assert e["answer"].startswith(f"**Answer {e['number']}.**"), (name, e["number"])
    assert any(c.cell_type == "markdown" and c.source.startswith("## Recap") for c in nb.cells), name
    check = [c.source for c in nb.cells if c.cell_type == "markdown" and c.source.startswith("## Check your understanding")]
    assert len(check) == 1 and "<details>" in check[0] and all(f"\n{k}. " in check[0] for k in (1, 2, 3)), name


def test_exercise_cells_follow_the_convention():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("**Exercise 1.** Predict."),
                nbformat.v4.new_code_cell("x = 1\n    # BEGIN SOLUTION\n    y = x\n    # END SOLUTION\nprint(y)",
                                          metadata={"tags": ["exercise"]}),
                nbformat.v4.new_markdown_cell("**Answer 1.** y is 1.", metadata={"tags": ["solution"]})]
    out = student.student_notebook(nb)
    assert [c.cell_type for c in out.cells] == ["markdown", "code"]  # the answer is not in the student version
    assert out.cells[1].source == ('x = 1\n    raise NotImplementedError("Exercise 1: write your code here '
                                   '(see the question above)")\nprint(y)')
    assert "y = x" in student.solutions_markdown(nb, "toy.ipynb") and "y is 1." in student.solutions_markdown(nb, "toy.ipynb")
    nb.cells[1].source = "y = 1"  # no solution block
    with pytest.raises(student.ExerciseError, match="BEGIN SOLUTION"):
        student.exercises(nb)
    nb.cells[1].source = "# BEGIN SOLUTION\ny = 1\n# END SOLUTION"
    nb.cells[0].source = "Predict."  # no heading
    with pytest.raises(student.ExerciseError, match=r"\*\*Exercise 1\.\*\*"):
        student.exercises(nb)


def test_student_versions_are_up_to_date():
    """The committed notebooks/student/ files are what the generator makes from the notebooks now."""
    files = student.build(NOTEBOOKS)
    assert {p.name for p in files} == set(NAMES) | {Path(n).stem + ".md" for n in NAMES}
    stale = [str(p.relative_to(NOTEBOOKS)) for p, text in files.items() if not p.is_file() or p.read_text() != text]
    assert not stale, f"run `python -m adlib.student`: out of date {stale}"
    for name in NAMES:
        nb = nbformat.read(NOTEBOOKS / "student" / name, as_version=4)
        assert not any("BEGIN SOLUTION" in c.source for c in nb.cells), name
        assert all(c.outputs == [] for c in nb.cells if c.cell_type == "code"), name
        assert [c.id for c in nb.cells] == [c.id for c in read(name).cells if "solution" not in c.metadata.get("tags", [])]


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_student_version_runs_to_its_first_stub(name, tmp_path, monkeypatch):
    """Executed with papermill at its defaults, the student notebook raises nothing before its first stub and
    NotImplementedError there. Only the cells up to that stub run (a truncated copy), to keep it cheap."""
    papermill = pytest.importorskip("papermill")
    monkeypatch.setenv("ADLIB_DATA", str(tmp_path / "data"))  # the kernel inherits it (synthetic data is made there)
    nb = nbformat.read(NOTEBOOKS / "student" / name, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", []))
    nb.cells = nb.cells[:first + 1]
    src = tmp_path / name
    nbformat.write(nb, src)
    params = {"runs_dir": str(tmp_path / "runs")} if name.startswith("90") else {"output_dir": str(tmp_path / "runs")}
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(src), str(tmp_path / ("out_" + name)), parameters=params, cwd=str(tmp_path),
                                   kernel_name="python3", progress_bar=False)
    assert err.value.ename == "NotImplementedError" and "Exercise 1:" in err.value.evalue, (err.value.ename, err.value.evalue)
    assert "raise NotImplementedError" in err.value.source  # it stopped at the stub, the last cell kept
