"""Checks the script body of every PowerShell step template for what a parse alone cannot
see, with the PowerShell grammar of tree-sitter-powershell (and tree-sitter-bash for the
twins). No PowerShell runs here: these checks say what can be known from the text.

  parse      the body parses: no ERROR or MISSING node.
  spelling   no variable is spelled two ways (PowerShell names ignore case, so `$runkey` and
             `$runKey` are one variable; `$env:` names differ by case on Linux), apart from
             PowerShell's automatic and preference variables.
  ps51       no syntax, cmdlet, parameter or variable that Windows PowerShell 5.1 lacks
             (`? :`, `??`, `?.`, `&&`/`||` chains, `Join-Path` with several children,
             `-AsHashtable`, `$IsWindows`, `ForEach-Object -Parallel`, ...).
  helpers    every command the body calls is a function it defines, a helper of Calamari's
             PowerShell bootstrap, a Windows PowerShell 5.1 cmdlet from the list below, or a
             native program the body runs only off Windows; every function it defines is used.
  twins      the Octopus variables it reads, the environment variables it sets and those it
             removes are those its Bash twin (`-bash.json` beside it) reads, sets and removes,
             and the other way round. PowerShell removes one with `Remove-Item Env:NAME`,
             Bash with `unset NAME`; a Bash name all in lower case is a shell variable of the
             body, not the environment's.

Usage: python3 check_powershell.py TEMPLATE.json...   (tests/templates.rs runs it)
Prints one line per fault, `<file>:<line>:<column>: <check>: <what>`, then one line per
template, `<file>: passes` or `<file>: fails`; exits 1 when any check failed.
Needs: pip install tree-sitter tree-sitter-powershell tree-sitter-bash
"""
import json
import os
import re
import sys

import tree_sitter
import tree_sitter_bash
import tree_sitter_powershell

POWERSHELL = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
BASH = tree_sitter.Parser(tree_sitter.Language(tree_sitter_bash.language()))

# The helpers of Calamari's Bootstrap.ps1 (OctopusDeploy/Calamari,
# source/Calamari.Common/Features/Scripting/WindowsPowerShell/Bootstrap.ps1, commit 8635895,
# 2026-08-21): the functions a step's script can call. Lower case, as PowerShell compares.
CALAMARI_HELPERS = {
    "convert-servicemessagevalue", "set-octopusvariable", "set-environmentstate",
    "set-environmenturl", "remove-octopustarget", "new-octopustarget", "fail-step",
    "new-octopusartifact", "report-kubernetesmanifest", "report-kubernetesmanifestfile",
    "update-progress", "write-debug", "write-verbose", "write-highlight", "write-wait",
    "write-warning", "execute-withretry",
}

# Cmdlets of Windows PowerShell 5.1 (and PowerShell 7) the bodies may use. A cmdlet outside
# this list is a fault until someone checks that 5.1 has it and adds it here.
CMDLETS_51 = {
    "write-host", "write-output", "write-error", "join-path", "split-path", "test-path",
    "resolve-path", "get-location", "set-location", "get-process", "get-item", "set-item",
    "get-childitem", "new-item", "remove-item", "copy-item", "move-item", "get-content",
    "set-content", "add-content", "out-file", "out-null", "new-object", "get-command",
    "where-object", "foreach-object", "select-object", "sort-object", "measure-object",
    "start-process", "start-sleep", "get-date", "convertto-json", "convertfrom-json",
    "invoke-restmethod", "invoke-webrequest", "get-variable", "set-variable",
}

# Native programs: run only where the body is off Windows (`uname`, `chmod`).
NATIVE = {"uname", "chmod"}

# What Windows PowerShell 5.1 lacks.
COMMANDS_7 = {
    "join-string", "get-error", "test-json", "convertfrom-markdown", "show-markdown",
    "get-markdownoption", "set-markdownoption", "get-uptime", "remove-alias", "remove-service",
    "get-pshostprocessinfo",
}
PARAMETERS_7 = {
    "convertfrom-json": {"ashashtable", "depth", "noenumerate"},
    "convertto-json": {"asarray", "enumsasstrings", "escapehandling"},
    "foreach-object": {"parallel", "throttlelimit", "asjob"},
    "%": {"parallel", "throttlelimit"},
    "foreach": {"parallel", "throttlelimit"},
    "join-path": {"additionalchildpath"},
    "get-content": {"asbytestream"},
    "set-content": {"asbytestream"},
    "add-content": {"asbytestream"},
    "invoke-restmethod": {"skipcertificatecheck", "authentication", "token",
                          "statuscodevariable", "responseheadersvariable",
                          "skiphttperrorcheck", "form", "resume", "skipheadervalidation"},
    "invoke-webrequest": {"skipcertificatecheck", "authentication", "token",
                          "skiphttperrorcheck", "form", "resume", "skipheadervalidation"},
    "start-process": {"environment"},
    "split-path": {"leafbase", "extension"},
    "get-date": {"asutc", "unixtimeseconds"},
    "test-connection": {"targetname", "tcpport"},
    "select-string": {"raw", "noemphasis"},
}
VARIABLES_7 = {"iswindows", "islinux", "ismacos", "iscoreclr", "psstyle"}
ENCODINGS_7 = {"utf8nobom", "utf8bom"}

# PowerShell's automatic and preference variables, which any spelling reaches.
AUTOMATIC = {
    "_", "args", "input", "this", "true", "false", "null", "pid", "lastexitcode", "error",
    "host", "home", "pwd", "psversiontable", "psscriptroot", "pscommandpath", "myinvocation",
    "matches", "?", "^", "$", "psitem", "executioncontext", "shellid", "stacktrace",
    "psboundparameters", "foreach", "switch", "ofs", "psculture", "psuiculture", "pshome",
    "erroractionpreference", "warningpreference", "verbosepreference", "progresspreference",
    "informationpreference", "debugpreference", "confirmpreference", "whatifpreference",
}
SCOPES = ("global:", "script:", "local:", "private:", "using:", "variable:")


class Faults:
    def __init__(self, path, source):
        self.path = path
        self.lines = source
        self.found = []

    def add(self, check, node, message):
        row, column = (node.start_point if node is not None else (0, 0))
        self.found.append(f"{self.path}:{row + 1}:{column + 1}: {check}: {message}")


def text(source, node):
    return source[node.start_byte:node.end_byte].decode("utf-8")


def nodes(node, kind=None):
    if kind is None or node.type == kind:
        yield node
    for child in node.children:
        yield from nodes(child, kind)


def variable_name(raw):
    """`$Foo`, `${Foo}`, `@Foo`, `$script:Foo` -> ('', 'Foo'); `$env:Foo` -> ('env:', 'Foo')."""
    name = raw.lstrip("$@")
    if name.startswith("{") and name.endswith("}"):
        name = name[1:-1]
    lower = name.lower()
    for scope in SCOPES:
        if lower.startswith(scope):
            return "", name[len(scope):]
    if lower.startswith("env:"):
        return "env:", name[4:]
    return "", name


def unquote(raw):
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    return raw


def dynamic(name):
    """A name built from a variable (`Octopus.Action[$createStep]...`) with `*` for it."""
    return re.sub(r"\$\{[^}]*\}|\$\([^)]*\)|\$[\w:]+", "*", name)


# --- PowerShell ------------------------------------------------------------------------

def check_parse(source, tree, faults):
    for node in nodes(tree.root_node):
        if node.is_error or node.is_missing:
            kind = "MISSING " + node.type if node.is_missing else "ERROR"
            line = source.split(b"\n")[node.start_point[0]].decode("utf-8").strip()
            faults.add("parse", node, f"{kind} in: {line}")


def check_spelling(source, tree, faults):
    spellings = {}
    for node in nodes(tree.root_node, "variable"):
        namespace, name = variable_name(text(source, node))
        if not name or name.lower() in AUTOMATIC and not namespace:
            continue
        spellings.setdefault((namespace, name.lower()), {}).setdefault(name, node)
    for (namespace, _), seen in sorted(spellings.items()):
        if len(seen) > 1:
            first, *others = sorted(seen.items(), key=lambda item: item[1].start_byte)
            for spelling, node in others:
                why = ("names another environment variable on Linux" if namespace
                       else "is the same variable in PowerShell, which ignores case")
                faults.add("spelling", node,
                           f"${namespace}{spelling} and ${namespace}{first[0]} (line "
                           f"{first[1].start_point[0] + 1}) differ only in case: it {why}; "
                           "spell it one way, or give one of them another name")


def code_mask(source, tree):
    """True for each byte that is code: not in a comment, nor in a string's literal text."""
    mask = [True] * len(source)
    for node in nodes(tree.root_node):
        if node.type in ("comment", "string_literal"):
            for i in range(node.start_byte, node.end_byte):
                mask[i] = False
    for node in nodes(tree.root_node, "sub_expression"):
        for i in range(node.start_byte, node.end_byte):
            mask[i] = True
    return mask


def command_name(source, command):
    """The name of a command called by name; None for `& $path` and `. $path`."""
    for child in command.children:
        if child.type == "command_name":
            return text(source, child)
    return None


def command_arguments(source, command):
    """The command's elements: [('-Param', None) | (None, 'value')] in order."""
    elements = [c for c in command.children if c.type == "command_elements"]
    out = []
    for element in elements[0].children if elements else []:
        if element.type == "command_argument_sep":
            continue
        if element.type == "command_parameter":
            out.append((text(source, element), None))
        else:
            out.append((None, text(source, element)))
    return out


def check_ps51(source, tree, faults):
    mask = code_mask(source, tree)
    code = bytes(b if keep else 0x20 for b, keep in zip(source, mask))
    for pattern, what in [
        (rb"\?\?=?", "the null-coalescing operator ?? (PowerShell 7)"),
        (rb"\?\.|\?\[", "null-conditional access ?. or ?[ (PowerShell 7)"),
        (rb"(?<![|\s])\s+\?\s+(?!\{)", "the ternary operator ? : (PowerShell 7)"),
    ]:
        for match in re.finditer(pattern, code):
            row = source.count(b"\n", 0, match.start())
            column = match.start() - (source.rfind(b"\n", 0, match.start()) + 1)
            faults.found.append(f"{faults.path}:{row + 1}:{column + 1}: ps51: {what}: "
                                "Windows PowerShell 5.1 cannot run it; use if/else")
    for node in nodes(tree.root_node, "pipeline_chain_tail"):
        faults.add("ps51", node, f"the pipeline chain operator {text(source, node)} "
                   "(PowerShell 7): Windows PowerShell 5.1 cannot run it; use if ($LASTEXITCODE ...)")
    for node in nodes(tree.root_node, "variable"):
        namespace, name = variable_name(text(source, node))
        if not namespace and name.lower() in VARIABLES_7:
            faults.add("ps51", node, f"${name} exists only in PowerShell 7 (on Windows "
                       "PowerShell 5.1 it is empty); test [System.Environment]::OSVersion.Platform")
    for command in nodes(tree.root_node, "command"):
        name = command_name(source, command)
        if name is None:
            continue
        lower = name.lower()
        if lower in COMMANDS_7:
            faults.add("ps51", command, f"{name} is a PowerShell 7 cmdlet that Windows "
                       "PowerShell 5.1 lacks")
        arguments = command_arguments(source, command)
        for parameter, _ in arguments:
            if parameter is None:
                continue
            given = parameter.lstrip("-").rstrip(":").lower()
            for missing in PARAMETERS_7.get(lower, ()):
                if len(given) >= 3 and missing.startswith(given):
                    faults.add("ps51", command, f"{name} -{missing} is PowerShell 7 only")
        for parameter, value in arguments:
            if value is not None and unquote(value).lower() in ENCODINGS_7:
                faults.add("ps51", command, f"the encoding {unquote(value)} is PowerShell 7 only")
        if lower == "join-path":
            positional = [v for p, v in arguments if v is not None]
            named = sum(1 for p, _ in arguments if p is not None)
            if len(positional) - named > 2:
                faults.add("ps51", command, "Join-Path with more than one child path is "
                           "PowerShell 7 only: nest the calls")


def defined_functions(source, tree):
    functions = {}
    for node in nodes(tree.root_node, "function_statement"):
        name = next(c for c in node.children if c.type == "function_name")
        parameters = [variable_name(text(source, v))[1].lower()
                      for p in nodes(node, "script_parameter")
                      for v in p.children if v.type == "variable"]
        functions[text(source, name).lower()] = (node, parameters)
    return functions


def check_helpers(source, tree, faults):
    functions = defined_functions(source, tree)
    called = set()
    for command in nodes(tree.root_node, "command"):
        name = command_name(source, command)
        if name is None:
            continue
        lower = name.lower()
        called.add(lower)
        if lower in functions or lower in CALAMARI_HELPERS or lower in CMDLETS_51:
            continue
        if lower in NATIVE:
            continue
        if lower in COMMANDS_7:
            continue  # named by ps51
        faults.add("helpers", command, f"{name} is neither defined in this body, a helper of "
                   "Calamari's bootstrap, nor a Windows PowerShell 5.1 cmdlet this check knows")
    for name, (node, _) in sorted(functions.items()):
        if name not in called:
            faults.add("helpers", node, f"the function {text(source, node.children[1])} is "
                       "defined but never called: remove it")


def argument_values(function_parameters, arguments):
    """Binds a call's arguments to the function's parameter names, by name or position."""
    bound = {}
    positional = [name for name in function_parameters]
    pending = None
    for parameter, value in arguments:
        if parameter is not None:
            pending = parameter.lstrip("-").rstrip(":").lower()
            continue
        if pending is not None:
            bound[pending] = value
            if pending in positional:
                positional.remove(pending)
            pending = None
        elif positional:
            bound[positional.pop(0)] = value
    return bound


ENV_ITEM = re.compile(r"""['"]?env:(\w+)""", re.IGNORECASE)


def powershell_io(source, tree):
    """(Octopus variables read, environment variables set, and removed) by a PowerShell body."""
    reads, sets, removes = set(), set(), set()
    functions = defined_functions(source, tree)
    # What each function does with its parameters: reads the Octopus variable a parameter
    # names, sets the environment variable a parameter names.
    reads_from, sets_from = {}, {}
    for name, (node, parameters) in functions.items():
        for access in nodes(node, "element_access"):
            target, *_ = [c for c in access.children if c.is_named]
            key = text(source, access)[len(text(source, target)) + 1:-1].strip()
            if text(source, target).lower() == "$octopusparameters" and key.startswith("$"):
                reads_from.setdefault(name, set()).add(variable_name(key)[1].lower())
        for call in nodes(node, "invokation_expression"):
            if text(source, call).lower().startswith("[system.environment]::setenvironmentvariable("):
                first = next(nodes(call, "argument_expression"))
                sets_from.setdefault(name, set()).add(variable_name(text(source, first))[1].lower())
    for access in nodes(tree.root_node, "element_access"):
        target = [c for c in access.children if c.is_named][0]
        if text(source, target).lower() != "$octopusparameters":
            continue
        key = text(source, access)[len(text(source, target)) + 1:-1].strip()
        if key[:1] in "'\"":
            reads.add(dynamic(unquote(key)))
    for assignment in nodes(tree.root_node, "assignment_expression"):
        namespace, name = variable_name(text(source, assignment.children[0]).strip())
        if namespace == "env:":
            sets.add(name)
    for call in nodes(tree.root_node, "invokation_expression"):
        if text(source, call).lower().startswith("[system.environment]::setenvironmentvariable("):
            first = text(source, next(nodes(call, "argument_expression")))
            if first[:1] in "'\"":
                sets.add(unquote(first))
    for command in nodes(tree.root_node, "command"):
        name = (command_name(source, command) or "").lower()
        if name not in functions:
            continue
        bound = argument_values(functions[name][1], command_arguments(source, command))
        for parameter in reads_from.get(name, ()):
            if parameter in bound:
                reads.add(dynamic(unquote(bound[parameter])))
        for parameter in sets_from.get(name, ()):
            if parameter in bound:
                sets.add(unquote(bound[parameter]))
    for command in nodes(tree.root_node, "command"):
        if (command_name(source, command) or "").lower() == "remove-item":
            for _, value in command_arguments(source, command):
                if value is not None:
                    removes.update(ENV_ITEM.findall(value))
    return reads, sets, removes


# --- Bash --------------------------------------------------------------------------------

def bash_words(source, command):
    return [c for c in command.children if c.is_named and c.type != "command_name"]


def bash_value(source, node):
    """A word or string as the shell reads it, its expansions left as written."""
    return unquote(text(source, node))


POSITIONAL = re.compile(r"\$\{?\d\}?")


def bash_io(source, tree):
    reads, sets, removes = set(), set(), set()
    reads_from, sets_from = {}, {}
    for function in nodes(tree.root_node, "function_definition"):
        name = text(source, function.child_by_field_name("name"))
        for command in nodes(function, "command"):
            if text(source, command.child_by_field_name("name")) == "get_octopusvariable":
                argument = bash_value(source, bash_words(source, command)[0])
                if POSITIONAL.fullmatch(argument):
                    reads_from.setdefault(name, set()).add(int(argument.strip("${}")))
        for declaration in nodes(function, "declaration_command"):
            if text(source, declaration).startswith("export "):
                for string in [c for c in declaration.children if c.type == "string"]:
                    match = re.match(r"\$\{?(\d)\}?=", unquote(text(source, string)))
                    if match:
                        sets_from.setdefault(name, set()).add(int(match.group(1)))
    functions = {text(source, f.child_by_field_name("name")) for f in
                 nodes(tree.root_node, "function_definition")}
    for command in nodes(tree.root_node, "command"):
        name = text(source, command.child_by_field_name("name"))
        words = [bash_value(source, w) for w in bash_words(source, command)]
        if name == "get_octopusvariable" and words and not POSITIONAL.fullmatch(words[0]):
            reads.add(dynamic(words[0]))
        if name in functions:
            for position in reads_from.get(name, ()):
                if len(words) >= position:
                    reads.add(dynamic(words[position - 1]))
            for position in sets_from.get(name, ()):
                if len(words) >= position:
                    sets.add(words[position - 1])
    for declaration in nodes(tree.root_node, "declaration_command"):
        if not text(source, declaration).startswith("export "):
            continue
        for child in declaration.children:
            if child.type == "variable_assignment":
                sets.add(text(source, child.child_by_field_name("name")))
            elif child.type == "variable_name":
                sets.add(text(source, child))
    for command in nodes(tree.root_node, "unset_command"):
        words = [text(source, c) for c in command.children if c.is_named]
        if "-f" in words:
            continue
        removes.update(w for w in words if not w.startswith("-") and w != w.lower())
    return reads, sets, removes


def check_twins(path, source, tree, faults):
    twin = path[:-len(".json")] + "-bash.json"
    if not os.path.exists(twin):
        faults.add("twins", None, f"no Bash twin {os.path.basename(twin)} beside it")
        return
    bash_source = body(twin).encode("utf-8")
    ps_reads, ps_sets, ps_removes = powershell_io(source, tree)
    sh_reads, sh_sets, sh_removes = bash_io(bash_source, BASH.parse(bash_source))
    for what, mine, theirs in [("reads the Octopus variable", ps_reads, sh_reads),
                               ("sets the environment variable", ps_sets, sh_sets),
                               ("removes the environment variable", ps_removes, sh_removes)]:
        for name in sorted(mine - theirs):
            faults.add("twins", None, f"it {what} {name}, which its Bash twin does not")
        for name in sorted(theirs - mine):
            faults.add("twins", None, f"its Bash twin {what} {name}, which it does not")


def body(path):
    template = json.load(open(path, encoding="utf-8"))
    return template["Properties"]["Octopus.Action.Script.ScriptBody"]


def main(paths):
    failed = False
    for path in paths:
        template = json.load(open(path, encoding="utf-8"))
        if template["Properties"]["Octopus.Action.Script.Syntax"] != "PowerShell":
            continue
        source = body(path).encode("utf-8")
        tree = POWERSHELL.parse(source)
        faults = Faults(path, source)
        check_parse(source, tree, faults)
        check_spelling(source, tree, faults)
        check_ps51(source, tree, faults)
        check_helpers(source, tree, faults)
        check_twins(path, source, tree, faults)
        for fault in faults.found:
            print(fault)
        print(f"{path}: {'fails' if faults.found else 'passes'}")
        failed = failed or bool(faults.found)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
