"""Helpers shared by the CLI tests: counted checks, commands, the closing line."""
import subprocess

passed, failed, skipped = 0, 0, 0


def check(cond, msg, quiet=False):
    """Counts one check and prints "ok   msg" (not when quiet) or "FAIL msg"; returns cond."""
    global passed, failed
    if cond:
        passed += 1
        if not quiet:
            print("ok   " + msg)
    else:
        failed += 1
        print("FAIL " + msg)
    return cond


def skip(msg):
    """Counts a check that cannot run here."""
    global skipped
    skipped += 1
    print("SKIP " + msg)


def run(*cmd, text=True, **kw):
    """Runs cmd and captures its output (text unless text=False)."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, **kw)


def summary(show_skipped=False, need_passed=False):
    """Prints "N passed, N failed" (", N skipped" with show_skipped) and returns the exit
    status: 1 if a check failed, or with need_passed if none passed; else 0."""
    line = f"{passed} passed, {failed} failed"
    print(line + (f", {skipped} skipped" if show_skipped else ""))
    return 1 if failed or (need_passed and not passed) else 0
