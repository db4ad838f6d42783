"""Checks the audit log's checkpoints and proofs independently of the
service's code: RFC 9162's verification algorithms (2.1.3.2, 2.1.4.2) as the
RFC writes them, and the C2SP signed note's Ed25519 signature with the
`cryptography` package.

Reads a JSON document on standard input:
  {"verifier_key": "...", "checkpoints": [note, ...],
   "inclusions": [{"event_hash": hex, "leaf_index": n, "checkpoint": i, "hashes": [hex]}],
   "consistencies": [{"first": i, "second": j, "hashes": [hex]}]}
and prints {"signatures": [bool], "inclusions": [bool], "consistencies": [bool]}.
"""

import base64
import hashlib
import json
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


def sha256(data):
    return hashlib.sha256(data).digest()


def leaf_hash(data):
    return sha256(b"\x00" + data)


def node_hash(left, right):
    return sha256(b"\x01" + left + right)


def parse_verifier_key(vkey):
    name, key_hash, key = vkey.split("+", 2)
    raw = base64.b64decode(key)
    assert raw[0] == 1, "an Ed25519 key"
    public = raw[1:]
    assert sha256(name.encode() + b"\n" + b"\x01" + public)[:4].hex() == key_hash
    return name, bytes.fromhex(key_hash), Ed25519PublicKey.from_public_bytes(public)


def open_note(note, key):
    """The note's text if it carries a valid signature by `key`, else None."""
    name, key_hash, public = key
    text, signatures = note.rsplit("\n\n", 1)
    text += "\n"
    for line in signatures.splitlines():
        if not line.startswith("\u2014 "):
            return None
        signer, signature = line[2:].split(" ", 1)
        signature = base64.b64decode(signature)
        if signer != name or signature[:4] != key_hash:
            continue
        try:
            public.verify(signature[4:], text.encode())
            return text
        except InvalidSignature:
            return None
    return None


def checkpoint(text):
    origin, size, root = text.split("\n")[:3]
    return origin, int(size), base64.b64decode(root)


def verify_inclusion(index, size, leaf, proof, root):
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, proof):
    if first == second:
        return not proof and first_root == second_root
    if not proof or first > second:
        return False
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def main():
    doc = json.load(sys.stdin)
    key = parse_verifier_key(doc["verifier_key"])
    texts = [open_note(note, key) for note in doc["checkpoints"]]
    trees = [checkpoint(t) if t else None for t in texts]
    inclusions = []
    for p in doc.get("inclusions", []):
        tree = trees[p["checkpoint"]]
        ok = tree is not None and verify_inclusion(
            p["leaf_index"],
            tree[1],
            leaf_hash(bytes.fromhex(p["event_hash"])),
            [bytes.fromhex(h) for h in p["hashes"]],
            tree[2],
        )
        inclusions.append(ok)
    consistencies = []
    for p in doc.get("consistencies", []):
        first, second = trees[p["first"]], trees[p["second"]]
        ok = (
            first is not None
            and second is not None
            and verify_consistency(
                first[1], second[1], first[2], second[2], [bytes.fromhex(h) for h in p["hashes"]]
            )
        )
        consistencies.append(ok)
    json.dump(
        {
            "signatures": [t is not None for t in texts],
            "inclusions": inclusions,
            "consistencies": consistencies,
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
