"""`sandbox.git` (sync and async) of the official SDK against processd, with local remotes
only: bare repositories over `file://`, and `git http-backend` behind Basic auth on 127.0.0.1
for the credential cases (spec §4). Also the §8.6 faults we fix (status before the first commit,
HEAD left alone on refusals, delete of the current branch refused, divergent pull)."""

import asyncio
import os
import subprocess
import uuid

import pytest
from daytona import (
    DaytonaConflictError,
    DaytonaGitAuthFailedError,
    DaytonaGitBranchExistsError,
    DaytonaGitBranchNotFoundError,
    DaytonaGitDirtyWorktreeError,
    DaytonaGitPushRejectedError,
    DaytonaGitRepoNotFoundError,
)

from conftest import AsyncToolbox

ID = ["-c", "user.name=Seeder", "-c", "user.email=seed@example.com", "-c", "init.defaultBranch=main"]


def run_git(*args, cwd=None):
    return subprocess.run(
        ["git", *ID, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def make_remote(root, name="origin.git"):
    """A bare repo `<root>/<name>` with `main` (2 commits) and `develop` (1 more); returns
    (bare path, sha of main's first commit)."""
    bare = os.path.join(root, name)
    seed = os.path.join(root, f"seed-{uuid.uuid4().hex[:6]}")
    run_git("init", "-q", "--bare", bare)
    run_git("init", "-q", seed)
    for i in (1, 2):
        with open(os.path.join(seed, "README.md"), "a") as f:
            f.write(f"line {i}\n")
        run_git("add", "README.md", cwd=seed)
        run_git("commit", "-q", "-m", f"commit {i}", cwd=seed)
    first = run_git("rev-list", "--max-parents=0", "HEAD", cwd=seed)
    run_git("checkout", "-q", "-b", "develop", cwd=seed)
    with open(os.path.join(seed, "dev.txt"), "w") as f:
        f.write("dev\n")
    run_git("add", "dev.txt", cwd=seed)
    run_git("commit", "-q", "-m", "develop work", cwd=seed)
    run_git("push", "-q", bare, "main", "develop", cwd=seed)
    run_git("symbolic-ref", "HEAD", "refs/heads/main", cwd=bare)
    return bare, first


@pytest.fixture()
def remote(tmp_path):
    return make_remote(str(tmp_path))


@pytest.fixture()
def rel():
    return f"git-{uuid.uuid4().hex[:8]}"


def test_clone_branch_commit_and_status(git, remote, rel, workdir):
    bare, first = remote
    git.clone(f"file://{bare}", f"{rel}/repo")
    status = git.status(f"{rel}/repo")
    assert status.current_branch == "main"
    assert status.file_status == [] and status.branch_published
    assert status.ahead == 0 and status.behind == 0
    git.clone(f"file://{bare}", f"{rel}/dev", branch="develop")
    assert git.status(f"{rel}/dev").current_branch == "develop"
    assert os.path.isfile(os.path.join(workdir, rel, "dev", "dev.txt"))
    git.clone(f"file://{bare}", f"{rel}/old", commit_id=first)
    head = run_git("rev-parse", "HEAD", cwd=os.path.join(workdir, rel, "old"))
    assert head == first
    with pytest.raises(DaytonaConflictError):
        git.clone(f"file://{bare}", f"{rel}/repo")
    with pytest.raises(DaytonaGitRepoNotFoundError):
        git.status(f"{rel}/not-a-repo")


def test_add_commit_push_pull(git, remote, rel, workdir):
    bare, _ = remote
    git.clone(f"file://{bare}", f"{rel}/a")
    git.clone(f"file://{bare}", f"{rel}/b")
    a = os.path.join(workdir, rel, "a")
    os.makedirs(os.path.join(a, "src"))
    with open(os.path.join(a, "file.txt"), "w") as f:
        f.write("new\n")
    with open(os.path.join(a, "src", "main.py"), "w") as f:
        f.write("print(1)\n")
    status = git.status(f"{rel}/a")
    assert sorted(s.name for s in status.file_status) == ["file.txt", "src/main.py"]
    assert {s.worktree.value for s in status.file_status} == {"Untracked"}
    git.add(f"{rel}/a", ["file.txt", "src/main.py"])
    staged = git.status(f"{rel}/a").file_status
    assert {s.staging.value for s in staged} == {"Added"}
    commit = git.commit(f"{rel}/a", "Update docs", author="John", email="john@example.com")
    assert len(commit.sha) == 40
    log = run_git("log", "-1", "--format=%an <%ae> %s", cwd=a)
    assert log == "John <john@example.com> Update docs"
    assert git.status(f"{rel}/a").ahead == 1
    git.push(f"{rel}/a")
    assert git.status(f"{rel}/a").ahead == 0
    assert run_git("rev-parse", "main", cwd=bare) == commit.sha
    git.pull(f"{rel}/b")
    assert os.path.isfile(os.path.join(workdir, rel, "b", "src", "main.py"))
    # A push of a diverged branch is rejected with the typed error.
    with open(os.path.join(workdir, rel, "b", "README.md"), "a") as f:
        f.write("b\n")
    git.add(f"{rel}/b", ["."])
    git.commit(f"{rel}/b", "b side", author="B", email="b@example.com")
    with open(os.path.join(a, "README.md"), "a") as f:
        f.write("a\n")
    git.add(f"{rel}/a", ["README.md"])
    git.commit(f"{rel}/a", "a side", author="A", email="a@example.com")
    git.push(f"{rel}/a")
    with pytest.raises(DaytonaGitPushRejectedError):
        git.push(f"{rel}/b")
    # The divergent pull keeps the code callers catch (§8.6).
    with pytest.raises(DaytonaGitPushRejectedError):
        git.pull(f"{rel}/b")


def test_branches_create_checkout_delete(git, remote, rel, workdir):
    bare, _ = remote
    git.clone(f"file://{bare}", f"{rel}/repo")
    path = f"{rel}/repo"
    git.create_branch(path, "feature")
    assert git.status(path).current_branch == "feature"
    branches = git.branches(path)
    assert "feature" in branches.branches and "main" in branches.branches
    with pytest.raises(DaytonaGitBranchExistsError):
        git.create_branch(path, "feature")
    git.checkout_branch(path, "main")
    assert git.status(path).current_branch == "main"
    with pytest.raises(DaytonaGitBranchNotFoundError):
        git.checkout_branch(path, "no-such-branch")
    git.create_branch(path, "old-feature")
    # Deleting the checked-out branch is refused (§8.6; the original left HEAD unborn).
    with pytest.raises(DaytonaConflictError):
        git.delete_branch(path, "old-feature")
    git.checkout_branch(path, "main")
    git.delete_branch(path, "old-feature")
    assert "old-feature" not in git.branches(path).branches
    # A refused checkout leaves HEAD where it was (§8.6).
    repo = os.path.join(workdir, rel, "repo")
    git.checkout_branch(path, "feature")
    with open(os.path.join(repo, "README.md"), "a") as f:
        f.write("feature\n")
    git.add(path, ["README.md"])
    git.commit(path, "feature change", author="F", email="f@example.com")
    git.checkout_branch(path, "main")
    with open(os.path.join(repo, "README.md"), "a") as f:
        f.write("dirty\n")
    with pytest.raises(DaytonaGitDirtyWorktreeError):
        git.checkout_branch(path, "feature")
    assert git.status(path).current_branch == "main"


def test_status_right_after_init_reports_the_unborn_branch(git, rel):
    git.init(f"{rel}/new", initial_branch="trunk")
    status = git.status(f"{rel}/new")
    assert status.current_branch == "trunk" and status.file_status == []


def test_credentials_over_http_basic(git, git_http, rel, workdir):
    bare, _ = make_remote(git_http.root, f"{rel}.git")
    url = git_http.url(f"{rel}.git")
    with pytest.raises(DaytonaGitAuthFailedError) as info:
        git.clone(url, f"{rel}/anon")
    assert "s3cret" not in str(info.value)
    with pytest.raises(DaytonaGitAuthFailedError) as info:
        git.clone(url, f"{rel}/wrong", username="alice", password="wrong-pass")
    assert "wrong-pass" not in str(info.value)
    assert not os.path.exists(os.path.join(workdir, rel, "wrong"))
    git.clone(url, f"{rel}/repo", branch="develop", username="alice", password="s3cret pass")
    repo = os.path.join(workdir, rel, "repo")
    assert git.status(f"{rel}/repo").current_branch == "develop"
    # Credentials never land in the repository's config.
    with open(os.path.join(repo, ".git", "config")) as f:
        assert "s3cret" not in f.read()
    with open(os.path.join(repo, "pushed.txt"), "w") as f:
        f.write("over http\n")
    git.add(f"{rel}/repo", ["pushed.txt"])
    sha = git.commit(f"{rel}/repo", "push over http", author="Al", email="al@example.com").sha
    with pytest.raises(DaytonaGitAuthFailedError):
        git.push(f"{rel}/repo")
    git.push(f"{rel}/repo", username="alice", password="s3cret pass")
    assert run_git("rev-parse", "develop", cwd=bare) == sha
    git.pull(f"{rel}/repo", username="alice", password="s3cret pass")


def test_async_git_seed_calls(daemon_url, git_http, tmp_path, rel, workdir):
    bare, _ = make_remote(str(tmp_path))
    make_remote(git_http.root, f"{rel}.git")
    private = git_http.url(f"{rel}.git")

    async def main():
        async with AsyncToolbox(daemon_url) as tb:
            git = tb.git
            path = f"{rel}/repo"
            await git.clone(f"file://{bare}", path, branch="develop")
            await git.clone(private, f"{rel}/private", username="alice", password="s3cret pass")
            with pytest.raises(DaytonaGitAuthFailedError):
                await git.clone(private, f"{rel}/anon")
            with open(os.path.join(workdir, path, "file.txt"), "w") as f:
                f.write("x\n")
            await git.add(path, ["file.txt"])
            commit = await git.commit(path, "Update docs", author="John", email="john@example.com")
            assert len(commit.sha) == 40
            await git.push(path)
            assert run_git("rev-parse", "develop", cwd=bare) == commit.sha
            await git.pull(path)
            status = await git.status(path)
            assert status.current_branch == "develop" and status.ahead == 0 and status.behind == 0
            await git.create_branch(path, "feature")
            await git.checkout_branch(path, "develop")
            assert "feature" in (await git.branches(path)).branches
            await git.delete_branch(path, "feature")
            assert "feature" not in (await git.branches(path)).branches
            with pytest.raises(DaytonaGitBranchNotFoundError):
                await git.checkout_branch(path, "feature")

    asyncio.run(main())


def test_dangerously_authenticate_serves_later_push_and_pull(git, rel, workdir):
    """§9: the original's go-git ignored credentials stored with `dangerously_authenticate`.
    Our own server on its own port, so the stored credential (matched by host and port)
    cannot help the other tests' anonymous requests."""
    from git_server import GitHttpServer

    with GitHttpServer(user="bob", password="st0red pass") as server:
        bare, _ = make_remote(server.root, f"{rel}.git")
        url = server.url(f"{rel}.git")
        git.clone(url, f"{rel}/repo", username="bob", password="st0red pass")
        repo = os.path.join(workdir, rel, "repo")
        with open(os.path.join(repo, "stored.txt"), "w") as f:
            f.write("stored\n")
        git.add(f"{rel}/repo", ["stored.txt"])
        sha = git.commit(f"{rel}/repo", "with stored credentials", author="B", email="b@x").sha
        with pytest.raises(DaytonaGitAuthFailedError):
            git.push(f"{rel}/repo")
        git.dangerously_authenticate(
            "bob", "st0red pass", host=f"127.0.0.1:{server.port}", protocol="http"
        )
        git.push(f"{rel}/repo")
        assert run_git("rev-parse", "main", cwd=bare) == sha
        other = os.path.join(server.root, "other")
        run_git("clone", "-q", bare, other)
        with open(os.path.join(other, "theirs.txt"), "w") as f:
            f.write("theirs\n")
        run_git("add", "theirs.txt", cwd=other)
        run_git("commit", "-q", "-m", "theirs", cwd=other)
        run_git("push", "-q", "origin", "main", cwd=other)
        git.pull(f"{rel}/repo")
        assert os.path.exists(os.path.join(repo, "theirs.txt"))
