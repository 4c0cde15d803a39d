"""test_fs_setup.py - the README's set-up commands work as typed on a fresh
Debian 12 machine where one is root and sudo is not installed: the demo
mounts and stops, tests/run is what .ci/run runs, and both scripts, run by
a user, start again through sudo when there is one and otherwise say in
one line that they need root.

The commands are read from README.md itself. tests/run is not run here
(it runs this test): its command is checked, and its root check run.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from fsutil import is_mounted, require_fuse
from readme import (TOP, command_word, fenced_commands, path_without_sudo,
                    section)

SETUP = "Set-up on a fresh Debian 12 machine"


def setup_commands():
    return [command_word(line) for line in fenced_commands(SETUP)]


def setup_line(script):
    """The README's line that runs script, comment and all."""
    lines = [line for line in fenced_commands(SETUP)
             if command_word(line) == script]
    assert len(lines) == 1, fenced_commands(SETUP)
    return lines[0]


def test_readme_setup_commands_are_the_scripts():
    cmds = setup_commands()
    assert cmds == ["./contrib/demo.sh", "./tests/run"], cmds
    for cmd in cmds:
        path = os.path.join(TOP, cmd)
        assert os.path.isfile(path) and os.access(path, os.X_OK), cmd
    # CI runs exactly the README's test command.
    with open(os.path.join(TOP, ".ci", "run")) as f:
        lines = [line.strip() for line in f
                 if line.strip() and not line.startswith("#")]
    assert lines[-1] == "exec " + cmds[1], lines
    # The way to stop the demo is in the same section.
    assert "`%s stop`" % cmds[0] in section(SETUP)


@pytest.fixture
def world_dir():
    """A directory the user nobody can read: copies of the scripts run
    from it as that user, whoever owns the checkout."""
    d = tempfile.mkdtemp(prefix="apisecfs-setup-")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d)


def place(cmd, directory):
    """Copy the script of a README command under directory, at the same
    relative path, readable and executable by all."""
    dst = os.path.join(directory, cmd)
    os.makedirs(os.path.dirname(dst), mode=0o755, exist_ok=True)
    shutil.copyfile(os.path.join(TOP, cmd), dst)
    os.chmod(dst, 0o755)
    return dst


def as_user(args, cwd, path, extra_env=None):
    """Run args as nobody (no groups), with only PATH and HOME set."""
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv is missing (util-linux)"
    env = {"PATH": path, "HOME": "/", "LC_ALL": "C.UTF-8"}
    env.update(extra_env or {})
    return subprocess.run([setpriv, "--reuid=nobody", "--regid=nogroup",
                           "--clear-groups"] + args, cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("cmd", ["./contrib/demo.sh", "./tests/run"])
def test_a_user_without_sudo_is_told_to_be_root(cmd, world_dir):
    assert cmd in setup_commands()
    place(cmd, world_dir)
    r = as_user([cmd], world_dir, path_without_sudo())
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert r.stdout == "", r.stdout
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and "needs root" in lines[0], r.stderr
    assert "sudo" in lines[0], r.stderr


@pytest.mark.parametrize("cmd", ["./contrib/demo.sh", "./tests/run"])
def test_a_user_with_sudo_goes_through_it(cmd, world_dir):
    """sudo here is a stand-in that writes down what it was asked to run:
    the script itself, as typed, with its arguments."""
    assert cmd in setup_commands()
    place(cmd, world_dir)
    bindir = os.path.join(world_dir, "bin")
    os.mkdir(bindir, 0o755)
    fake = os.path.join(bindir, "sudo")
    with open(fake, "w") as f:
        f.write('#!/bin/sh\nprintf "%s\\n" "$(id -u)" "$@" >"$SUDO_LOG"\n')
    os.chmod(fake, 0o755)
    log = os.path.join(world_dir, "sudo.log")
    with open(log, "w"):
        pass
    os.chmod(log, 0o666)
    r = as_user([cmd, "stop", "a b"], world_dir,
                bindir + ":" + path_without_sudo(), {"SUDO_LOG": log})
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert r.stdout == "" and r.stderr == "", (r.stdout, r.stderr)
    with open(log) as f:
        assert f.read().splitlines() == ["65534", cmd, "stop", "a b"]


def test_readme_demo_command_works_as_root_without_sudo():
    require_fuse()
    if os.geteuid() != 0:
        pytest.fail("the set-up commands are run as root here; run as root")
    demo = setup_line("./contrib/demo.sh")
    m = re.search(r"mount on (/\S+)", demo)
    assert m, demo
    default = m.group(1)
    if is_mounted(default) or os.path.exists(default + ".state"):
        pytest.fail("a demo runs on %s: stop it first (./contrib/demo.sh "
                    "stop); this test would stop it" % default)
    env = dict(os.environ, PATH=path_without_sudo())
    env.pop("APISECFS_TOKEN", None)
    r = subprocess.run(demo, shell=True, cwd=TOP, env=env,
                       capture_output=True, text=True, timeout=600)
    try:
        assert r.returncode == 0, r.stdout + r.stderr
        assert "is mounted on %s\n" % default in r.stdout, r.stdout
        assert is_mounted(default)
        with open(os.path.join(default, "whoami.json")) as f:
            assert json.load(f)["scopes"], "whoami.json without scopes"
        vulns = sorted(n for n in os.listdir(os.path.join(default, "vulns"))
                       if n.endswith(".json"))
        assert len(vulns) >= 2000, len(vulns)
        with open(os.path.join(default, "vulns", vulns[0])) as f:
            assert json.load(f)["severity"] in ("critical", "high", "medium",
                                                "low", "info")
    finally:
        stop = subprocess.run(command_word(demo) + " stop", shell=True,
                              cwd=TOP, env=env, capture_output=True,
                              text=True, timeout=120)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert not is_mounted(default)
    assert not os.path.exists(default + ".state")
