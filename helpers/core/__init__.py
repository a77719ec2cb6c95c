"""Stage 0, used by every chapter (00 introduces it): which model (`model.select_model`, the one resolver),
the stored configs (`configs`), the chat-template inputs (`chat`), the tiny offline fixtures (`fixtures`),
paths, errors, units (`units`), DataFrame tables (`tables`), fonts, hardware profiles, the environment
report, the notebook runner (`runner`), key figures (`records`), run records (`run_record`) and their
comparison (`compare`)."""
