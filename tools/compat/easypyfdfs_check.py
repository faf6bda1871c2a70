#!/usr/bin/env python3
"""Drives a live swift-fdfs tracker + storage with easypyfdfs 3.0.1 (PyPI; module fdfs_client).

Usage: easypyfdfs_check.py --client-conf FILE [--group group1] [--storage-ip 127.0.0.1]
                           [--subdir-count 4] [--scratch DIR] [--seed N]
Normally started by tools/compat/run, which installs the package into .venv and starts the
daemons. Prints one line per check ("ok" or "FAIL") and a summary; exits 1 if any check failed
or could not run (a scenario stops at its first failure: later steps depend on it), 0 otherwise.

What is exercised (the client's own public calls, plus its Storage_client methods where the
top-level Fdfs_client call cannot express the request):
  * upload_by_buffer / upload_by_filename / upload_appender_by_buffer / _by_filename: the
    returned file id parses (group, M00/HH/HH, 27-char name block, 7-char suffix with the
    extension) and its name block decodes to this storage's IP, a current timestamp, the
    size and CRC32 of the content (normal files) or the appender flag (appender files);
  * download_to_buffer / download_to_file (whole file) and Storage_client ranges: bytes equal;
  * delete_file, then download and a second delete fail with ENOENT;
  * append_by_buffer / append_by_filename, modify_by_buffer / modify_by_filename (offset 0),
    Storage_client modify at an offset and past the end, truncate_file (shrink, grow with
    zeros, to 0), append after truncate: the content after every step equals the bytes
    computed locally;
  * TRUNCATE of a normal file fails with EINVAL (as C FastDFS); a 0-byte file downloads as
    empty content (C answers EINVAL; docs/compatibility.md item 30).
Metadata is not exercised: easypyfdfs 3.0.1's metadata calls fail inside the client on
Python 3 (see docs/compatibility.md); our own tests cover SET/GET_METADATA.
"""
import argparse
import base64
import importlib.metadata
import os
import random
import re
import struct
import sys
import tempfile
import time
import zlib

EXPECTED_VERSION = "3.0.1"

try:
    from fdfs_client.client import Fdfs_client, get_tracker_conf
    from fdfs_client.exceptions import DataError
    from fdfs_client.storage_client import Storage_client
    from fdfs_client.tracker_client import Tracker_client
    from fdfs_client.utils import appromix, split_remote_fileid
except Exception as e:  # the package is a hard requirement: fail, never skip
    print(f"FAIL  import fdfs_client (easypyfdfs {EXPECTED_VERSION}): {type(e).__name__}: {e}")
    print("easypyfdfs check: 0 passed, 1 failed (package missing or broken)")
    sys.exit(1)

APPENDER_FLAG = 1 << 58
TRUNK_FLAG = 1 << 59
RANDOM_FLAG = 1 << 63
ENOENT, EINVAL = 2, 22

FILE_ID_RE = re.compile(
    rb"^(?P<group>[A-Za-z0-9]{1,16})/M(?P<path>[0-9A-F]{2})/(?P<high>[0-9A-F]{2})/(?P<low>[0-9A-F]{2})/"
    rb"(?P<block>[A-Za-z0-9_-]{27})(?P<suffix>[A-Za-z0-9._-]{7})$"
)


class StepFailed(Exception):
    pass


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def expect_bytes(got, want, what="content"):
    if got == want:
        return
    if not isinstance(got, (bytes, bytearray)):
        raise AssertionError(f"{what}: got a {type(got).__name__}, expected {len(want)} bytes")
    first = next((i for i, (a, b) in enumerate(zip(got, want)) if a != b), min(len(got), len(want)))
    raise AssertionError(f"{what}: {len(got)} bytes, expected {len(want)}; first difference at offset {first}")


def error_status(exc):
    """The errno easypyfdfs puts in its DataError text ('[-] Error: 2, ...' or 'Error: 2 ...')."""
    m = re.search(r"Error:\s*(\d+)", str(exc))
    return int(m.group(1)) if m else None


def expect_fdfs_error(call, status, what):
    try:
        result = call()
    except DataError as e:
        got = error_status(e)
        expect(got == status, f"{what}: expected status {status} ({os.strerror(status)}), got {got}: {e}")
        return f"status {status} ({os.strerror(status)}) as expected"
    raise AssertionError(f"{what}: expected status {status} ({os.strerror(status)}), but the call succeeded: {result!r}")


class Context:
    def __init__(self, args):
        self.args = args
        self.group = args.group.encode()
        self.storage_ip = args.storage_ip.encode()
        self.rng = random.Random(args.seed)
        self.scratch = args.scratch or tempfile.mkdtemp(prefix="easypyfdfs-check.")
        os.makedirs(self.scratch, exist_ok=True)
        self.client = None
        self.passed = 0
        self.failed = 0
        self.not_run = 0

    def data(self, n):
        return self.rng.randbytes(n)

    def local_file(self, name, content):
        path = os.path.join(self.scratch, name)
        with open(path, "wb") as f:
            f.write(content)
        return path

    # --- file ids ------------------------------------------------------------------------

    def parse_file_id(self, file_id, *, content=None, appender=False, ext=""):
        """Checks a returned file id; returns a one-line description."""
        expect(isinstance(file_id, bytes), f"file id is a {type(file_id).__name__}, expected bytes")
        m = FILE_ID_RE.match(file_id)
        expect(m is not None, f"file id {file_id!r} does not have the form group/Mxx/HH/HH/<27 chars><7 chars>")
        expect(m["group"] == self.group, f"group {m['group']!r}, expected {self.group!r}")
        expect(m["path"] == b"00", f"store path M{m['path'].decode()}, expected M00 (one store path)")
        for part in ("high", "low"):
            v = int(m[part], 16)
            expect(v < self.args.subdir_count, f"subdirectory {m[part].decode()} >= subdir_count_per_path {self.args.subdir_count}")
        suffix = m["suffix"].decode()
        if ext:
            expect(suffix.endswith("." + ext), f"suffix {suffix!r} does not end with .{ext}")
            expect(suffix[: len(suffix) - len(ext) - 1].isdigit() or len(ext) == 6, f"suffix {suffix!r}: expected digits then .{ext}")
        else:
            expect(suffix.isdigit(), f"suffix {suffix!r}: expected 7 digits (no extension)")
        raw = base64.urlsafe_b64decode(m["block"] + b"=")
        expect(len(raw) == 20, f"name block decodes to {len(raw)} bytes, expected 20")
        ip = ".".join(str(b) for b in raw[0:4]).encode()
        (ts,) = struct.unpack(">i", raw[4:8])
        (size_field,) = struct.unpack(">Q", raw[8:16])
        (crc,) = struct.unpack(">I", raw[16:20])
        expect(ip == self.storage_ip, f"source address in the name is {ip.decode()}, expected {self.storage_ip.decode()}")
        expect(abs(ts - time.time()) < 300, f"creation time in the name is {ts}, not within 5 minutes of now")
        expect(not size_field & TRUNK_FLAG, f"size field {size_field:#018x} has the trunk flag")
        if appender:
            expect(size_field & APPENDER_FLAG, f"size field {size_field:#018x} lacks the appender flag")
            return f"{file_id.decode()} (appender)"
        expect(not size_field & APPENDER_FLAG, f"size field {size_field:#018x} has the appender flag on a normal file")
        expect(size_field & RANDOM_FLAG, f"size field {size_field:#018x} lacks the random-bits flag")
        size = size_field & 0xFFFFFFFF
        expect(size == len(content), f"size in the name is {size}, expected {len(content)}")
        want_crc = zlib.crc32(content) & 0xFFFFFFFF
        expect(crc == want_crc, f"CRC32 in the name is {crc:#010x}, expected {want_crc:#010x}")
        return f"{file_id.decode()} (size {size}, crc32 {crc:#010x})"

    def check_upload_result(self, ret, content, *, local_name=None):
        expect(isinstance(ret, dict), f"upload returned {ret!r}, expected a dict")
        expect(ret.get("Status") == "Upload successed.", f"Status {ret.get('Status')!r}")
        expect(ret.get("Group name") == self.group, f"Group name {ret.get('Group name')!r}, expected {self.group!r}")
        expect(ret.get("Storage IP") == self.storage_ip, f"Storage IP {ret.get('Storage IP')!r}, expected {self.storage_ip!r}")
        expect(ret.get("Uploaded size") == appromix(len(content)),
               f"Uploaded size {ret.get('Uploaded size')!r}, expected {appromix(len(content))!r}")
        if local_name is not None:
            expect(ret.get("Local file name") == local_name, f"Local file name {ret.get('Local file name')!r}")
        return ret["Remote file_id"]

    # --- downloads through the client's own calls ---------------------------------------

    def download_buffer(self, file_id, want):
        ret = self.client.download_to_buffer(file_id)
        expect(ret.get("Remote file_id") == file_id, f"Remote file_id {ret.get('Remote file_id')!r}")
        expect(ret.get("Storage IP") == self.storage_ip, f"Storage IP {ret.get('Storage IP')!r}, expected {self.storage_ip!r}")
        expect_bytes(ret.get("Content"), want)
        expect(ret.get("Download size") == appromix(len(want)),
               f"Download size {ret.get('Download size')!r}, expected {appromix(len(want))!r}")
        return f"{len(want)} bytes equal"

    def download_file(self, file_id, want, name):
        path = os.path.join(self.scratch, name)
        if os.path.exists(path):
            os.unlink(path)
        ret = self.client.download_to_file(path, file_id)
        expect(ret.get("Content") == path, f"Content {ret.get('Content')!r}, expected the local file name")
        expect(ret.get("Download size") == appromix(len(want)),
               f"Download size {ret.get('Download size')!r}, expected {appromix(len(want))!r}")
        with open(path, "rb") as f:
            expect_bytes(f.read(), want, "downloaded file")
        return f"{len(want)} bytes equal"

    # --- requests the top-level client cannot express (see the quirks in the docs) -----

    def storage_for(self, file_id, update):
        group, name = split_remote_fileid(file_id)
        tc = Tracker_client(self.client.tracker_pool)
        ss = tc.tracker_query_storage_update(group, name) if update else tc.tracker_query_storage_fetch(group, name)
        expect(ss.ip_addr == self.storage_ip, f"tracker names storage {ss.ip_addr!r}, expected {self.storage_ip!r}")
        return tc, ss, Storage_client(ss.ip_addr, ss.port, self.client.timeout), name

    def download_range(self, file_id, offset, count, want):
        tc, ss, sc, name = self.storage_for(file_id, update=False)
        ret = sc.storage_download_to_buffer(tc, ss, None, offset, count, name)
        expect_bytes(ret.get("Content"), want, f"range {offset}+{count}")
        return f"offset {offset} count {count}: {len(want)} bytes equal"

    def modify_at(self, file_id, offset, data):
        tc, ss, sc, name = self.storage_for(file_id, update=True)
        ret = sc.storage_modify_by_buffer(tc, ss, data, offset, len(data), name)
        expect(ret.get("Status") == "Modify successed.", f"Status {ret.get('Status')!r}")


# ------------------------------------------------------------------------------ scenarios

def scenario_setup(cx):
    steps = []

    def step(name):
        return lambda fn: steps.append((name, fn))

    @step(f"easypyfdfs version is {EXPECTED_VERSION}")
    def _():
        v = importlib.metadata.version("easyPyFdfs")
        expect(v == EXPECTED_VERSION, f"installed easypyfdfs is {v}")
        return v

    @step("get_tracker_conf(client.conf) and Fdfs_client(...)")
    def _():
        conf = get_tracker_conf(cx.args.client_conf)
        expect(conf.get("host_tuple") == ("127.0.0.1",), f"host_tuple {conf.get('host_tuple')!r}")
        cx.client = Fdfs_client(conf)
        return f"tracker {conf['host_tuple'][0]}:{conf['port']}, timeout {conf['timeout']} s"

    return steps


def scenario_buffer(cx):
    steps, st = [], {}

    def step(name):
        return lambda fn: steps.append((name, fn))

    st["data"] = cx.data(300_001)  # more than one 256 KiB network buffer

    @step("upload_by_buffer (300001 bytes, ext 'bin')")
    def _():
        ret = cx.client.upload_by_buffer(st["data"], "bin")
        st["id"] = cx.check_upload_result(ret, st["data"], local_name="")
        return cx.parse_file_id(st["id"], content=st["data"], ext="bin")

    @step("download_to_buffer equals the uploaded bytes")
    def _():
        return cx.download_buffer(st["id"], st["data"])

    @step("download_to_file equals the uploaded bytes")
    def _():
        return cx.download_file(st["id"], st["data"], "buffer-upload.out")

    @step("ranged download (Storage_client, offset 1000, count 5000)")
    def _():
        return cx.download_range(st["id"], 1000, 5000, st["data"][1000:6000])

    @step("ranged download past the end is clipped (offset size-10, count 100)")
    def _():
        n = len(st["data"])
        return cx.download_range(st["id"], n - 10, 100, st["data"][n - 10:])

    @step("truncate_file on a normal (non-appender) file fails with EINVAL")
    def _():
        return expect_fdfs_error(lambda: cx.client.truncate_file(10, st["id"]), EINVAL, "truncate of a normal file")

    @step("the normal file is unchanged after the refused truncate")
    def _():
        return cx.download_buffer(st["id"], st["data"])

    @step("upload_by_buffer (1 byte, no extension)")
    def _():
        st["one"] = b"\x00"
        ret = cx.client.upload_by_buffer(st["one"])
        st["one_id"] = cx.check_upload_result(ret, st["one"], local_name="")
        desc = cx.parse_file_id(st["one_id"], content=st["one"], ext="")
        cx.download_buffer(st["one_id"], st["one"])
        return desc + ", downloaded back"

    @step("delete_file")
    def _():
        ret = cx.client.delete_file(st["id"])
        expect(ret == ("Delete file successed.", st["id"], cx.storage_ip), f"returned {ret!r}")
        ret = cx.client.delete_file(st["one_id"])
        expect(ret[0] == "Delete file successed.", f"returned {ret!r}")
        return "both files deleted"

    @step("download_to_buffer of the deleted file fails with ENOENT")
    def _():
        return expect_fdfs_error(lambda: cx.client.download_to_buffer(st["id"]), ENOENT, "download after delete")

    @step("download_to_file of the deleted file fails with ENOENT")
    def _():
        path = os.path.join(cx.scratch, "deleted.out")
        return expect_fdfs_error(lambda: cx.client.download_to_file(path, st["id"]), ENOENT, "download after delete")

    @step("delete_file of the deleted file fails with ENOENT")
    def _():
        return expect_fdfs_error(lambda: cx.client.delete_file(st["id"]), ENOENT, "second delete")

    return steps


def scenario_filename(cx):
    steps, st = [], {}

    def step(name):
        return lambda fn: steps.append((name, fn))

    files = [("payload.txt", 1_048_579, "txt"), ("archive.tar.gz", 10_000, "tar.gz"), ("noextension", 4_097, "")]

    for local, size, ext in files:
        def upload(local=local, size=size, ext=ext):
            content = cx.data(size)
            path = cx.local_file(local, content)
            ret = cx.client.upload_by_filename(path)
            file_id = cx.check_upload_result(ret, content, local_name=path)
            st[local] = (file_id, content)
            return cx.parse_file_id(file_id, content=content, ext=ext)
        steps.append((f"upload_by_filename ({local}, {size} bytes)", upload))

        def down_file(local=local):
            file_id, content = st[local]
            return cx.download_file(file_id, content, local + ".out")
        steps.append((f"download_to_file equals {local}", down_file))

        def down_buffer(local=local):
            file_id, content = st[local]
            return cx.download_buffer(file_id, content)
        steps.append((f"download_to_buffer equals {local}", down_buffer))

    @step("delete_file of the three files, then downloads fail with ENOENT")
    def _():
        for local, _, _ in files:
            file_id, _ = st[local]
            ret = cx.client.delete_file(file_id)
            expect(ret[0] == "Delete file successed.", f"{local}: returned {ret!r}")
            expect_fdfs_error(lambda: cx.client.download_to_buffer(file_id), ENOENT, f"download of deleted {local}")
        return "3 deleted, 3 downloads refused"

    return steps


def scenario_appender(cx):
    steps, st = [], {}

    def step(name):
        return lambda fn: steps.append((name, fn))

    def verify(what="content"):
        got = cx.client.download_to_buffer(st["id"])["Content"]
        expect_bytes(got, bytes(st["want"]), what)
        return f"{len(st['want'])} bytes equal"

    @step("upload_appender_by_buffer (1000 bytes, ext 'log')")
    def _():
        first = cx.data(1000)
        ret = cx.client.upload_appender_by_buffer(first, "log")
        st["id"] = cx.check_upload_result(ret, first, local_name="")
        st["want"] = bytearray(first)
        desc = cx.parse_file_id(st["id"], appender=True, ext="log")
        verify()
        return desc + ", downloaded back"

    @step("append_by_buffer (70000 bytes)")
    def _():
        more = cx.data(70_000)
        ret = cx.client.append_by_buffer(more, st["id"])
        expect(ret.get("Status") == "Append file successed.", f"Status {ret.get('Status')!r}")
        expect(ret.get("Appender file name") == st["id"], f"Appender file name {ret.get('Appender file name')!r}")
        st["want"] += more
        return verify()

    @step("append_by_filename (300000 bytes, more than one network buffer)")
    def _():
        more = cx.data(300_000)
        ret = cx.client.append_by_filename(cx.local_file("append.dat", more), st["id"])
        expect(ret.get("Status") == "Append file successed.", f"Status {ret.get('Status')!r}")
        st["want"] += more
        return verify()

    @step("modify_by_buffer (5000 bytes at offset 0)")
    def _():
        patch = cx.data(5000)
        ret = cx.client.modify_by_buffer(patch, st["id"])
        expect(ret.get("Status") == "Modify successed.", f"Status {ret.get('Status')!r}")
        st["want"][0:5000] = patch
        return verify()

    @step("modify (Storage_client) 3000 bytes at offset 123457")
    def _():
        patch = cx.data(3000)
        cx.modify_at(st["id"], 123_457, patch)
        st["want"][123_457:126_457] = patch
        return verify()

    @step("modify (Storage_client) across the end: 1000 bytes at size-100")
    def _():
        patch = cx.data(1000)
        offset = len(st["want"]) - 100
        cx.modify_at(st["id"], offset, patch)
        st["want"][offset:] = patch
        return verify()

    @step("modify_by_filename (2000 bytes at offset 0)")
    def _():
        patch = cx.data(2000)
        ret = cx.client.modify_by_filename(cx.local_file("modify.dat", patch), st["id"])
        expect(ret.get("Status") == "Modify successed.", f"Status {ret.get('Status')!r}")
        st["want"][0:2000] = patch
        return verify()

    @step("ranged download of the appender (Storage_client, offset 99999, count 777)")
    def _():
        return cx.download_range(st["id"], 99_999, 777, bytes(st["want"][99_999:100_776]))

    @step("download_to_file equals the expected appender content")
    def _():
        return cx.download_file(st["id"], bytes(st["want"]), "appender.out")

    @step("truncate_file to 4321 bytes")
    def _():
        ret = cx.client.truncate_file(4321, st["id"])
        expect(ret.get("Status") == "Truncate successed.", f"Status {ret.get('Status')!r}")
        del st["want"][4321:]
        return verify()

    @step("truncate_file to 5000 bytes extends with zeros")
    def _():
        cx.client.truncate_file(5000, st["id"])
        st["want"] += bytes(5000 - len(st["want"]))
        return verify()

    @step("truncate_file to 0 bytes; the empty file downloads as empty content (C answers EINVAL)")
    def _():
        cx.client.truncate_file(0, st["id"])
        st["want"] = bytearray()
        return verify()

    @step("append_by_buffer after truncating to 0")
    def _():
        more = cx.data(12_345)
        cx.client.append_by_buffer(more, st["id"])
        st["want"] += more
        return verify()

    @step("upload_appender_by_filename (2048 bytes, ext 'dat'), then append_by_buffer")
    def _():
        first = cx.data(2048)
        path = cx.local_file("appender-by-file.dat", first)
        ret = cx.client.upload_appender_by_filename(path)
        file_id = cx.check_upload_result(ret, first, local_name=path)
        desc = cx.parse_file_id(file_id, appender=True, ext="dat")
        more = cx.data(100)
        cx.client.append_by_buffer(more, file_id)
        got = cx.client.download_to_buffer(file_id)["Content"]
        expect_bytes(got, first + more)
        st["second_id"] = file_id
        return desc + f", {len(first) + len(more)} bytes equal"

    @step("delete_file of both appender files, then downloads fail with ENOENT")
    def _():
        for file_id in (st["id"], st["second_id"]):
            ret = cx.client.delete_file(file_id)
            expect(ret[0] == "Delete file successed.", f"returned {ret!r}")
            expect_fdfs_error(lambda: cx.client.download_to_buffer(file_id), ENOENT, "download after delete")
        return "2 deleted, 2 downloads refused"

    return steps


# ------------------------------------------------------------------------------ runner

def run_scenario(cx, title, steps):
    print(f"== {title}")
    for i, (name, fn) in enumerate(steps):
        started = time.monotonic()
        try:
            detail = fn()
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # SystemExit too: easypyfdfs calls sys.exit() when it cannot connect
            cx.failed += 1
            kind = "SystemExit raised inside easypyfdfs (connection failure)" if isinstance(e, SystemExit) else type(e).__name__
            print(f"FAIL  {name}: {kind}: {e}")
            rest = len(steps) - i - 1
            if rest:
                cx.not_run += rest
                print(f"      ({rest} later step(s) of '{title}' not run)")
            return False
        cx.passed += 1
        ms = (time.monotonic() - started) * 1000
        print(f"ok    {name}" + (f": {detail}" if detail else "") + f" [{ms:.0f} ms]")
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client-conf", required=True, help="client.conf naming the tracker")
    ap.add_argument("--group", default="group1")
    ap.add_argument("--storage-ip", default="127.0.0.1", help="the address the tracker reports for the storage")
    ap.add_argument("--subdir-count", type=int, default=256, help="subdir_count_per_path of the storage")
    ap.add_argument("--scratch", help="directory for local files (default: a new temporary directory)")
    ap.add_argument("--seed", type=int, default=int(time.time()), help="seed of the random payloads")
    args = ap.parse_args()

    cx = Context(args)
    started = time.monotonic()
    print(f"easypyfdfs check: client.conf {args.client_conf}, seed {args.seed}, Python {sys.version.split()[0]}")
    if run_scenario(cx, "setup", scenario_setup(cx)):
        for title, make in (("upload by buffer, download, delete", scenario_buffer),
                            ("upload by file name, download, delete", scenario_filename),
                            ("appender: append, modify, truncate", scenario_appender)):
            run_scenario(cx, title, make(cx))
    else:
        cx.not_run += sum(len(make(cx)) for make in (scenario_buffer, scenario_filename, scenario_appender))
    total = cx.passed + cx.failed + cx.not_run
    verdict = "PASSED" if cx.failed == 0 and cx.not_run == 0 else "FAILED"
    print(f"easypyfdfs {EXPECTED_VERSION} check {verdict}: {total} checks, {cx.passed} passed, "
          f"{cx.failed} failed, {cx.not_run} not run ({time.monotonic() - started:.1f} s)")
    return 0 if verdict == "PASSED" else 1


if __name__ == "__main__":
    sys.exit(main())
