#!/usr/bin/python3
"""Sums meson testlog.json files, *.fail.json markers and pytest junit XML files in a
results directory and prints the plain closing line "N passed, N failed[, N skipped]".
Exit status 1 when anything failed or nothing ran at all."""
import glob
import json
import os
import sys
import xml.etree.ElementTree as ET

d = sys.argv[1]
passed = failed = skipped = 0
failures = []
for path in sorted(glob.glob(os.path.join(d, "*.testlog.json"))):
    tag = os.path.basename(path).split(".")[0]
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            t = json.loads(line)
            r = t.get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                passed += 1
            elif r == "SKIP":
                skipped += 1
                failures.append(f"{tag}: {t['name']} (skipped: counts as a failure here)")
                failed += 1
            else:
                failed += 1
                failures.append(f"{tag}: {t['name']} ({r})")
for path in sorted(glob.glob(os.path.join(d, "*.fail.json"))):
    with open(path) as f:
        t = json.load(f)
    failed += 1
    failures.append(t["name"])
for path in sorted(glob.glob(os.path.join(d, "*.junit.xml"))):
    tag = os.path.basename(path).split(".")[0]
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            failures.append(f"{tag}: {name}")
        elif case.find("skipped") is not None:
            failed += 1
            failures.append(f"{tag}: {name} (skipped: counts as a failure here)")
        else:
            passed += 1
if failures:
    print("\nFailed:")
    for f in failures:
        print("  " + f)
if passed + failed == 0:
    print("no test ran")
    failed = 1
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
