#!/usr/bin/env python3
"""Checks ppool's man pages (man/), as installed (gzipped).

  check_pages.py overview SOURCE_DIR PAGE.7.gz
  check_pages.py programs SOURCE_DIR BUILD_DIR HELP2MAN_FOUND
  check_pages.py rejects SOURCE_DIR PAGE.7.gz [BUILD_DIR]

Every page: groff reads it without a warning, as lintian runs it
(man --warnings ... -Z), lexgrog reads its whatis entry, and it has the
sections a reader looks for.
ppool(7) names every program of tools/, every public header of include/,
every layer of src/README.md's table in its order, and every PPOOL_*
variable the library reads (a getenv in src/): a new one that the page does
not mention fails here. A program's page has each option its --help lists
as an entry in OPTIONS (help2man misreading the layout of a --help shows
here), every --option the --help names anywhere, an EXIT STATUS, and ppool(7)
in SEE ALSO. "rejects" shows the checks can fail: on pages broken on
purpose each one reports what is wrong.

Exit status: 0 clean; 1 a page is wrong (each problem on its own line);
77 (programs) the section-1 pages were not built because help2man was not
found at configure time (scripts/install-deps.sh installs it).
"""
import gzip
import os
import re
import subprocess
import sys
import tempfile


def read_page(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        return f.read()


def write_page(path, text):
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write(text)


def lint(path):
    """groff's warnings on the page, as lintian's manpage check asks for them."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    problems = [f"{path}: groff: {line}" for line in r.stderr.splitlines() if line.strip()]
    if r.returncode != 0:
        problems.append(f"{path}: man exited {r.returncode}")
    # The whatis entry (NAME's "name \- what it is") that apropos and
    # lintian read, through man-db's own parser.
    r = subprocess.run(["lexgrog", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True)
    if r.returncode != 0:
        problems.append(f"{path}: lexgrog cannot read the whatis entry: {r.stdout.strip()}")
    return problems


def plain(roff):
    """The text of roff input lines: escapes and font changes removed."""
    text = re.sub(r"\\f(\[[^\]]*\]|\(..|.)", "", roff)
    text = re.sub(r"\\\(aq", "'", text)
    text = re.sub(r"\\\((dq|lq|rq)", '"', text)
    text = re.sub(r"\\[/,&]", "", text)
    text = text.replace("\\-", "-").replace("\\e", "\\").replace("\\ ", " ")
    return text


def sections(roff):
    """{SECTION NAME: [its lines]}, with the .SH lines' names unquoted."""
    out, name = {}, None
    for line in roff.splitlines():
        m = re.match(r'\.SH\s+"?([^"]*)"?\s*$', line)
        if m:
            name = m.group(1).strip().upper()
            out[name] = []
        elif name is not None and not line.startswith('.\\"'):
            out[name].append(line)
    return out


def section_text(lines):
    """The words of a section: macro names dropped, escapes removed."""
    words = []
    for line in lines:
        if line.startswith("."):
            parts = line.split(None, 1)
            if len(parts) < 2 or parts[0] in (".TH", ".SH", ".SS"):
                continue
            # Alternating-font macros (.BR a b) join their arguments.
            args = [quoted or bare for quoted, bare in re.findall(r'"([^"]*)"|(\S+)', parts[1])]
            alternating = re.match(r"\.(BR|RB|BI|IB|IR|RI)$", parts[0])
            words.append(("" if alternating else " ").join(args))
        else:
            words.append(line)
    return plain("\n".join(words))


def require_sections(path, have, wanted):
    return [f"{path}: no {name} section (has {', '.join(have) or 'none'})"
            for name in wanted if name not in have]


def tools_programs(source_dir):
    """The programs tools/CMakeLists.txt builds: ppool-fwd, ppool-stat, ..."""
    with open(os.path.join(source_dir, "tools", "CMakeLists.txt")) as f:
        return sorted(set(re.findall(r"add_executable\((ppool-[\w-]+)", f.read())))


def public_headers(source_dir):
    include = os.path.join(source_dir, "include")
    headers = []
    for root, _, files in os.walk(include):
        for name in files:
            if name.endswith(".h"):
                headers.append(os.path.relpath(os.path.join(root, name), include))
    return sorted(headers)


def layers(source_dir):
    """The layers of src/README.md's table, bottom up: [(number, name)]."""
    with open(os.path.join(source_dir, "src", "README.md")) as f:
        return re.findall(r"^\|\s*(\d+)\s*\|\s*([\w]+)\s*\|", f.read(), re.M)


def library_variables(source_dir):
    names = set()
    for root, _, files in os.walk(os.path.join(source_dir, "src")):
        for name in files:
            with open(os.path.join(root, name), errors="replace") as f:
                names.update(re.findall(r'getenv\("(PPOOL_\w+)"\)', f.read()))
    return sorted(names)


def check_overview(source_dir, path):
    problems = lint(path)
    roff = read_page(path)
    have = sections(roff)
    # A section-7 page has no exit status; its equivalent is ERRORS.
    problems += require_sections(path, list(have),
                                 ["NAME", "SYNOPSIS", "DESCRIPTION", "ERRORS", "ENVIRONMENT",
                                  "SEE ALSO"])
    text = section_text(roff.splitlines())
    see_also = section_text(have.get("SEE ALSO", []))
    for program in tools_programs(source_dir):
        if f"{program}(1)" not in see_also:
            problems.append(f"{path}: SEE ALSO does not name {program}(1)")
        if f"{program}(1)" not in section_text(have.get("WHERE TO START", [])):
            problems.append(f"{path}: WHERE TO START does not name {program}(1)")
    for header in public_headers(source_dir):
        if f"<{header}>" not in text:
            problems.append(f"{path}: the public header <{header}> is not named")
    # The layers in src/README.md's order, each as "N name" in LAYERS.
    layer_text = section_text(have.get("LAYERS", []))
    at = 0
    for number, name in layers(source_dir):
        m = re.compile(rf"^{number} {name}\b", re.M).search(layer_text, at)
        if not m:
            problems.append(f"{path}: LAYERS lacks '{number} {name}' (in src/README.md's order)")
        else:
            at = m.end()
    environment = section_text(have.get("ENVIRONMENT", []))
    for name in library_variables(source_dir):
        if not re.search(rf"\b{name}\b", environment):
            problems.append(f"{path}: ENVIRONMENT does not name {name}, which src/ reads")
    return problems


def help_options(help_text):
    """(entries, mentioned): the options --help lists as entries (an indented
    line that starts with one), and every --option named anywhere in it."""
    entries = []
    for line in help_text.splitlines():
        m = re.match(r"^ {1,10}(-[^\s,]+(?:, -[^\s,]+)*)", line)
        if m:
            entries += re.findall(r"--?[A-Za-z][\w-]*", m.group(1))
    mentioned = set(re.findall(r"(?<![\w-])--[A-Za-z][\w-]*", help_text))
    return entries, mentioned


def option_tags(lines):
    """The options in the tags of OPTIONS' tagged paragraphs (.TP's next line)."""
    tags = set()
    for before, line in zip(lines, lines[1:]):
        if before.startswith(".TP"):
            tags.update(re.findall(r"--?[A-Za-z][\w-]*", plain(line)))
    return tags


def check_program_page(program, path, help_text):
    problems = lint(path)
    roff = read_page(path)
    have = sections(roff)
    problems += require_sections(path, list(have),
                                 ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS",
                                  "SEE ALSO"])
    name = section_text(have.get("NAME", []))
    if "manual page for" in name or not name.startswith(f"{os.path.basename(program)} - "):
        problems.append(f"{path}: NAME is '{name.strip()}', not the .h2m's")
    if "ppool(7)" not in section_text(have.get("SEE ALSO", [])):
        problems.append(f"{path}: SEE ALSO does not name ppool(7)")
    entries, mentioned = help_options(help_text)
    if not entries:
        problems.append(f"{path}: {program} --help lists no option")
    tags = option_tags(have.get("OPTIONS", []))
    for option in entries:
        if option not in tags:
            problems.append(f"{path}: {option}, an entry of --help, is not an entry of OPTIONS")
    text = section_text(roff.splitlines())
    for option in sorted(mentioned):
        if not re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text):
            problems.append(f"{path}: {option}, named by --help, is not in the page")
    return problems


def program_help(binary):
    r = subprocess.run([binary, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=30)
    if r.returncode != 0:
        raise SystemExit(f"{binary} --help exited {r.returncode}: {r.stderr}")
    return r.stdout


def check_programs(source_dir, build_dir, help2man_found):
    problems, built = [], []
    for program in tools_programs(source_dir):
        if not os.path.isfile(os.path.join(source_dir, "man", f"{program}.h2m")):
            problems.append(f"man/{program}.h2m is missing: every program has a page")
        binary = os.path.join(build_dir, "tools", program)
        if os.access(binary, os.X_OK):
            built.append((program, binary))
        else:
            print(f"not built here: {program}")
    if not help2man_found:
        for p in problems:
            print("FAIL:", p)
        print("skipped: help2man was not found at configure time, so the programs' pages "
              "were not built (scripts/install-deps.sh installs it)")
        return 1 if problems else 77
    for program, binary in built:
        page = os.path.join(build_dir, "man", f"{program}.1.gz")
        if not os.path.isfile(page):
            problems.append(f"{page} was not built")
            continue
        problems += check_program_page(program, page, program_help(binary))
        print(f"checked: {page}")
    return report(problems)


def report(problems):
    for p in problems:
        print("FAIL:", p)
    if not problems:
        print("man pages: ok")
    return 1 if problems else 0


def check_rejects(source_dir, overview, build_dir):
    """Each check fails on a page broken on purpose, naming what is wrong."""
    failures = []

    def expect(what, problems, pattern):
        if not any(pattern in p for p in problems):
            failures.append(f"{what}: no problem with '{pattern}' in {problems}")

    good = read_page(overview)
    with tempfile.TemporaryDirectory() as tmp:
        page = os.path.join(tmp, "ppool.7.gz")
        write_page(page, good)
        if check_overview(source_dir, page):
            failures.append(f"the real ppool(7) fails: {check_overview(source_dir, page)}")
        # A header, a program and a variable left out; a layer out of order;
        # a groff warning (an unknown macro); a section missing.
        broken = {
            "header": (good.replace("<ppool/ring.h>", "<ppool/rung.h>"), "<ppool/ring.h>"),
            "program": (good.replace("ppool\\-stat (1)", "ppool\\-stats (1)"), "ppool-stat(1)"),
            "variable": (good.replace(".B PPOOL_MISUSE", ".B PPOOL_MISUSED"), "PPOOL_MISUSE"),
            "layer": (good.replace(".B 2 ring", ".B 2 rung"), "'2 ring'"),
            "warning": (good.replace(".SH DESCRIPTION", ".SH DESCRIPTION\n.XYZZY"), "groff"),
            "section": (good.replace(".SH ERRORS", ".SH FAULTS"), "no ERRORS section"),
            "whatis": (good.replace("ppool \\- userspace", "ppool userspace"), "lexgrog"),
        }
        for what, (text, pattern) in broken.items():
            if text == good:
                failures.append(f"{what}: the page was not broken (the test is stale)")
                continue
            write_page(page, text)
            expect(f"ppool(7) with a {what} broken", check_overview(source_dir, page), pattern)

        binary = os.path.join(build_dir or "", "tools", "ppool-stat")
        real = os.path.join(build_dir or "", "man", "ppool-stat.1.gz")
        if build_dir and os.path.isfile(real) and os.access(binary, os.X_OK):
            help_text = program_help(binary)
            good = read_page(real)
            page = os.path.join(tmp, "ppool-stat.1.gz")
            write_page(page, good)
            if check_program_page("ppool-stat", page, help_text):
                failures.append("the real ppool-stat(1) fails")
            # An option misread into a paragraph (a --help whose text starts
            # too near its tag), an option lost, EXIT STATUS lost.
            misread = re.sub(r"\.TP\n(\\fB\\-\\-count\\fR N)\n", r".IP\n\1\n", good)
            lost = re.sub(r"(\\-\\-|--)prometheus", r"\1prom", good)
            broken = {
                "an entry misread": (misread, "--count, an entry of --help"),
                "an option lost": (lost, "--prometheus, named by --help"),
                "EXIT STATUS lost": (good.replace('.SH "EXIT STATUS"', ".SS Exit"),
                                     "no EXIT STATUS section"),
            }
            for what, (text, pattern) in broken.items():
                if text == good:
                    failures.append(f"{what}: the page was not broken (the test is stale)")
                    continue
                write_page(page, text)
                expect(f"ppool-stat(1) with {what}",
                       check_program_page("ppool-stat", page, help_text), pattern)
        else:
            print("ppool-stat(1) not built here: its rejects not run")
    for f in failures:
        print("FAIL:", f)
    if not failures:
        print("the man page checks reject every broken page: ok")
    return 1 if failures else 0


def main(argv):
    if len(argv) >= 3 and argv[0] == "overview":
        return report(check_overview(argv[1], argv[2]))
    if len(argv) == 4 and argv[0] == "programs":
        return check_programs(argv[1], argv[2], argv[3].upper() not in ("", "0", "OFF", "FALSE"))
    if len(argv) in (3, 4) and argv[0] == "rejects":
        return check_rejects(argv[1], argv[2], argv[3] if len(argv) == 4 else None)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
