"""Privacy tooling of issue 17: subject-access archives and the retention report (docs/privacy.md)."""
