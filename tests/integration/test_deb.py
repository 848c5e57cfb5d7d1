"""The Debian package (make deb, scripts/mkdeb): lintian finds no error in
it, its Depends names the package of every library the binary links, and
in a clean Debian 12 root `apt-get install ./ingestd_VERSION_ARCH.deb`
installs it with its dependencies from the mirror: the paths, the
conffiles, the ingestd user, the enabled service, `ingestd --check-config`
and `ingestd --version` there; then `apt-get remove` keeps the (edited)
config and drops the binary, and `apt-get purge` drops the config and
keeps the records in /var/log/ingestd.  Then install, upgrade and remove
once more as if systemd ran (a systemctl stub that logs its calls): the
start, restart and stops the maintainer scripts ask for.  Last, for real:
the root gets systemd and boots under systemd-nspawn, and the package is
installed, started, fed a packet, reloaded and purged there (RealSystemd).

The clean root is a `debootstrap --variant=minbase bookworm` tree, run as
root with chroot.  debootstrap runs once (about 30 s) and its tree is kept
as build/debroot-bookworm.tar, rebuilt after 30 days; every run unpacks a
fresh copy into a temporary directory, so no run sees another's
leftovers.  The .debs apt downloads are kept in build/debroot-archives (apt
checks each against the package lists), so later runs fetch little more
than the lists.  Skipped, with the reason, when not root, without
debootstrap or dpkg-dev, or when the mirror ($INGESTD_DEB_MIRROR, default
http://deb.debian.org/debian) cannot be reached.  About 65 s the first
time, 15-30 s after that (mostly apt)."""
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import ROOT, sensor24

BUILD = os.path.join(ROOT, "build")
SUITE = "bookworm"
MIRROR = os.environ.get("INGESTD_DEB_MIRROR", "http://deb.debian.org/debian")
CACHE_TAR = os.path.join(BUILD, "debroot-%s.tar" % SUITE)
CACHE_MAX_AGE = 30 * 86400
ARCHIVES = os.path.join(BUILD, "debroot-archives")
README = os.path.join(ROOT, "README.md")
README_SECTION = "## Installing the Debian package"
CHROOT_ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive",
              "LC_ALL": "C", "HOME": "/root"}

with open(os.path.join(ROOT, "daemon", "version.h")) as f:
    VERSION = re.search(r'#define INGESTD_VERSION "([^"]+)"', f.read()).group(1)

HAVE_DPKG_DEV = all(shutil.which(t) for t in ("dpkg-deb", "dpkg-shlibdeps", "dpkg-gencontrol"))
NO_DPKG_DEV = "dpkg-dev missing (scripts/install-deps --test installs it)"

# Every file the package installs, and nothing else: a file make install
# gains, or one landing elsewhere, fails test_files.
PACKAGE_FILES = {
    "/usr/sbin/ingestd",
    "/etc/ingestd/ingestd.ini",
    "/etc/logrotate.d/ingestd",
    "/lib/systemd/system/ingestd.service",
    "/lib/systemd/system/ingestd-activated.service",
    "/lib/systemd/system/ingestd.socket",
    "/usr/lib/sysusers.d/ingestd.conf",
    "/usr/share/man/man8/ingestd.8.gz",
    "/usr/share/man/man5/ingestd.ini.5.gz",
    "/usr/share/doc/ingestd/copyright",
    "/usr/share/doc/ingestd/changelog.gz",
}
CONFFILES = ["/etc/ingestd/ingestd.ini", "/etc/logrotate.d/ingestd"]
WANTS_LINK = "/etc/systemd/system/multi-user.target.wants/ingestd.service"
RECORD = '{"sensorId":420,"_listener":"sensors"}\n'
EDIT = "; edited by the admin before apt-get remove\n"


def run(cmd, timeout=600, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def read(path):
    """The file's text, or None when there is none."""
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def env_without_make():
    # The test may run under make test; a sub-make must not take its flags.
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


_deb = []


def built_deb():
    """make deb, once per test run; the path of the package it built."""
    if not _deb:
        p = run(["make", "-s", "-C", ROOT, "deb"], env=env_without_make())
        if p.returncode != 0:
            raise AssertionError("make deb failed:\n" + p.stdout + p.stderr)
        arch = run(["dpkg", "--print-architecture"]).stdout.strip()
        path = os.path.join(BUILD, "ingestd_%s_%s.deb" % (VERSION, arch))
        if not os.path.isfile(path):
            raise AssertionError("make deb did not write %s:\n%s" % (path, p.stdout))
        _deb.append(path)
    return _deb[0]


def readme_section():
    with open(README) as f:
        text = f.read()
    start = text.find("\n" + README_SECTION + "\n")
    if start < 0:
        raise AssertionError("README.md has no %r section" % README_SECTION)
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else len(text)]


@unittest.skipUnless(HAVE_DPKG_DEV, NO_DPKG_DEV)
class Package(unittest.TestCase):
    """The .deb itself, on this machine."""

    @classmethod
    def setUpClass(cls):
        cls.deb = built_deb()

    def field(self, name):
        return run(["dpkg-deb", "--field", self.deb, name]).stdout.strip()

    def test_version_is_version_h(self):
        self.assertEqual(self.field("Version"), VERSION)
        self.assertTrue(self.deb.endswith("/ingestd_%s_%s.deb" % (
            VERSION, self.field("Architecture"))), self.deb)

    def test_depends_are_the_linked_libraries(self):
        """Each library the binary names (DT_NEEDED) is in Depends by the
        package that ships it here, and nothing else is but the program
        postinst runs: no -dev package, no stale hand list."""
        depends = self.field("Depends")
        names = [alt.split()[0] for dep in depends.split(",") for alt in dep.split("|")]
        tree = tempfile.TemporaryDirectory(prefix="ingestd-debtree-")
        self.addCleanup(tree.cleanup)
        self.assertEqual(run(["dpkg-deb", "--extract", self.deb, tree.name]).returncode, 0)
        binary = os.path.join(tree.name, "usr", "sbin", "ingestd")
        dyn = run(["readelf", "-d", binary]).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", dyn)
        self.assertTrue(needed, dyn)
        paths = dict(re.findall(r"^\s*(\S+) => (\S+)", run(["ldd", binary]).stdout, re.M))
        owners = set()
        for soname in needed:
            self.assertIn(soname, paths, "ldd cannot resolve " + soname)
            path = paths[soname]
            # usrmerge: dpkg knows each library under one of /lib and
            # /usr/lib, by its soname link or its real file.
            tries = []
            for cand in (path, os.path.realpath(path)):
                tries += [cand, cand[4:] if cand.startswith("/usr/") else "/usr" + cand]
            for cand in tries:
                p = run(["dpkg", "-S", cand])
                if p.returncode == 0:
                    break
            self.assertEqual(p.returncode, 0, "no package ships %s (%s)" % (soname, tries))
            owners.add(p.stdout.split(":")[0])
        for pkg in sorted(owners):
            self.assertIn(pkg, names, "%s is linked but not in Depends: %s" % (pkg, depends))
        for pkg in ("libev4", "libinih1", "libjansson4", "libssl3", "librdkafka1", "zlib1g"):
            self.assertIn(pkg, names, depends)
        self.assertFalse([n for n in names if n.endswith("-dev")], depends)
        self.assertEqual(sorted(set(names) - owners), ["procps", "systemd", "systemd-sysusers"],
                         depends)

    def test_maintainer_and_copyright(self):
        """DEBFULLNAME and DEBEMAIL name the maintainer, in the control file
        and the changelog; the copyright file says what the tree declares."""
        env = dict(env_without_make(), DEBFULLNAME="Ada Operator", DEBEMAIL="ada@example.org")
        # Put the ordinary package back for the other tests, whatever happens.
        self.addCleanup(run, ["make", "-s", "-C", ROOT, "deb"], env=env_without_make())
        p = run(["make", "-s", "-C", ROOT, "deb"], env=env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.field("Maintainer"), "Ada Operator <ada@example.org>")
        with tempfile.TemporaryDirectory(prefix="ingestd-debtree-") as d:
            self.assertEqual(run(["dpkg-deb", "--extract", self.deb, d]).returncode, 0)
            doc = os.path.join(d, "usr", "share", "doc", "ingestd")
            log = run(["gzip", "-dc", os.path.join(doc, "changelog.gz")]).stdout
            self.assertRegex(log, r"^ingestd \(%s\) " % re.escape(VERSION))
            self.assertRegex(log, r"(?m)^ -- Ada Operator <ada@example.org>  \w{3}, ")
            copyright = read(os.path.join(doc, "copyright"))
            self.assertRegex(copyright, r"(?m)^Copyright \d{4}(-\d{4})? the ingestd authors")
            self.assertIn("License: none has been declared", copyright)

    def test_conffiles_and_scripts(self):
        with tempfile.TemporaryDirectory(prefix="ingestd-debctl-") as d:
            p = run(["dpkg-deb", "--control", self.deb, d])
            self.assertEqual(p.returncode, 0, p.stderr)
            with open(os.path.join(d, "conffiles")) as f:
                self.assertEqual(f.read().split(), CONFFILES)
            for script in ("postinst", "prerm", "postrm"):
                self.assertTrue(os.access(os.path.join(d, script), os.X_OK), script)
            with open(os.path.join(d, "postinst")) as f:
                postinst = f.read()
            self.assertIn("systemd-sysusers", postinst)
            self.assertIn("deb-systemd-helper enable ingestd.service", postinst)


@unittest.skipUnless(HAVE_DPKG_DEV and shutil.which("lintian"),
                     "lintian or dpkg-dev missing (scripts/install-deps --test installs them)")
class Lintian(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        deb = built_deb()
        p = run(["lintian", "--display-info", "--pedantic", "--tag-display-limit", "0", deb])
        # 0: no error tags, 1: some; anything else is lintian failing to
        # run, which must not read as a clean package.
        if p.returncode not in (0, 1):
            raise AssertionError("lintian failed (%d):\n%s%s" % (p.returncode, p.stdout, p.stderr))
        cls.output = p.stdout
        cls.lines = [l for l in p.stdout.splitlines() if re.match(r"^[EWIPX]: ", l)]

    def test_no_errors(self):
        errors = [l for l in self.lines if l.startswith("E: ")]
        self.assertEqual(errors, [], self.output)

    def test_no_warnings(self):
        """The README says there are none; a new one must be fixed or the
        README changed."""
        warnings = [l for l in self.lines if l.startswith("W: ")]
        self.assertEqual(warnings, [], self.output)

    def test_every_tag_left_is_explained_in_the_readme(self):
        """Every warning, info or pedantic tag lintian still reports is named
        in the README's Debian package section, which gives its reason."""
        section = readme_section()
        tags = sorted({l.split()[2] for l in self.lines if not l.startswith("E: ")})
        missing = [t for t in tags if "`%s`" % t not in section]
        self.assertEqual(missing, [], self.output)


def mirror_problem():
    """Why the mirror cannot be used from here, or None."""
    url = "%s/dists/%s/InRelease" % (MIRROR, SUITE)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=15):
            return None
    except Exception as e:  # any failure means the same: no clean root here
        return ("%s unreachable (%s): the clean root's packages come from there "
                "(INGESTD_DEB_MIRROR names another mirror)" % (url, e))


def clean_root_problem():
    if os.geteuid() != 0:
        return "a debootstrap root and chroot need root"
    for tool in ("debootstrap", "chroot", "mount", "umount", "tar"):
        if not shutil.which(tool):
            return "%s missing (scripts/install-deps --test installs debootstrap)" % tool
    if not HAVE_DPKG_DEV:
        return NO_DPKG_DEV
    return None


def debootstrap_tar():
    """build/debroot-bookworm.tar: a minbase tree as debootstrap left it,
    made once (and again when older than CACHE_MAX_AGE)."""
    if os.path.exists(CACHE_TAR) and time.time() - os.path.getmtime(CACHE_TAR) < CACHE_MAX_AGE:
        return CACHE_TAR
    os.makedirs(BUILD, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="ingestd-debootstrap-", dir=BUILD)
    try:
        target = os.path.join(tmp, "root")
        p = run(["debootstrap", "--variant=minbase", SUITE, target, MIRROR], timeout=900)
        if p.returncode != 0:
            raise AssertionError("debootstrap failed:\n" + p.stdout[-3000:] + p.stderr[-3000:])
        # debootstrap leaves the packages it installed in apt's cache;
        # the tree needs none of them, and the tar is a third smaller.
        for f in glob.glob(os.path.join(target, "var/cache/apt/archives/*.deb")):
            os.unlink(f)
        part = os.path.join(tmp, "root.tar")
        p = run(["tar", "--numeric-owner", "-C", target, "-cf", part, "."])
        if p.returncode != 0:
            raise AssertionError("tar failed: " + p.stderr)
        os.replace(part, CACHE_TAR)  # whole or not at all, for the next run
    finally:
        subprocess.run(["rm", "-rf", "--one-file-system", tmp])
    return CACHE_TAR


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [l.split()[4] for l in f]
    return [m for m in points if m == path or m.startswith(path + "/")]


class Chroot:
    """A fresh copy of the cached tree in a temporary directory, with
    /proc mounted, the host's resolver, and a policy-rc.d that forbids
    starting services (deb-systemd-invoke and invoke-rc.d ask it)."""

    def __init__(self, tar):
        self.dir = tempfile.mkdtemp(prefix="ingestd-debroot-")
        self.root = os.path.join(self.dir, "root")
        os.mkdir(self.root)
        try:
            p = run(["tar", "--numeric-owner", "-C", self.root, "-xpf", tar])
            if p.returncode != 0:
                raise AssertionError("unpacking %s failed: %s" % (tar, p.stderr))
            shutil.copyfile("/etc/resolv.conf", self.path("/etc/resolv.conf"))
            with open(self.path("/usr/sbin/policy-rc.d"), "w") as f:
                f.write("#!/bin/sh\n# No service starts in this test root.\nexit 101\n")
            os.chmod(self.path("/usr/sbin/policy-rc.d"), 0o755)
            p = run(["mount", "-t", "proc", "proc", self.path("/proc")])
            if p.returncode != 0:
                # Root without the right to mount (an unprivileged container):
                # this machine cannot run the test, which is not a failure of it.
                raise unittest.SkipTest("cannot mount /proc in the clean root here: " +
                                        p.stderr.strip())
        except BaseException:
            self.close()
            raise

    def path(self, inside):
        return os.path.join(self.root, inside.lstrip("/"))

    def seed_apt_cache(self):
        """Puts the .debs of earlier runs (build/debroot-archives) into
        the root's apt cache; apt checks each against its lists."""
        os.makedirs(ARCHIVES, exist_ok=True)
        self.seeded = set(os.listdir(ARCHIVES))
        for f in self.seeded:
            shutil.copyfile(os.path.join(ARCHIVES, f), self.path("/var/cache/apt/archives/" + f))

    def keep_apt_cache(self):
        """Keeps the .debs apt fetched since seed_apt_cache for the next run."""
        for f in glob.glob(self.path("/var/cache/apt/archives/*.deb")):
            if os.path.basename(f) not in self.seeded:
                shutil.copyfile(f, os.path.join(ARCHIVES, os.path.basename(f)))

    def run(self, *cmd, timeout=600):
        return run(["chroot", self.root] + list(cmd), timeout=timeout, env=CHROOT_ENV)

    def ok(self, *cmd, timeout=600):
        p = self.run(*cmd, timeout=timeout)
        if p.returncode != 0:
            raise AssertionError("in the root, %s failed (%d):\n%s%s" % (
                " ".join(cmd), p.returncode, p.stdout[-4000:], p.stderr[-4000:]))
        return p.stdout

    def close(self):
        for m in sorted(mounts_under(self.root), reverse=True):
            if subprocess.run(["umount", m]).returncode != 0:
                subprocess.run(["umount", "-l", m])
        left = mounts_under(self.root)
        if left:
            # Never delete through a mount point into the host's files.
            raise RuntimeError("still mounted, not removing %s: %s" % (self.dir, left))
        subprocess.run(["rm", "-rf", "--one-file-system", self.dir])


@unittest.skipIf(clean_root_problem(), clean_root_problem() or "")
class CleanRoot(unittest.TestCase):
    """Install, remove and purge in a clean Debian 12 root, then the same
    on a stub systemd.  setUpClass runs the steps in order and keeps what
    each left behind; each test checks one step's facts."""

    @classmethod
    def setUpClass(cls):
        problem = mirror_problem()
        if problem:
            raise unittest.SkipTest(problem)
        deb = built_deb()
        tar = debootstrap_tar()
        root = Chroot(tar)
        try:
            cls.facts = cls.lifecycle(root, deb)
        finally:
            root.close()

    @staticmethod
    def lifecycle(root, deb):
        facts = {}
        name = os.path.basename(deb)
        shutil.copyfile(deb, root.path("/tmp/" + name))
        root.seed_apt_cache()
        root.ok("apt-get", "update", "-q")
        # What an operator types, with the file as a path so apt reads it
        # as a package and not as a name.
        facts["install"] = root.run("sh", "-c", "cd /tmp && apt-get install -y -q ./" + name)
        root.keep_apt_cache()
        if facts["install"].returncode != 0:
            return facts
        facts["list"] = root.ok("dpkg", "-L", "ingestd").split("\n")
        facts["files"] = {p for p in facts["list"] if os.path.isfile(root.path(p))
                          and not os.path.islink(root.path(p))}
        facts["conffiles"] = root.ok("dpkg-query", "-W", "-f=${Conffiles}", "ingestd")
        facts["passwd"] = root.run("getent", "passwd", "ingestd")
        facts["group"] = root.run("getent", "group", "ingestd")
        facts["wants"] = (os.readlink(root.path(WANTS_LINK))
                          if os.path.islink(root.path(WANTS_LINK)) else None)
        facts["check_config"] = root.run("ingestd", "--check-config", "-c",
                                         "/etc/ingestd/ingestd.ini")
        facts["version"] = root.run("ingestd", "--version")
        facts["unit_exec"] = re.findall(r"^ExecStart=(.*)$", read(
            root.path("/lib/systemd/system/ingestd.service")), re.M)

        # What a running daemon leaves (systemd's LogsDirectory=ingestd makes
        # the directory, owned by ingestd, 0750), and an admin's edit.
        logdir = root.path("/var/log/ingestd")
        os.mkdir(logdir, 0o750)
        if facts["passwd"].returncode == 0:
            uid, gid = (int(x) for x in facts["passwd"].stdout.split(":")[2:4])
            os.chown(logdir, uid, gid)
        with open(os.path.join(logdir, "records.jsonl"), "w") as f:
            f.write(RECORD)
        with open(root.path("/etc/ingestd/ingestd.ini"), "a") as f:
            f.write(EDIT)

        facts["remove"] = root.run("apt-get", "remove", "-y", "-q", "ingestd")
        facts["removed"] = {
            "binary": os.path.exists(root.path("/usr/sbin/ingestd")),
            "unit": os.path.exists(root.path("/lib/systemd/system/ingestd.service")),
            "config": (read(root.path("/etc/ingestd/ingestd.ini")) or "").endswith(EDIT),
            "logrotate": os.path.exists(root.path("/etc/logrotate.d/ingestd")),
            "status": root.run("dpkg-query", "-W", "-f=${Status}", "ingestd").stdout,
        }

        facts["purge"] = root.run("apt-get", "purge", "-y", "-q", "ingestd")
        record = os.path.join(logdir, "records.jsonl")
        state = root.path("/var/lib/systemd/deb-systemd-helper-enabled")
        facts["purged"] = {
            "etc_ingestd": os.path.exists(root.path("/etc/ingestd")),
            "logrotate": os.path.exists(root.path("/etc/logrotate.d/ingestd")),
            "record": read(record),
            "wants": os.path.lexists(root.path(WANTS_LINK)),
            "state": sorted(os.path.relpath(os.path.join(d, f), state)
                            for d, _, fs in os.walk(state) for f in fs if "ingestd" in f),
            "status": root.run("dpkg-query", "-W", "-f=${Status}", "ingestd"),
            "passwd": root.run("getent", "passwd", "ingestd").returncode,
        }
        facts["systemd"] = CleanRoot.on_systemd(root, name)
        return facts

    @staticmethod
    def on_systemd(root, name):
        """Install, upgrade and remove again as if systemd were running
        (/run/systemd/system exists, policy-rc.d allows), with systemctl
        diverted to a stub that logs its arguments and calls every unit
        enabled and active: what the maintainer scripts ask of systemd."""
        root.ok("dpkg-divert", "--local", "--rename", "--add", "/usr/bin/systemctl")
        with open(root.path("/usr/bin/systemctl"), "w") as f:
            f.write('#!/bin/sh\necho "$*" >> /tmp/systemctl.log\n'
                    'case "$*" in *is-enabled*) echo enabled ;; esac\nexit 0\n')
        os.chmod(root.path("/usr/bin/systemctl"), 0o755)
        with open(root.path("/usr/sbin/policy-rc.d"), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.makedirs(root.path("/run/systemd/system"))
        log = root.path("/tmp/systemctl.log")
        out = {}
        for step, cmd in (("install", "cd /tmp && apt-get install -y -q ./" + name),
                          # The same version again: postinst configure
                          # with the old version in $2, as on an upgrade.
                          ("upgrade", "dpkg -i /tmp/" + name),
                          ("remove", "apt-get remove -y -q ingestd")):
            p = root.run("sh", "-c", cmd)
            out[step] = (p.returncode, p.stdout + p.stderr,
                         (read(log) or "").splitlines())
            if os.path.exists(log):
                os.unlink(log)
        return out

    def installed(self):
        p = self.facts["install"]
        self.assertEqual(p.returncode, 0, "apt-get install failed:\n" + p.stdout[-4000:]
                         + p.stderr[-4000:])

    def test_install_pulls_dependencies_from_the_mirror(self):
        self.installed()
        out = self.facts["install"].stdout
        for lib in ("libev4", "libinih1", "libjansson4", "librdkafka1"):
            self.assertRegex(out, r"(?m)^Setting up %s\b" % lib)
        self.assertRegex(out, r"(?m)^Setting up ingestd \(%s\)" % re.escape(VERSION))

    def test_files(self):
        self.installed()
        self.assertEqual(self.facts["files"], PACKAGE_FILES)

    def test_conffiles_registered(self):
        self.installed()
        registered = re.findall(r"^ (\S+) [0-9a-f]{32}$", self.facts["conffiles"], re.M)
        self.assertEqual(registered, CONFFILES, self.facts["conffiles"])

    def test_user_created(self):
        self.installed()
        p = self.facts["passwd"]
        self.assertEqual(p.returncode, 0, "no ingestd user after install")
        fields = p.stdout.strip().split(":")
        self.assertEqual((fields[0], fields[5], fields[6]),
                         ("ingestd", "/nonexistent", "/usr/sbin/nologin"))
        self.assertLess(int(fields[2]), 1000, "not a system uid: " + p.stdout)
        self.assertEqual(self.facts["group"].returncode, 0, "no ingestd group after install")

    def test_service_enabled(self):
        """deb-systemd-helper enabled ingestd.service (only it: the socket
        pair conflicts with it), so `systemctl start ingestd` needs nothing
        else and it comes up at boot."""
        self.installed()
        self.assertEqual(self.facts["wants"], "/lib/systemd/system/ingestd.service")
        self.assertEqual(self.facts["unit_exec"], ["/usr/sbin/ingestd -c /etc/ingestd/ingestd.ini"])

    def test_check_config_and_version(self):
        self.installed()
        p = self.facts["check_config"]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.facts["version"]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.splitlines()[0], "ingestd " + VERSION)
        self.assertRegex(p.stdout.splitlines()[1], r"^libev \d")

    def test_remove_keeps_config_drops_binary(self):
        self.installed()
        p = self.facts["remove"]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        r = self.facts["removed"]
        self.assertFalse(r["binary"], "the binary is still there after remove")
        self.assertFalse(r["unit"], "the unit is still there after remove")
        self.assertTrue(r["config"], "the admin's edited config did not survive remove")
        self.assertTrue(r["logrotate"], "the logrotate conffile did not survive remove")
        self.assertEqual(r["status"], "deinstall ok config-files")

    def test_purge_drops_config_keeps_records(self):
        self.installed()
        p = self.facts["purge"]
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        r = self.facts["purged"]
        self.assertFalse(r["etc_ingestd"], "/etc/ingestd is still there after purge")
        self.assertFalse(r["logrotate"], "/etc/logrotate.d/ingestd is still there after purge")
        self.assertEqual(r["record"], RECORD, "purge touched /var/log/ingestd/records.jsonl")
        self.assertFalse(r["wants"], "the enablement symlink outlived purge")
        self.assertEqual(r["state"], [], "deb-systemd-helper state outlived purge")
        status = r["status"]
        self.assertTrue(status.returncode != 0 or status.stdout.endswith(" not-installed"),
                        "dpkg still knows ingestd after purge: " + status.stdout)
        # Debian keeps system users: the records keep their owner.
        self.assertEqual(r["passwd"], 0, "purge removed the ingestd user")

    def calls(self, step):
        rc, output, calls = self.facts["systemd"][step]
        self.assertEqual(rc, 0, output)
        return calls

    def test_running_systemd_first_install_starts(self):
        self.installed()
        calls = self.calls("install")
        self.assertIn("--system daemon-reload", calls)
        self.assertIn("--quiet --system start ingestd.service", calls)
        self.assertFalse([c for c in calls if " restart " in c or c.startswith("stop")], calls)

    def test_running_systemd_upgrade_restarts_without_stopping(self):
        self.installed()
        calls = self.calls("upgrade")
        self.assertIn("--quiet --system restart ingestd.service ingestd-activated.service", calls)
        self.assertFalse([c for c in calls if c.startswith("stop") or " start " in c], calls)

    def test_running_systemd_remove_stops_socket_then_services(self):
        self.installed()
        calls = self.calls("remove")
        stops = [c for c in calls if c.startswith("stop")]
        self.assertEqual(stops, ["stop ingestd.socket",
                                 "stop ingestd.service ingestd-activated.service"], calls)
        self.assertEqual(calls[-1], "--system daemon-reload", calls)


def booted_problem():
    """Why a container with systemd as PID 1 cannot be had here, or None."""
    problem = clean_root_problem()
    if problem:
        return problem
    for tool in ("systemd-nspawn", "nsenter"):
        if not shutil.which(tool):
            return ("%s missing (scripts/install-deps --test installs systemd-container "
                    "and util-linux)" % tool)
    return None


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def container_init(nspawn_pid):
    """The container's PID 1 as the host sees it, or None yet: the
    descendant of nspawn that runs systemd in a PID namespace of its own
    (nspawn's first child is a short-lived helper in ours)."""
    mine = os.readlink("/proc/self/ns/pid")
    todo = children(nspawn_pid)
    while todo:
        pid = todo.pop()
        try:
            with open("/proc/%d/comm" % pid) as f:
                comm = f.read().strip()
            ns = os.readlink("/proc/%d/ns/pid" % pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        if comm == "systemd" and ns != mine:
            return pid
        todo.extend(children(pid))
    return None


@unittest.skipIf(booted_problem(), booted_problem() or "")
class RealSystemd(unittest.TestCase):
    """What the operator does, under a real systemd: the clean root gets
    systemd and is booted with systemd-nspawn (its own PID 1 and journal,
    no network: apt takes the packages it fetched beforehand from its
    cache); then `apt-get install ./…deb`, `systemctl start ingestd`, a
    sensor packet to the shipped listener, its record in
    /var/log/ingestd/records.jsonl, `systemctl reload ingestd`, and
    `apt-get purge ingestd`, which stops the service and keeps the record.
    The unit's sandbox (ProtectSystem=strict, the empty capability set,
    the system call filter) is the real one.  Skipped, with the reason,
    where the container does not boot."""

    @classmethod
    def setUpClass(cls):
        problem = mirror_problem()
        if problem:
            raise unittest.SkipTest(problem)
        deb = built_deb()
        root = Chroot(debootstrap_tar())
        cls.nspawn = None
        try:
            cls.facts = cls.lifecycle(root, deb)
        finally:
            if cls.nspawn is not None and cls.nspawn.poll() is None:
                cls.nspawn.kill()
                cls.nspawn.wait(30)
            root.close()

    @classmethod
    def lifecycle(cls, root, deb):
        facts = {}
        name = os.path.basename(deb)
        shutil.copyfile(deb, root.path("/root/" + name))
        root.seed_apt_cache()
        root.ok("apt-get", "update", "-q")
        root.ok("apt-get", "install", "-y", "-q", "--no-install-recommends",
                "systemd", "systemd-sysv", "dbus")
        # The package's dependencies, fetched now: the booted container
        # has no network, so its apt-get install takes them from the cache.
        root.ok("sh", "-c", "cd /root && apt-get install -y -q --download-only ./" + name)
        root.keep_apt_cache()
        # Services may start from now on; nspawn mounts its own /proc.
        os.unlink(root.path("/usr/sbin/policy-rc.d"))
        for m in sorted(mounts_under(root.root), reverse=True):
            subprocess.run(["umount", m])

        log = open(os.path.join(root.dir, "nspawn.log"), "w")
        cls.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "--private-network",
             "-D", root.root, "--boot", "--console=pipe"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        pid1 = None
        deadline = time.monotonic() + 60
        while pid1 is None:
            if cls.nspawn.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise unittest.SkipTest("systemd-nspawn did not boot the root here: " +
                                        (read(log.name) or "")[-1500:])
            pid1 = container_init(cls.nspawn.pid)
            time.sleep(0.05)   # /proc has no event for a new child

        def inside(*cmd, timeout=120):
            return run(["nsenter", "-t", str(pid1), "-a"] + list(cmd), timeout=timeout,
                       env=CHROOT_ENV)

        # --wait returns once start-up is done: "running", or "degraded"
        # when some unit the container cannot run failed.  Until the
        # container's D-Bus is up it cannot even be asked.
        # Nothing of the package is there yet: a container that does not
        # get this far is this machine's limit, a skip, not a failure.
        deadline = time.monotonic() + 60
        while True:
            try:
                facts["boot"] = inside("systemctl", "is-system-running", "--wait")
            except subprocess.TimeoutExpired:
                raise unittest.SkipTest("the container's systemd never finished starting")
            if facts["boot"].stdout.strip() or time.monotonic() > deadline:
                break
            time.sleep(0.1)   # no event from outside for "the bus is up"
        if facts["boot"].stdout.strip() not in ("running", "degraded"):
            raise unittest.SkipTest("the container's systemd is not up: %r %r" % (
                facts["boot"].stdout, facts["boot"].stderr[-500:]))
        facts["install"] = inside("sh", "-c", "cd /root && apt-get install -y -q ./" + name)
        facts["active_after_install"] = inside("systemctl", "is-active",
                                               "ingestd").stdout.strip()
        facts["start"] = inside("systemctl", "start", "ingestd")
        facts["active"] = inside("systemctl", "is-active", "ingestd").stdout.strip()
        facts["enabled"] = inside("systemctl", "is-enabled", "ingestd").stdout.strip()
        facts["user"] = inside("systemctl", "show", "-P", "User", "ingestd").stdout.strip()
        facts["ready"] = inside("journalctl", "-u", "ingestd", "--no-pager", "-o", "cat").stdout
        packet = "".join("\\x%02x" % b for b in sensor24(420, 1.5))
        facts["send"] = inside("bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/7001 && "
                               "printf '%s' >&3 && exec 3>&-" % packet)
        out = root.path("/var/log/ingestd/records.jsonl")
        deadline = time.monotonic() + 20
        while not (read(out) or "").endswith("\n") and time.monotonic() < deadline:
            time.sleep(0.05)   # the record file has no readiness signal to wait on
        facts["records"] = read(out)
        facts["reload"] = inside("systemctl", "reload", "ingestd")
        facts["active_after_reload"] = inside("systemctl", "is-active", "ingestd").stdout.strip()
        facts["journal"] = inside("journalctl", "-u", "ingestd", "--no-pager").stdout
        facts["purge"] = inside("apt-get", "purge", "-y", "-q", "ingestd")
        facts["active_after_purge"] = inside("systemctl", "is-active", "ingestd").stdout.strip()
        facts["etc_after_purge"] = os.path.exists(root.path("/etc/ingestd"))
        facts["records_after_purge"] = read(out)

        # SIGTERM: nspawn asks the container's systemd to power off.
        cls.nspawn.terminate()
        try:
            cls.nspawn.wait(60)
        except subprocess.TimeoutExpired:
            pass
        log.close()
        return facts

    def test_install_then_systemctl_start(self):
        f = self.facts
        self.assertEqual(f["install"].returncode, 0, f["install"].stdout[-3000:] +
                         f["install"].stderr[-3000:])
        # postinst started it (deb-systemd-invoke); the operator's start is then a no-op.
        self.assertEqual(f["active_after_install"], "active")
        self.assertEqual(f["start"].returncode, 0, f["start"].stderr)
        self.assertEqual((f["active"], f["enabled"], f["user"]), ("active", "enabled", "ingestd"))
        self.assertIn("ready: 3 listeners, output /var/log/ingestd/records.jsonl", f["ready"])

    def test_a_packet_becomes_a_record(self):
        self.assertEqual(self.facts["send"].returncode, 0, self.facts["send"].stderr)
        lines = (self.facts["records"] or "").splitlines()
        self.assertEqual(len(lines), 1, self.facts["records"])
        rec = json.loads(lines[0])
        self.assertEqual((rec["sensorId"], rec["timestamp"], rec["_listener"]),
                         (420, 1.5, "sensors"))

    def test_reload(self):
        self.assertEqual(self.facts["reload"].returncode, 0,
                         self.facts["reload"].stderr + self.facts["journal"][-3000:])
        self.assertEqual(self.facts["active_after_reload"], "active")
        # ExecReload's SIGHUP reached the daemon, and it reopened its file.
        self.assertIn("SIGHUP: output reopened", self.facts["journal"])

    def test_purge_stops_it_and_keeps_the_records(self):
        f = self.facts
        self.assertEqual(f["purge"].returncode, 0, f["purge"].stderr[-3000:])
        self.assertEqual(f["active_after_purge"], "inactive")
        self.assertFalse(f["etc_after_purge"])
        self.assertEqual(f["records_after_purge"], f["records"])


if __name__ == "__main__":
    unittest.main()
