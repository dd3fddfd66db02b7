"""Parses the script body of every PowerShell step template with the PowerShell grammar of
tree-sitter-powershell and fails on any ERROR or MISSING node. No PowerShell runs here: this
shows that Windows PowerShell 5.1 and PowerShell 7 can read each body, not what it does.

Usage: python3 parse_powershell.py TEMPLATE.json...   (tests/templates.rs runs it)
Needs: pip install tree-sitter tree-sitter-powershell
"""
import json
import sys

import tree_sitter
import tree_sitter_powershell

language = tree_sitter.Language(tree_sitter_powershell.language())
parser = tree_sitter.Parser(language)


def faults(node):
    if node.is_error or node.is_missing:
        yield node
    for child in node.children:
        yield from faults(child)


failed = False
for path in sys.argv[1:]:
    template = json.load(open(path, encoding="utf-8"))
    properties = template["Properties"]
    if properties["Octopus.Action.Script.Syntax"] != "PowerShell":
        continue
    body = properties["Octopus.Action.Script.ScriptBody"].encode("utf-8")
    tree = parser.parse(body)
    found = list(faults(tree.root_node))
    for node in found:
        line = body.split(b"\n")[node.start_point[0]].decode("utf-8")
        kind = "MISSING " + node.type if node.is_missing else "ERROR"
        print(f"{path}:{node.start_point[0] + 1}:{node.start_point[1] + 1}: {kind}: {line.strip()}")
    failed = failed or bool(found)
    print(f"{path}: {'does not parse' if found else 'parses'}")
sys.exit(1 if failed else 0)
