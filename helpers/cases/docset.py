"""The document-set format of the case studies: images + questions + ground truth, on disk.

A *document* is images + questions + ground-truth fields (``field -> value``), stored as PNGs beside one
``ground_truth.json``; a set in this format runs through helpers.cases.pipeline as it is
(helpers.cases.documents builds the visual-QA set in it).

Example:
    >>> import tempfile
    >>> from PIL import Image
    >>> doc = Document("d1", "note", [], {"q": "What?"}, {"q": "x"})
    >>> folder = write_document_set(Path(tempfile.mkdtemp()) / "set", [(doc, [Image.new("RGB", (8, 8))])], {})
    >>> [d.truth for d in load_documents(folder)]
    [{'q': 'x'}]
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from helpers.core.errors import WorkbookError
from helpers.core.paths import atomic_folder

GROUND_TRUTH = "ground_truth.json"


class DocumentSetError(WorkbookError, ValueError):
    """A document folder is missing or malformed."""


@dataclass
class Document:
    """One document: its images (paths), questions and ground truth per field.

    `types` says "string" or "number" per field, `langs` the question's language ("zh"/"en"),
    `ocr_rules` how the OCR baseline should look for each field (optional).
    """

    id: str
    kind: str
    images: list[Path]
    questions: dict[str, str]
    truth: dict[str, Any]
    types: dict[str, str] = field(default_factory=dict)
    langs: dict[str, str] = field(default_factory=dict)
    ocr_rules: dict[str, dict[str, Any]] = field(default_factory=dict)

    def open_images(self) -> list[Any]:
        """The images as RGB PIL images."""
        from PIL import Image

        return [Image.open(p).convert("RGB") for p in self.images]

    def to_json(self, root: Path) -> dict[str, Any]:
        data = asdict(self)
        data["images"] = [str(Path(p).relative_to(root)) for p in self.images]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any], root: Path) -> Document:
        data = dict(data)
        data["images"] = [root / p for p in data["images"]]
        return cls(**data)


def write_document_set(dest: Path, entries: list[tuple[Document, list[Any]]], meta: dict[str, Any]) -> Path:
    """Write documents and their PIL images to `dest` atomically (temp folder, then rename).

    Each entry's `Document.images` is ignored and replaced by ``<id>_<n>.png`` paths.

    Example:
        >>> import tempfile
        >>> from PIL import Image
        >>> doc = Document("d1", "note", [], {"q": "What?"}, {"q": "x"})
        >>> entries = [(doc, [Image.new("RGB", (64, 64))])]
        >>> write_document_set(Path(tempfile.mkdtemp()) / "set", entries, {}).name
        'set'
    """
    dest = Path(dest)
    with atomic_folder(dest) as tmp:
        docs = []
        for doc, images in entries:
            doc.images = []
            for n, img in enumerate(images):
                path = tmp / f"{doc.id}_{n}.png"
                img.save(path, optimize=False)
                doc.images.append(path)
            docs.append(doc.to_json(tmp))
        payload = {"meta": meta, "documents": docs}
        (tmp / GROUND_TRUTH).write_text(
            json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
        )
    return dest


def load_documents(folder: Path) -> list[Document]:
    """Read a document set written by `write_document_set`.

    Example:
        >>> load_documents(Path("/nonexistent"))  # doctest: +SKIP
        DocumentSetError: /nonexistent has no ground_truth.json: build the set first …
    """
    folder = Path(folder)
    gt = folder / GROUND_TRUTH
    if not gt.is_file():
        raise DocumentSetError(
            f"{folder} has no {GROUND_TRUTH}: build the set first "
            "(e.g. helpers.cases.documents.build_vqa_set())"
        )
    try:
        payload = json.loads(gt.read_text(encoding="utf-8"))
        docs = [Document.from_json(d, folder) for d in payload["documents"]]
    except (KeyError, TypeError, json.JSONDecodeError) as err:
        raise DocumentSetError(
            f"{gt} is malformed ({type(err).__name__}: {err}); delete the folder and rebuild it"
        ) from None
    for doc in docs:
        for p in doc.images:
            if not p.is_file():
                raise DocumentSetError(f"{doc.id}: image {p.name} is missing from {folder}; rebuild the set")
    return docs
