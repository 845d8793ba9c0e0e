"""Schemathesis hooks for tests/it/api_schemathesis.rs.

Reusing an Idempotency-Key for a different request is refused with 422 by design, a rule that
depends on earlier requests and so cannot be stated in the schema. Generated keys repeat often
("0", "A", ...), so each schema-valid key gets a unique suffix (staying valid): every other
schema-valid request must then succeed, a check this keeps strict. Idempotency itself is tested
in tests/it/api_reprocess.rs and tests/it/api_race.rs.
"""

import re
import uuid

import schemathesis

# Valid keys short enough to take a 33-character suffix within the 255-character limit.
SUFFIXABLE = re.compile(r"^[!-~]{1,222}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    for name in list(headers):
        value = headers[name]
        if name.lower() == "idempotency-key" and isinstance(value, str) and SUFFIXABLE.match(value):
            headers[name] = f"{value}-{uuid.uuid4().hex}"
