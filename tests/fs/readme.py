"""readme.py - the shell commands README.md shows, read from README.md
itself, so that tests run exactly what a reader types; and a PATH without
sudo, as on a fresh Debian machine where one is root."""

import os
import re
import shutil

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
README = os.path.join(TOP, "README.md")


def readme_text():
    with open(README) as f:
        return f.read()


def section(heading):
    """The text of the section whose '## ' title starts with heading, up to
    the next '## '."""
    m = re.search(r"^## %s[^\n]*\n(.*?)(?=^## |\Z)" % re.escape(heading),
                  readme_text(), re.M | re.S)
    assert m, "README.md has no section '## %s'" % heading
    return m.group(1)


def fenced_commands(heading):
    """The lines of the first ```sh block of a section, as typed (the shell
    that runs them drops the trailing comments)."""
    m = re.search(r"^```sh\n(.*?)^```$", section(heading), re.M | re.S)
    assert m, "section '%s' of README.md has no ```sh block" % heading
    return [line for line in m.group(1).splitlines() if line.strip()]


def command_word(line):
    """The command of a line, without its comment: './tests/run'."""
    return line.split("#", 1)[0].strip()


def path_without_sudo(path=None):
    """PATH with every directory that holds a sudo left out."""
    dirs = (path or os.environ.get("PATH", "/usr/bin:/bin")).split(":")
    kept = [d for d in dirs
            if d and not os.access(os.path.join(d, "sudo"), os.X_OK)]
    out = ":".join(kept)
    assert shutil.which("sudo", path=out) is None
    return out
