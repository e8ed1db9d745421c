"""智慧社区警务平台 — project package and the public admin-area tree (city → district → street)."""
