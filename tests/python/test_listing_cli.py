"""`aws s3 ls --recursive` over a bucket the Rust test filled with EXPECT_KEYS keys."""
import os
import subprocess


def test_ls_recursive_sees_every_key(cli_env, endpoint):
    out = subprocess.run(
        ["aws", "--endpoint-url", endpoint, "s3", "ls", "--recursive", "s3://many"],
        env=cli_env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    keys = [line.split()[-1] for line in out.stdout.splitlines() if line.strip()]
    assert len(keys) == int(os.environ["EXPECT_KEYS"])
    assert len(set(keys)) == len(keys)
