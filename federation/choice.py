"""Which member takes a launch: the key of a launch path, and the two rules.

* **rendezvous** (the default): weighted rendezvous (highest random weight) hashing of the
  repository. Each member scores ``weight / -ln(u)``, ``u`` a uniform number in (0, 1) from a
  64-bit BLAKE2b hash of the key and the member's name; the highest score wins. ``-ln(u)`` is
  exponentially distributed, so a member wins a share ``weight / sum(weights)`` of the keys;
  removing a member moves only its own keys (every other key keeps its highest scorer).
  Every ref of a repository has one key, so its launches go to one member, whose registry
  and nodes already hold its image.
* **random**: weighted random per launch. Spreads load more evenly from the first launch;
  use it once members share images (a common registry or replication), as mybinder.org did
  in May 2026 (notes in ``../shared/notes/federation.md``).

Pure functions: the service and the tests share them.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from urllib.parse import unquote

#: Paths the redirector decides: BinderHub's build API and its launch (badge) links.
#: https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/app.py#L996-L1015
LAUNCH_PREFIXES = ("/build/", "/v2/")
#: Providers whose spec ends with a ref (``owner/repo/ref``; GitLab and git URLs escaped
#: into one segment before the ref). Their last segment is removed from the key. Other
#: providers (Zenodo, Figshare, Hydroshare, Dataverse, CKAN, a DOI) name one immutable
#: record and keep the whole spec.
#: https://github.com/jupyterhub/binderhub/blob/b9fad995d5529e487c25a9f0795f4fe150a96f25/binderhub/repoproviders.py
REF_PROVIDERS = frozenset({"gh", "gl", "git", "gist"})

_SCALE = float(2**64 + 1)


def launch_key(path: str) -> str | None:
    """The load-balancing key of a launch path, or None if the path is no launch.

    ``/build/gh/Org/Repo/main`` and ``/v2/gh/org/repo/HEAD?urlpath=lab`` both give
    ``gh/org/repo``: lower-cased, ref removed, query dropped.
    """
    path = path.split("?", 1)[0]
    for prefix in LAUNCH_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix):]
            break
    else:
        return None
    provider, _, spec = rest.partition("/")
    provider, spec = provider.lower(), spec.strip("/").lower()
    if not provider or not spec:
        return None
    if provider in REF_PROVIDERS and "/" in spec:
        spec = spec.rsplit("/", 1)[0]
    # One key whether or not a client escaped the path ('%2f' or '/').
    return f"{provider}/{unquote(spec)}"


def _uniform(key: str, member: str) -> float:
    digest = hashlib.blake2b(f"{key}\n{member}".encode(), digest_size=8).digest()
    # (h + 1) / (2**64 + 1): strictly inside (0, 1), so -ln(u) is finite and positive.
    return (int.from_bytes(digest, "big") + 1) / _SCALE


def rendezvous(candidates: Sequence[tuple[str, float]], key: str) -> str:
    """The member with the highest weighted score for ``key`` (weights > 0)."""
    best, best_score = "", -1.0
    for name, weight in candidates:
        score = weight / -math.log(_uniform(key, name))
        if score > best_score:
            best, best_score = name, score
    return best


def weighted_random(candidates: Sequence[tuple[str, float]], rng: random.Random) -> str:
    """A member drawn with probability proportional to its weight (weights > 0)."""
    names = [name for name, _ in candidates]
    return rng.choices(names, weights=[weight for _, weight in candidates])[0]
