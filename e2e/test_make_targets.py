"""The `make` targets the README names exist in the Makefile (with the help text `make`
users read), and the bench's import-loop check finds none."""
import re
import subprocess
import sys

from conftest import ROOT


def test_every_make_target_the_readme_names_exists():
    readme = (ROOT / "README.md").read_text()
    para = readme.split("Other `make` targets:")[1].split("\n\n")[0]
    while re.search(r"\([^()]*\)", para):
        para = re.sub(r"\([^()]*\)", "", para)  # what a target does, in parentheses
    named = {n.split()[0] for n in re.findall(r"`([^`]+)`", para)}
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([\w-]+):", makefile, re.M))
    assert named and named <= targets, named - targets


def test_the_source_has_no_import_loops():
    run = subprocess.run([sys.executable, str(ROOT / "tools" / "import_loops.py"), str(ROOT / "core" / "src"), str(ROOT / "src")],
                         capture_output=True, text=True)
    assert run.returncode == 0, run.stdout
