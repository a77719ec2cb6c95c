"""Stage 6, chapters 07-09 (case studies): synthetic documents with ground truth (`docset` the on-disk format,
`documents` the visual-QA set, `medical_docs`, `financial_docs`), drawn by one stack (`doc_render.Page`); the
OCR baselines (`ocr`, `ocr_baselines`), scoring (`evaluation`), the document pipeline (`pipeline`), the one
comparison of model, ground truth, OCR and damaged answers (`harness`), domain checks (`domain_checks`) and
long-document budgets (`long_documents`)."""
