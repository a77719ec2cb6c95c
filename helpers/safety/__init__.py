"""Stage 5, chapter 08 (and 07, 09): safety middleware for the document case studies: redaction,
prompt-injection
flags, medical policy. Modules: redaction, injection, policy, middleware, cli.

Example:
    >>> from helpers.safety import redact, find_injections, apply_medical_policy
    >>> redact("电话：13912345678，总资产 ¥8,450,000").text
    '电话：[PHONE]，总资产 ¥8,450,000'

CLI: ``qwen3vl redact < in.txt > out.txt`` (the counts go to stderr).
"""

from helpers.safety.injection import InjectionFlag, find_injections, quarantine
from helpers.safety.middleware import (
    RedactingFilter,
    SafeBackend,
    SafetyError,
    SafetyTrace,
    install_log_redaction,
    safe_prompt,
    save_redacted,
)
from helpers.safety.policy import DISCLAIMER_EN, DISCLAIMER_ZH, PolicyResult, apply_medical_policy
from helpers.safety.redaction import (
    Finding,
    RedactionResult,
    cn_id_check_digit,
    cn_id_checksum_ok,
    contains_identifiers,
    redact,
)

__all__ = [
    "DISCLAIMER_EN",
    "DISCLAIMER_ZH",
    "Finding",
    "InjectionFlag",
    "PolicyResult",
    "RedactingFilter",
    "RedactionResult",
    "SafeBackend",
    "SafetyError",
    "SafetyTrace",
    "apply_medical_policy",
    "cn_id_check_digit",
    "cn_id_checksum_ok",
    "contains_identifiers",
    "find_injections",
    "install_log_redaction",
    "quarantine",
    "redact",
    "safe_prompt",
    "save_redacted",
]
