"""Other machines: the SSH connection pool, the one command runner, file transfer and remote sampling."""
