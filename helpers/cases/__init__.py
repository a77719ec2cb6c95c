"""Stage 6, chapters 07-09 (case studies): synthetic documents with ground truth (`documents`, `doc_render`,
`medical_docs`, `financial_docs`), the OCR baseline (`ocr`), scoring (`evaluation`), the document pipeline
(`pipeline`), domain checks (`domain_checks`) and long-document budgets (`long_documents`)."""
