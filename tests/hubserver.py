"""A small in-memory Hugging Face Hub for tests, served on loopback by the stdlib.

It implements the part of the Hub HTTP API that ``huggingface_hub`` uses to create a repo and
branches, commit files (preupload, LFS batch + basic upload + verify, NDJSON commit), tag a
commit, read repo info and trees, and download files, so that tests run the real client code
end to end. Every request is recorded in :attr:`FakeHub.requests`.

Example:
    ```python
    with FakeHub() as hub:
        api = huggingface_hub.HfApi(endpoint=hub.endpoint, token=hub.token)
        api.create_repo("org/name")
    ```
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

TOKEN = "hf_fakehub_test_token"
LFS_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".png", ".h5", ".onnx")
MAX_BODY = 256 * 1024 * 1024
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"


def git_hash(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports as a file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def connect(mp, endpoint: str) -> None:
    """Point huggingface_hub (and fakezoo, and timm through it) at ``endpoint``, online.

    ``mp`` is a ``pytest.MonkeyPatch``: the constants huggingface_hub reads at import time are
    patched too, and everything is undone with it.
    """
    from huggingface_hub import constants

    mp.setenv("HF_HUB_OFFLINE", "0")
    mp.setattr(constants, "HF_HUB_OFFLINE", False)
    mp.setenv("HF_ENDPOINT", endpoint)
    mp.setattr(constants, "ENDPOINT", endpoint)
    mp.setattr(
        constants,
        "HUGGINGFACE_CO_URL_TEMPLATE",
        endpoint + "/{repo_id}/resolve/{revision}/{filename}",
    )
    mp.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the fake Hub speaks LFS, not Xet
    mp.setattr(constants, "HF_HUB_DISABLE_PROGRESS_BARS", True)
    mp.delenv("HF_TOKEN", raising=False)


def is_lfs(path: str, size: int) -> bool:
    return path.endswith(LFS_SUFFIXES) or size >= 10 * 1024 * 1024


@dataclass
class Commit:
    oid: str
    parent: str | None
    summary: str
    files: dict[str, bytes]
    changed: list[str] = field(default_factory=list)


@dataclass
class Repo:
    repo_id: str
    private: bool
    gated: bool = False
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    api_commits: list[str] = field(default_factory=list)  # made through POST .../commit

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        if revision in self.tags:
            return self.tags[revision]
        return revision if revision in self.commits else None


class HubError(Exception):
    def __init__(self, status: int, message: str, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class FakeHub:
    """An in-memory Hub on ``127.0.0.1`` (random port), run in a daemon thread.

    Attributes:
        endpoint: ``http://127.0.0.1:<port>``.
        token: the one token that may write (and read private repos).
        repos: repo id -> :class:`Repo`.
        lfs: LFS objects by sha256.
        requests: ``(method, path)`` of every request, in order.
    """

    def __init__(self, token: str = TOKEN):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.lfs: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            fake = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, daemon=True, kwargs={"poll_interval": 0.05}
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def __enter__(self) -> FakeHub:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- state helpers for tests ---------------------------------------------------------------
    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        private: bool = False,
        gated: bool = False,
        tag: str | None = None,
    ) -> str:
        """Create a repo holding ``files`` in one commit on ``main``; return the commit id.

        A gated repo answers 403 ``GatedRepo`` to requests without the token, as the Hub does
        before a user accepts its conditions.
        """
        with self.lock:
            repo = self._create(repo_id, private)
            repo.gated = gated
            oid = self._commit(repo, "main", "add files", files, [])
            if tag:
                repo.tags[tag] = oid
            return oid

    def _create(self, repo_id: str, private: bool) -> Repo:
        repo = Repo(repo_id, private)
        self.repos[repo_id] = repo
        self._commit(repo, "main", "initial commit", {".gitattributes": GITATTRIBUTES}, [])
        return repo

    def _commit(
        self, repo: Repo, branch: str, summary: str, add: dict[str, bytes], delete: list[str]
    ) -> str:
        parent = repo.branches.get(branch)
        files = dict(repo.commits[parent].files) if parent else {}
        for path in delete:
            files.pop(path, None)
        files.update(add)
        digest = hashlib.sha1(
            json.dumps(
                [
                    parent,
                    summary,
                    len(repo.commits),
                    sorted((p, git_hash(d)) for p, d in files.items()),
                ]
            ).encode()
        )
        oid = digest.hexdigest()
        repo.commits[oid] = Commit(oid, parent, summary, files, sorted(add) + sorted(delete))
        repo.branches[branch] = oid
        return oid


_REPO = r"(?P<repo>[A-Za-z0-9][\w.\-]*/[A-Za-z0-9][\w.\-]*?)"
_ROUTES = [
    ("POST", re.compile(r"/api/repos/create"), "create_repo"),
    ("POST", re.compile(r"/api/validate-yaml"), "validate_yaml"),
    ("POST", re.compile(rf"/api/models/{_REPO}/preupload/(?P<rev>[^/]+)"), "preupload"),
    ("POST", re.compile(rf"/api/models/{_REPO}/commit/(?P<rev>[^/]+)"), "commit"),
    ("POST", re.compile(rf"/api/models/{_REPO}/tag/(?P<rev>[^/]+)"), "tag"),
    ("POST", re.compile(rf"/api/models/{_REPO}/branch/(?P<branch>[^/]+)"), "branch"),
    ("GET", re.compile(rf"/api/models/{_REPO}(?:/revision/(?P<rev>[^/]+))?"), "info"),
    ("GET", re.compile(rf"/api/models/{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.+))?"), "tree"),
    ("POST", re.compile(rf"/{_REPO}\.git/info/lfs/objects/batch"), "lfs_batch"),
    ("PUT", re.compile(r"/__lfs/upload/(?P<oid>[0-9a-f]{64})"), "lfs_put"),
    ("POST", re.compile(r"/__lfs/verify"), "lfs_verify"),
    ("GET", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
    ("HEAD", re.compile(rf"/{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)"), "resolve"),
]


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    # -- plumbing ------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise HubError(413, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise HubError(413, "request body too large")
        return self.rfile.read(length) if length else b""

    def _json(self) -> dict:
        try:
            return json.loads(self._body() or b"{}")
        except json.JSONDecodeError as err:
            raise HubError(400, f"invalid JSON: {err}") from err

    def _send(
        self,
        status: int,
        body: bytes = b"",
        headers: dict | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str((headers or {}).pop("__length", len(body))))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _reply(self, data, status: int = 200) -> None:
        self._send(status, json.dumps(data).encode())

    def _authorized(self) -> bool:
        return self.headers.get("Authorization") == f"Bearer {self.fake.token}"

    def _repo(self, repo_id: str, write: bool = False) -> Repo:
        if write and not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        repo = self.fake.repos.get(repo_id)
        if repo is None or (repo.private and not self._authorized()):
            raise HubError(404, "Repository not found", "RepoNotFound")
        if repo.gated and not self._authorized():
            raise HubError(
                403,
                f"Access to model {repo_id} is restricted. You must have access "
                f"to it and be authenticated to access it.",
                "GatedRepo",
            )
        return repo

    def _commit_of(self, repo: Repo, rev: str) -> Commit:
        oid = repo.resolve(unquote(rev))
        if oid is None:
            raise HubError(404, f"Invalid rev id: {unquote(rev)}", "RevisionNotFound")
        return repo.commits[oid]

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        with self.fake.lock:
            self.fake.requests.append((self.command, url.path))
        try:
            for method, pattern, name in _ROUTES:
                match = pattern.fullmatch(url.path)
                if method == self.command and match:
                    groups = {k: v for k, v in match.groupdict().items() if v is not None}
                    with self.fake.lock:
                        getattr(self, f"do_{name}")(parse_qs(url.query), **groups)
                    return
            raise HubError(404, f"no route for {self.command} {url.path}")
        except (KeyError, TypeError, ValueError) as err:  # a malformed request
            self._send(400, json.dumps({"error": f"bad request: {err!r}"}).encode())
        except HubError as err:
            headers = {"X-Error-Message": err.message}
            if err.code:
                headers["X-Error-Code"] = err.code
            self._send(err.status, json.dumps({"error": err.message}).encode(), headers)

    do_GET = do_POST = do_PUT = do_HEAD = _dispatch

    # -- endpoints -----------------------------------------------------------------------------
    def do_create_repo(self, query) -> None:
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        data = self._json()
        if data.get("type", "model") != "model":
            raise HubError(400, "only model repos")
        repo_id = (
            f"{data['organization']}/{data['name']}"
            if data.get("organization")
            else (f"user/{data['name']}")
        )
        if repo_id in self.fake.repos:  # the Hub answers 409 with the repo's url
            self._reply(
                {
                    "error": "You already created this model repo",
                    "url": f"{self.fake.endpoint}/{repo_id}",
                },
                409,
            )
            return
        self.fake._create(repo_id, data.get("visibility") == "private")
        self._reply({"url": f"{self.fake.endpoint}/{repo_id}", "name": repo_id})

    def do_validate_yaml(self, query) -> None:
        content = self._json().get("content", "")
        errors = []
        if content.startswith("---"):
            try:
                yaml.safe_load(content.split("---", 2)[1])
            except (yaml.YAMLError, IndexError) as err:
                errors.append({"message": str(err)})
        if errors:
            self._reply({"errors": errors}, 400)
        else:
            self._reply({"errors": [], "warnings": []})

    def do_preupload(self, query, repo: str, rev: str) -> None:
        repo_obj = self._repo(repo, write=True)
        current = self._commit_of(repo_obj, rev).files
        files = []
        for item in self._json().get("files", []):
            path, size = item["path"], int(item["size"])
            lfs = is_lfs(path, size)
            entry = {"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False}
            if path in current:
                data = current[path]
                entry["oid"] = hashlib.sha256(data).hexdigest() if lfs else git_hash(data)
            files.append(entry)
        self._reply({"files": files, "commitOid": repo_obj.resolve(unquote(rev))})

    def do_lfs_batch(self, query, repo: str) -> None:
        self._repo(repo, write=True)
        data = self._json()
        if data.get("operation") != "upload":
            raise HubError(400, "only uploads")
        objects = []
        for obj in data.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            entry = {"oid": oid, "size": size, "authenticated": True}
            if oid not in self.fake.lfs:
                entry["actions"] = {
                    "upload": {"href": f"{self.fake.endpoint}/__lfs/upload/{oid}", "header": {}},
                    "verify": {"href": f"{self.fake.endpoint}/__lfs/verify", "header": {}},
                }
            objects.append(entry)
        self._reply({"transfer": "basic", "objects": objects})

    def do_lfs_put(self, query, oid: str) -> None:
        data = self._body()
        if hashlib.sha256(data).hexdigest() != oid:
            raise HubError(400, "sha256 does not match the object id")
        self.fake.lfs[oid] = data
        self._send(200)

    def do_lfs_verify(self, query) -> None:
        if not self._authorized():
            raise HubError(401, "Invalid credentials in Authorization header")
        data = self._json()
        stored = self.fake.lfs.get(data.get("oid", ""))
        if stored is None or len(stored) != data.get("size"):
            raise HubError(404, "LFS object not found")
        self._reply({"success": True})

    def do_commit(self, query, repo: str, rev: str) -> None:
        repo_obj = self._repo(repo, write=True)
        branch = unquote(rev)
        if branch not in repo_obj.branches:
            raise HubError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
        lines = [json.loads(line) for line in self._body().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "the first line must be the header")
        header = lines[0]["value"]
        parent = header.get("parentCommit")
        if parent and parent != repo_obj.branches[branch]:
            raise HubError(412, "parentCommit is not the head of the branch")
        add: dict[str, bytes] = {}
        delete: list[str] = []
        for line in lines[1:]:
            key, value = line["key"], line["value"]
            path = value["path"]
            if path.startswith("/") or ".." in path.split("/"):
                raise HubError(400, f"invalid path {path!r}")
            if key == "file":
                add[path] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                data = self.fake.lfs.get(value["oid"])
                if data is None:
                    raise HubError(422, f"LFS object {value['oid']} was never uploaded")
                add[path] = data
            elif key == "deletedFile":
                delete.append(path)
            else:
                raise HubError(400, f"unsupported operation {key!r}")
        oid = self.fake._commit(repo_obj, branch, header.get("summary", ""), add, delete)
        repo_obj.api_commits.append(oid)
        self._reply(
            {
                "commitUrl": f"{self.fake.endpoint}/{repo}/commit/{oid}",
                "commitOid": oid,
                "pullRequestUrl": None,
                "success": True,
            }
        )

    def do_tag(self, query, repo: str, rev: str) -> None:
        repo_obj = self._repo(repo, write=True)
        commit = self._commit_of(repo_obj, rev)
        tag = self._json().get("tag")
        if not isinstance(tag, str) or not re.fullmatch(r"[\w.\-]+", tag):
            raise HubError(400, f"invalid tag {tag!r}")
        if tag in repo_obj.tags or tag in repo_obj.branches:
            raise HubError(409, f"Tag {tag} already exists")
        repo_obj.tags[tag] = commit.oid
        self._reply({"tag": tag, "oid": commit.oid})

    def do_branch(self, query, repo: str, branch: str) -> None:
        start = self._json().get("startingPoint") or "main"  # read the body before any error
        repo_obj = self._repo(repo, write=True)
        name = unquote(branch)
        if not re.fullmatch(r"[\w.\-]+", name):
            raise HubError(400, f"invalid branch name {name!r}")
        if name in repo_obj.branches or name in repo_obj.tags:
            raise HubError(409, f"Reference refs/heads/{name} already exists")
        repo_obj.branches[name] = self._commit_of(repo_obj, start).oid
        self._reply({"success": True})

    def do_info(self, query, repo: str, rev: str = "main") -> None:
        repo_obj = self._repo(repo)
        commit = self._commit_of(repo_obj, rev)
        self._reply(
            {
                "id": repo,
                "modelId": repo,
                "sha": commit.oid,
                "private": repo_obj.private,
                "tags": [],
                "downloads": 0,
                "likes": 0,
                "siblings": [{"rfilename": p} for p in sorted(commit.files)],
            }
        )

    def do_tree(self, query, repo: str, rev: str, path: str = "") -> None:
        commit = self._commit_of(self._repo(repo), rev)
        prefix = unquote(path).strip("/")
        recursive = query.get("recursive", ["false"])[0].lower() in {"true", "1"}
        entries, folders = [], set()
        for name in sorted(commit.files):
            if prefix and not name.startswith(prefix + "/"):
                continue
            rest = name[len(prefix) + 1 :] if prefix else name
            parts = rest.split("/")
            base = f"{prefix}/" if prefix else ""
            for depth in range(1, len(parts)):
                folders.add(base + "/".join(parts[:depth]))
            if len(parts) > 1 and not recursive:
                continue
            data = commit.files[name]
            entry = {"type": "file", "path": name, "size": len(data), "oid": git_hash(data)}
            if is_lfs(name, len(data)):
                entry["lfs"] = {
                    "oid": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            entries.append(entry)
        shown = (
            folders if recursive else {f for f in folders if "/" not in f[len(prefix) :].strip("/")}
        )
        entries += [{"type": "directory", "path": f, "oid": "0" * 40} for f in sorted(shown)]
        if prefix and not entries:
            raise HubError(404, f"{prefix} does not exist", "EntryNotFound")
        self._reply(entries)

    def do_resolve(self, query, repo: str, rev: str, path: str) -> None:
        commit = self._commit_of(self._repo(repo), rev)
        name = unquote(path)
        if name not in commit.files:
            raise HubError(404, f"Entry not found: {name}", "EntryNotFound")
        data = commit.files[name]
        headers = {
            "X-Repo-Commit": commit.oid,
            "ETag": f'"{git_hash(data)}"',
            "Accept-Ranges": "none",
            "__length": len(data),
        }
        if is_lfs(name, len(data)):
            headers["X-Linked-Etag"] = f'"{hashlib.sha256(data).hexdigest()}"'
            headers["X-Linked-Size"] = str(len(data))
        self._send(200, data, headers, "application/octet-stream")
