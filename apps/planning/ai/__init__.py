"""
The AI planner's own parts (SPEC.md section 7.3).

Pure modules, with no Django import (a test walks their imports): ``sanitizer`` (no
secret leaves), ``spotlight`` (untrusted text as delimited data), ``context`` (the facts a
model is shown, within a token budget), ``prompts`` (the system prompt, the answer's JSON
schema, the repair prompt) and ``fallback`` (the deterministic planner). ``selectors``
is the Django side: it loads the facts of an organization.
"""
