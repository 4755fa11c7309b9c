#!/usr/bin/env python3
"""Independent oracle for the MIME tests: what Python's standard `email` package decodes.

Reads file paths (one per line) on stdin. For every file prints one JSON line:
  {"file": path, "parts": [{"path": "1.2", "type": "image/png", "filename": "...", "disposition": "attachment",
                             "sha256": "...", "size": 123}, ...]}
covering every non-multipart part. Paths are IMAP-style like Detach.Mime's MimeEntity.Path: children of a
multipart are numbered from 1; an encapsulated message that is itself multipart shares its part's number, a
single-part one is "<part>.1". Payloads come from get_payload(decode=True) (None for message/* parts).
"""
import binascii
import email
import email.policy
import hashlib
import json
import re
import sys

BEGIN = re.compile(rb"^begin [0-7]{3,4} (.+?)[ \t]*$")


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
        out.extend(uu_blocks(part, p or "1"))


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


def uu_blocks(part, path):
    """uuencoded files inside a plain-text body, decoded with binascii.a2b_uu; paths "<part>:uuN"."""
    cte = (part.get("content-transfer-encoding") or "7bit").strip().lower()
    if part.get_content_type() != "text/plain" or cte not in ("7bit", "8bit", "binary", "") or part.get_filename():
        return []
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return []
    found = []
    lines = data.split(b"\n")
    i = 0
    while i < len(lines):
        m = BEGIN.match(lines[i].rstrip(b"\r"))
        if not m:
            i += 1
            continue
        out = []
        j = i + 1
        ok = False
        while j < len(lines):
            line = lines[j].rstrip(b"\r")
            if line.rstrip(b" \t") == b"end":
                ok = True
                break
            try:
                out.append(binascii.a2b_uu(line))
            except binascii.Error:
                try:
                    # Workaround for broken uuencoders (as in email.message._decode_uu)
                    nbytes = (((line[0] - 32) & 63) * 4 + 5) // 3
                    out.append(binascii.a2b_uu(line[:nbytes]))
                except (binascii.Error, IndexError):
                    break
            j += 1
        if ok and out:
            blob = b"".join(out)
            found.append({"path": f"{path}:uu{len(found) + 1}", "type": "application/octet-stream",
                          "filename": m.group(1).decode("utf-8", "surrogateescape"), "disposition": "attachment",
                          "sha256": hashlib.sha256(blob).hexdigest(), "size": len(blob)})
            i = j + 1
        else:
            i += 1
    return found


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
