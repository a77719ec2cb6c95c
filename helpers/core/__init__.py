"""Stage 0, used by every chapter (00 introduces it): which model (`model.select_model`, the one resolver),
the stored configs (`configs`), the chat-template inputs (`chat`), the tiny offline fixtures (`fixtures`),
paths, errors, units (`units`), DataFrame tables (`tables`), fonts, hardware profiles, the environment
report and the notebook runner (`runner`)."""
