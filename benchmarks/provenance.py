"""Which code produced a result: the git commit of the repository, if there is one."""

import pathlib
import subprocess

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent


def code_version():
    """``"git <short hash>"`` (``" + uncommitted changes"`` when code is modified), or ``"unknown"``."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, check=True).stdout

    try:
        commit = git("rev-parse", "--short", "HEAD").strip()
        # Changes under results/ are outputs (a running benchmark rewrites them), not code.
        dirty = bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results").strip())
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"git {commit}" + (" + uncommitted changes" if dirty else "")
