"""Remove credentials from text before it reaches a log line, an email or a chat message.

Every free text that leaves the process (exception messages, report details,
a response body quoted in a warning) goes through :func:`redact`. It works on
two layers: the secret values the caller knows (exact matches, also in their
URL-encoded forms), and patterns that catch credentials the caller did not
know were there (a password inside a connection string quoted by a driver's
error message, a signed URL, a chat webhook whose path *is* the token).
Redaction is deliberately greedy: hiding a harmless ``monkey=`` value is a
fair price for never printing an ``api_key=``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

from shared.secret import Secret

MASK = "***"

# scheme://user:password@host -> the password runs to the last "@" before the
# path, so an unencoded "@" inside it is still hidden rather than half-shown.
_URI_PASSWORD = re.compile(
    r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/?#@\s]*:)(?P<password>[^/\s]*)@", re.IGNORECASE
)

# name=value where the name ends in a credential word: query strings
# (?sig=, &X-Goog-Signature=, &access_token=) and "key=value" free text.
_CREDENTIAL_PARAMETER = re.compile(
    r"(?P<head>(?<![\w-])[\w.-]*?"
    r"(?:password|passwd|passphrase|pwd|token|key|sig|signature|secret|credentials?|auth)=)"
    r"(?P<value>[^&#\s;,'\"<>]+)",
    re.IGNORECASE,
)

# Chat webhooks carry their token in the path: keep the host (useful to know
# which service failed), hide everything after it.
_WEBHOOK_PATH = re.compile(
    r"(?P<head>https?://(?:hooks\.slack\.com/(?:services|workflows|triggers)/"
    r"|(?:[\w-]+\.)*webhook\.office\.com/"
    r"|outlook\.office(?:365)?\.com/webhook/"
    r"|(?:[\w-]+\.)*logic\.azure\.com(?::\d+)?/"
    r"|(?:[\w-]+\.)*api\.powerplatform\.com(?::\d+)?/))"
    r"[^\s'\"<>]+",
    re.IGNORECASE,
)


def _secret_forms(secrets: Iterable[str | Secret]) -> list[str]:
    """The literal strings to hide, longest first so a secret containing another goes whole."""
    forms: set[str] = set()
    for secret in secrets:
        value = secret.reveal() if isinstance(secret, Secret) else secret
        if value:
            forms.update((value, quote(value, safe=""), quote_plus(value)))
    return sorted(forms, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str | Secret] = ()) -> str:
    """Return ``text`` with known secrets and credential-shaped substrings replaced by ``***``.

    Known values go first, so a password is hidden even where no pattern
    would recognise it; the patterns then catch what nobody listed.
    """
    for form in _secret_forms(secrets):
        text = text.replace(form, MASK)
    text = _URI_PASSWORD.sub(rf"\g<head>{MASK}@", text)
    text = _WEBHOOK_PATH.sub(rf"\g<head>{MASK}", text)
    return _CREDENTIAL_PARAMETER.sub(rf"\g<head>{MASK}", text)


def redact_uri(uri: str) -> str:
    """Show where a URI points, not how to get in: scheme, user, hosts and path only.

    ``mongodb+srv://backup:pw@cluster0.example.net/eyewear_ml?authSource=admin``
    becomes ``mongodb+srv://backup@cluster0.example.net/eyewear_ml``. The
    password is dropped rather than masked, and so are the query and fragment
    (connection options, signatures), because this is an identity for logs and
    manifests, not a usable address. Multi-host MongoDB URIs keep every host.
    """
    scheme, separator, rest = uri.partition("://")
    if not separator:
        return redact(uri)
    authority, slash, path = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    hosts = re.split(r"[?#]", hosts, maxsplit=1)[0]
    path = re.split(r"[?#]", path, maxsplit=1)[0]
    user = userinfo.partition(":")[0]
    netloc = f"{user}@{hosts}" if at else hosts
    return redact(f"{scheme}://{netloc}{slash}{path}")
