"""MkDocs hook: publish the example notebooks (``notebooks/*.ipynb``) and their percent-format sources
(``notebooks/src/*.py``) from the repository under ``notebooks/`` of the site, without copying them into
``docs/``. Runs before mkdocs-jupyter's ``on_files``, which then renders the notebooks as pages."""

from __future__ import annotations

from pathlib import Path

from mkdocs.plugins import event_priority
from mkdocs.structure.files import File, Files

NOTEBOOKS = "notebooks"


@event_priority(100)
def on_files(files: Files, config) -> Files:
    root = Path(config["config_file_path"]).parent
    for pattern in ("*.ipynb", "src/*.py"):
        for path in sorted((root / NOTEBOOKS).glob(pattern)):
            files.append(File(path.relative_to(root).as_posix(), src_dir=str(root), dest_dir=config["site_dir"],
                              use_directory_urls=config["use_directory_urls"]))
    return files
