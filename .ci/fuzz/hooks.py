"""Schemathesis hooks for .ci/openapi-fuzz: every request is signed in with a bearer access
token of the fuzz account (an admin, signed in by password). The token is fetched again each
minute, and at once after a 401 (the fuzzer may sign that session out, or the token expire).
A request that names a client app names the configured one."""
import os

import requests
import schemathesis


@schemathesis.auth(refresh_interval=60)
class PasswordSignIn:
    def get(self, case, context):
        answer = requests.post(
            f"{os.environ['FUZZ_BASE']}/v1/auth/sign-in/email-password",
            json={"email": os.environ["FUZZ_EMAIL"], "password": os.environ["FUZZ_PASSWORD"]},
            timeout=30,
        )
        if answer.status_code != 200 or "access_token" not in answer.json():
            raise RuntimeError(f"the fuzz account cannot sign in: {answer.status_code} {answer.text}")
        return answer.json()["access_token"]

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
        # The configured client app's key, not a generated one (which only ever meets the
        # 401 `invalid_client` at the door, hiding the route behind it).
        if "x-api-key" in case.headers:
            case.headers["x-api-key"] = os.environ["FUZZ_CLIENT_KEY"]
