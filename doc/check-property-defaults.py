#!/usr/bin/env python3
# check-property-defaults.py: every property of the GIR says its default in
# its documentation ("Default: ...")
#
# SPDX-FileCopyrightText: 2026 The ep-glib authors
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   check-property-defaults.py Ep-1.0.gir

import sys
import xml.etree.ElementTree as ET

NS = {"core": "http://www.gtk.org/introspection/core/1.0"}


def main(gir):
    missing = []
    count = 0
    for cls in ET.parse(gir).getroot().iterfind("core:namespace/core:class", NS):
        for prop in cls.iterfind("core:property", NS):
            count += 1
            doc = prop.find("core:doc", NS)
            if doc is None or "Default:" not in (doc.text or ""):
                missing.append("%s:%s" % (cls.get("name"), prop.get("name")))
    if missing:
        print("properties whose documentation does not say \"Default: ...\":")
        for name in missing:
            print("  " + name)
        return 1
    print("all %d properties say their default" % count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
