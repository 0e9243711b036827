"""Local stand-in for every upstream: recorded responses plus a generated 2024-25 season."""
