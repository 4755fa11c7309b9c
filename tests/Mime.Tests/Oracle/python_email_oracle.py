#!/usr/bin/env python3
"""Independent oracle for the MIME tests: what Python's standard `email` package decodes.

Reads file paths (one per line) on stdin. For every file prints one JSON line:
  {"file": path, "parts": [{"path": "1.2", "type": "image/png", "filename": "...", "disposition": "attachment",
                             "sha256": "...", "size": 123}, ...]}
covering every non-multipart part. Paths are IMAP-style like Detach.Mime's MimeEntity.Path: children of a
multipart are numbered from 1; an encapsulated message that is itself multipart shares its part's number, a
single-part one is "<part>.1". Payloads come from get_payload(decode=True) (None for message/* parts).
"""
import email
import email.policy
import hashlib
import json
import sys


def child_path(parent, index):
    return str(index) if parent == "" else f"{parent}.{index}"


def walk(msg, path, out):
    # Iterative, so that deep nesting does not hit Python's recursion limit.
    stack = [(msg, path, True)]
    while stack:
        part, p, is_message_root = stack.pop()
        if part.is_multipart() and isinstance(part.get_payload(), list):
            payload = part.get_payload()
            if part.get_content_maintype() == "message":
                # message/rfc822 and friends: payload is [inner message]
                for inner in reversed(payload):
                    inner_path = p if inner.is_multipart() and inner.get_content_maintype() == "multipart" else ((p or "1") + ".1")
                    stack.append((inner, inner_path, True))
                out.append(describe(part, p or "1", None))
                continue
            for i in range(len(payload) - 1, -1, -1):
                stack.append((payload[i], child_path(p, i + 1), False))
            continue
        out.append(describe(part, p or "1", part))


def describe(part, path, payload_part):
    try:
        filename = part.get_filename()
    except Exception as e:  # noqa: BLE001 - report, do not crash the oracle
        filename = f"<error {type(e).__name__}>"
    disposition = part.get_content_disposition()
    entry = {"path": path, "type": part.get_content_type(), "filename": filename, "disposition": disposition,
             "sha256": None, "size": None}
    if payload_part is not None:
        try:
            data = payload_part.get_payload(decode=True)
        except Exception as e:  # noqa: BLE001
            data = None
            entry["error"] = type(e).__name__
        if isinstance(data, bytes):
            entry["sha256"] = hashlib.sha256(data).hexdigest()
            entry["size"] = len(data)
    return entry


def main():
    for line in sys.stdin:
        path = line.rstrip("\n")
        if not path:
            continue
        parts = []
        try:
            with open(path, "rb") as f:
                data = f.read()
            # message_from_bytes, not message_from_binary_file: the latter reads through a TextIOWrapper with
            # universal newlines, which turns CRLF into LF inside 7bit/8bit/quoted-printable payloads.
            msg = email.message_from_bytes(data, policy=email.policy.compat32)
            walk(msg, "", parts)
            print(json.dumps({"file": path, "parts": parts}))
        except Exception as e:  # noqa: BLE001
            print(json.dumps({"file": path, "error": f"{type(e).__name__}: {e}", "parts": parts}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
