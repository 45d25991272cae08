"""Reads a vip-run crate with ro-crate-py, as another tool would, and prints what it found.

Usage: python read_crate.py CRATE_DIR. Prints one JSON object: the profile the root conforms
to, and per CreateAction its name, status, instrument, times, parameters, and its input and
result files with whether each file's size and SHA-256 match the bytes on disk.
"""

import hashlib
import json
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse

from rocrate.rocrate import ROCrate


def ids(value):
    if value is None:
        return []
    if not isinstance(value, list):
        value = [value]
    return value


def ref_id(value):
    """The id a reference names: an entity, a {"@id": …} object, or the id itself."""
    if hasattr(value, "id"):
        return value.id
    if isinstance(value, dict):
        return value["@id"]
    return value


def on_disk(root, entity):
    ident = entity.id
    if ident.startswith("file://"):
        return Path(unquote(urlparse(ident).path))
    return root / unquote(ident)


def check(root, entity):
    path = on_disk(root, entity)
    data = path.read_bytes()
    return {
        "id": entity.id,
        "size_ok": str(len(data)) == str(entity.get("contentSize")),
        "sha_ok": hashlib.sha256(data).hexdigest() == entity.get("sha256"),
    }


def main():
    root = Path(sys.argv[1])
    crate = ROCrate(str(root))
    conforms = [ref_id(c) for c in ids(crate.root_dataset.get("conformsTo"))]
    mentions = [ref_id(m) for m in ids(crate.root_dataset.get("mentions"))]
    actions = []
    for e in crate.get_entities():
        if "CreateAction" not in ids(e.type):
            continue
        objects = ids(e.get("object"))
        actions.append({
            "name": e.get("name"),
            "identifier": e.get("identifier"),
            "mentioned": e.id in mentions,
            "status": ref_id(e.get("actionStatus")),
            "instrument": e.get("instrument").get("name"),
            "instrument_type": e.get("instrument").type,
            "agent": e.get("agent").type,
            "start": e.get("startTime"),
            "end": e.get("endTime"),
            "parameters": {o.get("name"): o.get("value") for o in objects if "PropertyValue" in ids(o.type)},
            "inputs": [check(root, o) for o in objects if "File" in ids(o.type)],
            "results": [check(root, r) for r in ids(e.get("result"))],
        })
    tools = sorted(e.get("name") for e in crate.get_entities() if "SoftwareApplication" in ids(e.type))
    print(json.dumps({"conformsTo": conforms, "actions": actions, "software": tools}))


main()
